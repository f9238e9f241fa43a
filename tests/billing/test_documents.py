"""Invoices and receipts as PDF (read back with pypdf), the consolidated bill's CSV, the signed
download links, and the billing e-mails that carry them, read from the outbox."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
from django.conf import LazySettings
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from backstop.billing import documents, notices
from backstop.billing.models import BillingProfile, Invoice, InvoiceLine
from backstop.billing.money import format_money, to_minor
from backstop.tenancy.models import Account, Partner
from tests.factories import AccountFactory, PartnerFactory
from tests.helpers import body_of, messages_to

pytestmark = pytest.mark.django_db

ISSUED = date(2026, 3, 1)
BILL_TO = {
    "title": "",
    "first_name": "Jörg",
    "last_name": "Müller",
    "email": "billing@mueller.test",
    "company": "Müller & Søn GmbH",
    "tax_id": "DE123456789",
    "address1": "Hauptstraße 5",
    "address2": "",
    "address3": "",
    "city": "Berlin",
    "state": "",
    "postal_code": "10115",
    "country": "DE",
    "phone": "+49 30 123456",
    "purchase_order": "PO-7781",
}


@pytest.fixture(autouse=True)
def _site(settings: LazySettings) -> None:
    settings.BACKSTOP_BASE_URL = "https://backstop.example.test"
    settings.BACKSTOP_SELLER = "Backstop Ltd.\n1 Harbour Street\nTel Aviv, Israel\nbilling@backstop.test"
    settings.BACKSTOP_BANK_TRANSFER = "Bank Leumi, IBAN IL62 0108 0000 0009 9999 999, SWIFT LUMIILIT"


def new_partner(**fields: Any) -> Partner:
    return cast(Partner, PartnerFactory(**fields))


def new_account(**fields: Any) -> Account:
    return cast(Account, AccountFactory(**fields))


def make_invoice(
    payer: Account | Partner,
    lines: list[tuple[str, str, str, str, int]],
    *,
    number: int = 10001,
    currency: str = "USD",
    tax_name: str = "VAT",
    tax_percent: str = "17",
    bill_to: dict[str, Any] | None = None,
    **fields: Any,
) -> Invoice:
    """An invoice with (account name, service, unit, quantity, unit price) lines, its totals the
    sums of the lines and the tax per line, as the billing cycle makes them."""
    rate = Decimal(tax_percent) / 100
    rows = []
    for name, service, unit, qty, price in lines:
        amount = to_minor(Decimal(qty) * price)
        rows.append((name, service, unit, Decimal(qty), price, amount, to_minor(amount * rate)))
    subtotal = sum(row[5] for row in rows)
    tax = sum(row[6] for row in rows)
    values: dict[str, Any] = {
        "number": number,
        "key": f"test:{number}",
        "plan": "monthly",
        "method": BillingProfile.Method.INVOICE,
        "issue_date": ISSUED,
        "due_date": ISSUED + timedelta(days=30),
        "effective_date": date(2026, 2, 1),
        "period_end": date(2026, 2, 28),
        "currency": currency,
        "subtotal": subtotal,
        "tax": tax,
        "total": subtotal + tax,
        "tax_name": tax_name,
        "tax_percent": Decimal(tax_percent),
        "bill_to": BILL_TO if bill_to is None else bill_to,
        **fields,
    }
    if isinstance(payer, Partner):
        values |= {"partner": payer, "consolidated": True}
    else:
        values |= {"account": payer, "for_account": payer, "for_account_name": payer.name}
    invoice = Invoice.objects.create(**values)
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            account_name=name,
            account_email=f"{re.sub(r'[^a-z0-9]', '', name.lower())[:20] or 'x'}@example.test",
            service=service,
            description=f"{service} protection, February 2026",
            unit=unit,
            quantity=qty,
            unit_price=price,
            starts_on=values["effective_date"],
            ends_on=values["period_end"],
            amount=amount,
            tax=line_tax,
        )
        for name, service, unit, qty, price, amount, line_tax in rows
    )
    return invoice


def pdf_pages(data: bytes) -> list[str]:
    assert data.startswith(b"%PDF-")
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def pdf_text(data: bytes) -> str:
    return "\n".join(pdf_pages(data))


@pytest.fixture
def account() -> Account:
    return new_account(name="Müller & Søn", email="it@mueller.test")


# --- the invoice PDF --------------------------------------------------------------------------


def test_invoice_shows_seller_bill_to_dates_lines_and_totals(account: Account) -> None:
    invoice = make_invoice(
        account,
        [
            ("Müller & Søn", "exchange", "mailbox", "25", 300),
            ("Müller & Søn", "sharepoint", "site", "1", 500),
        ],
    )
    text = pdf_text(documents.invoice_pdf(invoice))

    for expected in (
        "Backstop Ltd.",
        "1 Harbour Street",
        "BILL TO",
        "Müller & Søn GmbH",
        "Jörg Müller",
        "Hauptstraße 5",
        "Berlin, 10115",
        "Tax ID: DE123456789",
        "PO-7781",
        "Invoice 10001",
        "Issue date Mar 01, 2026",
        "Due date Mar 31, 2026",
        "Effective date Feb 01, 2026",
        "Period Feb 01, 2026 \N{EN DASH} Feb 28, 2026",
        "Monthly",
        "Microsoft Exchange",
        "25 mailboxes",
        "1 site",
        "$3.00",
        "$75.00",
        "$5.00",
        "Subtotal $80.00",
        "VAT (17%) $13.60",
        "Total (USD) $93.60",
        "OVERDUE: $93.60 was due on Mar 31, 2026",  # the test's dates are in the past
    ):
        assert expected in text, expected
    assert "bank transfer" not in text.lower()
    assert "PAID" not in text


def test_an_invoice_not_yet_due_shows_the_amount_due(account: Account) -> None:
    today = timezone.localdate()
    invoice = make_invoice(
        account,
        [("Müller & Søn", "exchange", "user", "2", 300)],
        issue_date=today,
        due_date=today + timedelta(days=30),
    )
    text = pdf_text(documents.invoice_pdf(invoice))
    assert f"Amount due: $7.02 by {documents.day(today + timedelta(days=30))}" in text
    assert "OVERDUE" not in text


@pytest.mark.parametrize(
    ("currency", "price", "note"),
    [("EUR", 94_999, False), ("EUR", 95_001, True), ("ILS", 370_000, False), ("ILS", 370_001, True)],
)
def test_bank_transfer_note_only_above_the_threshold(
    account: Account, currency: str, price: int, note: bool
) -> None:
    invoice = make_invoice(
        account, [("Müller & Søn", "exchange", "user", "1", price)], currency=currency, tax_percent="0"
    )
    text = pdf_text(documents.invoice_pdf(invoice))

    assert format_money(price, currency) in text  # "€950.01", "₪3,700.01": the symbols render
    assert ("IBAN IL62 0108" in text) is note
    assert ("quote invoice number 10001" in text) is note


def test_paid_invoice_says_when_and_how_and_drops_the_transfer_note(account: Account) -> None:
    invoice = make_invoice(
        account,
        [("Müller & Søn", "exchange", "user", "500", 300)],
        status=Invoice.Status.PAID,
        paid_at=timezone.make_aware(datetime(2026, 3, 5, 12, 0)),
        paid_via="Card ****4242",
    )
    text = pdf_text(documents.invoice_pdf(invoice))

    assert "PAID on Mar 05, 2026 via Card ****4242" in text
    assert "Amount due" not in text
    assert "IBAN" not in text


def test_a_600_line_consolidated_bill_paginates_with_its_heading_on_every_page() -> None:
    partner = new_partner(name="Northwind IT")
    services = [("exchange", "mailbox"), ("onedrive", "user"), ("sharepoint", "site")]
    lines = [
        (f"Customer {n:03d}", service, unit, str(n % 40 + 1), 250)
        for n in range(200)
        for service, unit in services
    ]
    invoice = make_invoice(
        partner, lines, bill_to={"company": "Northwind IT", "country": "GB"}, currency="GBP"
    )

    started = time.monotonic()
    pages = pdf_pages(documents.invoice_pdf(invoice))
    assert time.monotonic() - started < 20

    assert len(pages) >= 10
    for number, page in enumerate(pages, 1):
        assert f"Page {number} of {len(pages)}" in page
        assert "Service Description Quantity Unit price Amount" in page  # the heading repeats
    text = "\n".join(pages)
    assert text.count("protection, February 2026") == 600  # no line lost at a page break
    # An account's title row with its subtotal ("Customer 007 customer007@example.test £20.00"),
    # repeated as "(continued)" when its lines run onto the next page.
    titles = re.findall(r"^Customer (\d{3}) customer\d{3}@example\.test (£[\d,.]+)$", text, re.MULTILINE)
    assert [int(n) for n, _amount in titles] == list(range(200))
    assert titles[7][1] == format_money(3 * 8 * 250, "GBP")
    continued = re.findall(r"^Customer \d{3} \(continued\)", text, re.MULTILINE)
    assert len(continued) <= len(pages) - 1
    for page in pages[1:]:
        first_row = page.split("Unit price Amount\n", 1)[1].splitlines()[0]
        assert first_row.startswith("Customer")  # a page never starts without its account
    assert "Customer 199" in pages[-1]
    assert f"Total (GBP) {format_money(invoice.total, 'GBP')}" in pages[-1]
    assert "Consolidated, 200 accounts" in pages[0]
    assert "Northwind IT" in pages[0]


def test_long_and_hostile_names_wrap_instead_of_overflowing(account: Account) -> None:
    name = "Ä" * 80 + " Very Long Company Name With Many Words " * 3  # 200 characters, the most a name has
    assert len(name) <= 200
    invoice = make_invoice(new_partner(), [(name, "exchange", "user", "3", 100)], bill_to={})

    text = pdf_text(documents.invoice_pdf(invoice))
    assert "ÄÄÄÄ" in text
    assert "Total (USD)" in text
    assert invoice.payer.name in text  # no billing details frozen: the payer's own name


# --- the receipt ------------------------------------------------------------------------------


def test_receipt_shows_amount_date_and_method_with_a_summary_per_service() -> None:
    partner = new_partner()
    lines = [(f"Customer {n}", "exchange", "mailbox", "10", 200) for n in range(30)]
    lines += [("Customer 1", "imap", "mailbox", "2", 100)]
    invoice = make_invoice(
        partner,
        lines,
        status=Invoice.Status.PAID,
        paid_at=timezone.make_aware(datetime(2026, 3, 2, 9, 0)),
        paid_via="Card ****4242",
    )
    pages = pdf_pages(documents.receipt_pdf(invoice))

    text = "\n".join(pages)
    assert len(pages) == 1
    assert "Receipt" in text
    assert "For invoice 10001" in text
    assert "Date paid Mar 02, 2026" in text
    assert "Payment method Card ****4242" in text
    assert f"Amount paid {format_money(invoice.total)}" in text
    assert "Microsoft Exchange 30 300 mailboxes $600.00" in text
    assert f"Total paid (USD) {format_money(invoice.total)}" in text


def test_no_receipt_for_an_unpaid_invoice(account: Account) -> None:
    invoice = make_invoice(account, [("Müller & Søn", "exchange", "user", "1", 100)])
    with pytest.raises(ValueError, match="not paid"):
        documents.receipt_pdf(invoice)


# --- the CSV ----------------------------------------------------------------------------------


def test_csv_has_a_row_per_line_in_major_units_with_user_text_neutralised() -> None:
    hostile = '=HYPERLINK("https://evil.test","click")'
    invoice = make_invoice(
        new_partner(),
        [("Søren Ås", "exchange", "mailbox", "12", 350), (hostile, "onedrive", "user", "3", 199)],
        currency="EUR",
    )
    InvoiceLine.objects.filter(invoice=invoice, account_name="Søren Ås").update(days=14, period_days=28)

    rows = list(csv.DictReader(io.StringIO(documents.consolidated_csv(invoice).decode("utf-8"))))

    assert list(rows[0]) == list(documents.CSV_HEADER)
    by_name = {row["Account"]: row for row in rows}
    assert set(by_name) == {"Søren Ås", "'" + hostile}
    søren = by_name["Søren Ås"]
    assert søren["Reference"] == "10001"
    assert søren["Service"] == "Microsoft Exchange"
    assert (søren["Quantity"], søren["Unit"], søren["Unit price"]) == ("12.00", "mailboxes", "3.50")
    assert (søren["Days"], søren["Amount"], søren["Tax"], søren["Total"]) == ("14", "42.00", "7.14", "49.14")
    assert søren["Currency"] == "EUR"
    assert by_name["'" + hostile]["Amount"] == "5.97"


def test_csv_keeps_a_credit_a_number() -> None:
    invoice = make_invoice(new_partner(), [("Acme", "exchange", "user", "1", 100)], tax_percent="0")
    InvoiceLine.objects.filter(invoice=invoice).update(amount=-150)

    (row,) = csv.DictReader(io.StringIO(documents.consolidated_csv(invoice).decode()))
    assert row["Amount"] == "-1.50"


# --- signed links -----------------------------------------------------------------------------


def path_of(url: str) -> str:
    assert url.startswith("https://backstop.example.test/billing/documents/")
    return urlsplit(url).path


def test_signed_links_download_without_signing_in(client: Client, account: Account) -> None:
    invoice = make_invoice(
        account,
        [("Müller & Søn", "exchange", "user", "1", 100)],
        status=Invoice.Status.PAID,
        paid_via="Payment link",
        paid_at=timezone.make_aware(datetime(2026, 3, 3)),
    )

    response = client.get(path_of(documents.document_link(invoice, "invoice")))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="invoice-10001.pdf"'
    assert "no-store" in response["Cache-Control"]
    assert "Invoice 10001" in pdf_text(response.content)

    response = client.get(path_of(documents.document_link(invoice, "receipt")))
    assert response["Content-Disposition"] == 'attachment; filename="receipt-10001.pdf"'
    assert "PAID on Mar 03, 2026 via Payment link" in pdf_text(response.content)

    response = client.get(path_of(documents.document_link(invoice, "csv")))
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="bill-10001.csv"'
    assert response.content.startswith(b"Reference,Account")


def test_bad_links_are_404(client: Client, account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    invoice = make_invoice(account, [("Müller & Søn", "exchange", "user", "1", 100)])
    url = path_of(documents.document_link(invoice, "invoice"))
    token = url.split("/")[-2]

    def get(token: str) -> int:
        return client.get(reverse("billing_document", args=[token])).status_code

    assert get(token) == 200
    assert get(token[:-1] + ("A" if token[-1] != "A" else "B")) == 404  # tampered signature
    assert get(signing.dumps([10001, "receipt"], salt="another-salt")) == 404
    assert get(signing.dumps([10001, "statement"], salt=documents.LINK_SALT)) == 404  # no such kind
    assert get(signing.dumps([99999, "invoice"], salt=documents.LINK_SALT)) == 404  # no such invoice
    assert get(documents.link_token(invoice, "receipt")) == 404  # not paid: no receipt
    assert client.post(url).status_code == 405

    real_time = time.time
    monkeypatch.setattr("django.core.signing.time.time", lambda: real_time() + 89 * 86400)
    assert get(token) == 200
    monkeypatch.setattr("django.core.signing.time.time", lambda: real_time() + 91 * 86400)
    assert get(token) == 404  # expired


# --- the e-mails ------------------------------------------------------------------------------


def attachments(message: Any) -> dict[str, tuple[str, bytes]]:
    return {
        part.get_filename(): (part.get_content_type(), part.get_content())
        for part in message.iter_attachments()
    }


def test_invoice_email_attaches_the_pdf_and_the_csv_of_a_consolidated_bill(outbox: Path) -> None:
    partner = new_partner(name="Northwind IT")
    BillingProfile.objects.create(
        partner=partner,
        email="ap@northwind.test",
        first_name="Nora",
        last_name="North",
        delivery="attachment",
    )
    invoice = make_invoice(
        partner, [("Acme", "exchange", "user", "5", 300), ("Globex", "imap", "mailbox", "2", 100)]
    )

    assert notices.invoice_issued(invoice, pay_url="https://backstop.example.test/billing/pay/xyz/") == 1

    (message,) = messages_to(outbox, "ap@northwind.test")
    assert "Invoice 10001" in message["Subject"]
    files = attachments(message)
    assert set(files) == {"invoice-10001.pdf", "bill-10001.csv"}
    assert files["invoice-10001.pdf"][0] == "application/pdf"
    assert "Invoice 10001" in pdf_text(files["invoice-10001.pdf"][1])
    body = body_of(message)
    assert "Hello Nora North" in body
    assert format_money(invoice.total) in body
    assert "https://backstop.example.test/billing/pay/xyz/" in body
    assert "attached" in body
    assert "/billing/documents/" not in body
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "https://backstop.example.test/billing/pay/xyz/" in html.get_content()


def test_invoice_email_by_link_has_no_attachment_and_the_link_works(outbox: Path, client: Client) -> None:
    partner = new_partner(name="Northwind IT")
    BillingProfile.objects.create(partner=partner, email="ap@northwind.test", delivery="link")
    invoice = make_invoice(partner, [("Acme", "exchange", "user", "5", 300_00)])

    notices.invoice_issued(invoice)

    (message,) = messages_to(outbox, "ap@northwind.test")
    assert attachments(message) == {}
    body = body_of(message)
    links = re.findall(r"https://backstop\.example\.test/billing/documents/\S+", body)
    assert len(links) == 2  # the PDF and the CSV
    pdf = client.get(urlsplit(links[0]).path)
    assert pdf["Content-Disposition"] == 'attachment; filename="invoice-10001.pdf"'
    assert (
        client.get(urlsplit(links[1]).path)["Content-Disposition"] == 'attachment; filename="bill-10001.csv"'
    )
    assert "bank transfer" in body  # $1,755.00 is over the threshold


def test_receipt_and_failed_charge_emails(outbox: Path, account: Account) -> None:
    BillingProfile.objects.create(
        account=account, email="ap@mueller.test", first_name="Jörg", delivery="attachment"
    )
    invoice = make_invoice(
        account,
        [("Müller & Søn", "exchange", "user", "5", 300)],
        status=Invoice.Status.PAID,
        paid_at=timezone.make_aware(datetime(2026, 3, 2, 9, 0)),
        paid_via="Card ****4242",
    )
    notices.receipt(invoice)
    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.OPEN, failure_message="Card declined")
    invoice.refresh_from_db()
    notices.charge_failed(invoice)

    receipt, failed = messages_to(outbox, "ap@mueller.test")
    assert set(attachments(receipt)) == {"receipt-10001.pdf"}
    assert "Card ****4242" in body_of(receipt)
    assert "Receipt for invoice 10001" in pdf_text(attachments(receipt)["receipt-10001.pdf"][1])
    assert attachments(failed) == {}
    assert "Card declined" in body_of(failed)
    assert format_money(invoice.total) in body_of(failed)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("expiring", "ends on Mar 15, 2026"),
        ("expired", "kept until Mar 22, 2026, then deleted"),
        ("purge_soon", "deleted on Mar 22, 2026"),
        ("purged", "backup tasks have been deleted"),
    ],
)
def test_trial_emails_go_to_the_account_and_its_partner(outbox: Path, kind: str, expected: str) -> None:
    partner = new_partner(name="Northwind IT", email="ops@northwind.test")
    account = new_account(name="Acme", email="it@acme.test", partner=partner)
    context = {
        "trial_ends_on": date(2026, 3, 15),
        "purge_on": date(2026, 3, 22),
        "subscribe_url": "https://backstop.example.test/a/1/billing/subscribe/",
    }

    assert notices.trial_notice(account, kind, context) == 2

    for address in ("it@acme.test", "ops@northwind.test"):
        (message,) = messages_to(outbox, address)
        body = body_of(message)
        assert "Acme" in body
        assert expected in body
        assert "https://backstop.example.test/a/1/billing/subscribe/" in body
        html = message.get_body(preferencelist=("html",))
        assert html is not None and expected in re.sub(r"<[^>]+>", "", html.get_content())
