"""Invoices and receipts as PDF, the per-account detail of a consolidated bill as CSV, and the
signed links that e-mails carry instead of attachments when the payer chose links.

The PDFs are drawn with fpdf2 in the vendored DejaVu Sans (any customer name and every currency
symbol we sell in renders on any machine). The line table is drawn by hand rather than with
fpdf2's `table()`: a consolidated bill may have thousands of lines, and `table()` takes about
6 ms a row; drawing the text directly takes about 1 ms (3,000 lines in 3 seconds).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import groupby
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone
from django_countries import countries
from fpdf import FPDF

from backstop.billing.models import BillingProfile, Invoice, InvoiceLine, Plan, Unit
from backstop.billing.money import format_money, major, may_pay_by_bank_transfer
from backstop.notify.mailer import absolute
from backstop.web.csvexport import cell

# fontTools logs every glyph of every font it subsets at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

KINDS = ("invoice", "receipt", "csv")
LINK_SALT = "billing-document"
LINK_MAX_AGE = timedelta(days=90)

FONT_DIR = Path(__file__).parent / "fonts"
FONT = "DejaVu"

# Layout in millimetres on A4 (210 x 297).
MARGIN = 18.0
PAGE_W = 210.0
CONTENT_W = PAGE_W - 2 * MARGIN
BOTTOM = 20.0  # room for the footer
LINE_H = 4.0  # one line of table text
PAD_X = 1.6
PAD_Y = 1.4
BODY_PT = 8.5
GROUP_H = 7.5

INK = (31, 41, 51)
MUTED = (107, 119, 133)
RULE = (221, 227, 234)
SHADE = (244, 246, 248)
GOOD = ((236, 253, 243), (6, 118, 71))
BAD = ((254, 243, 242), (180, 35, 24))

_SINGULAR = {"user": "user", "mailbox": "mailbox", "site": "site", "group": "group", "drive": "shared drive"}
_METHODS: dict[str, str] = {
    BillingProfile.Method.CARD: "Credit card",
    BillingProfile.Method.INVOICE: "On invoice",
}


@dataclass(frozen=True, slots=True)
class Group:
    """A row that titles the rows after it: an account of a consolidated bill and its subtotal."""

    title: str
    detail: str
    amount: str


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    width: float
    right: bool = False  # numbers are right-aligned


# --- text helpers -----------------------------------------------------------------------------


def day(value: date | None) -> str:
    """The one date format of the documents and their e-mails: "Mar 05, 2026"."""
    return f"{value:%b %d, %Y}" if value else ""


def paid_on(invoice: Invoice) -> date | None:
    return timezone.localtime(invoice.paid_at).date() if invoice.paid_at else None


def quantity(value: Decimal, unit: str) -> str:
    """Decimal("12.00"), "user" → "12 users"; Decimal("1"), "user" → "1 user"."""
    text = f"{value:,.2f}"
    text = text.removesuffix(".00")
    label = _SINGULAR.get(unit, "") if value == 1 else ""
    if not label:
        label = Unit(unit).label if unit in Unit.values else unit
    return f"{text} {label}"


def percent(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def tax_label(invoice: Invoice) -> str:
    return f"{invoice.tax_name or 'Tax'} ({percent(Decimal(invoice.tax_percent))}%)"


def seller_lines() -> list[str]:
    return [line.strip() for line in str(settings.BACKSTOP_SELLER).splitlines() if line.strip()]


def bill_to_lines(invoice: Invoice) -> list[str]:
    """The address block from the billing details frozen on the invoice; any part may be
    missing (the payer's own name and e-mail stand in when there were no details at all)."""
    data = invoice.bill_to if isinstance(invoice.bill_to, dict) else {}

    def get(key: str) -> str:
        return " ".join(str(data.get(key) or "").split())

    name = " ".join(p for p in (get("title"), get("first_name"), get("last_name")) if p)
    region = " ".join(p for p in (get("state"), get("postal_code")) if p)
    lines = [get("company"), name, get("address1"), get("address2"), get("address3")]
    country = countries.name(get("country")) or get("country")  # the snapshot keeps the code
    lines += [", ".join(p for p in (get("city"), region) if p), country, get("email")]
    if get("tax_id"):
        lines.append(f"Tax ID: {get('tax_id')}")
    lines = [line for line in lines if line]
    if not lines:
        lines = [invoice.payer.name, invoice.payer.email]
    return lines


def _lines(invoice: Invoice) -> list[InvoiceLine]:
    return list(invoice.lines.all())


# --- the PDF canvas ---------------------------------------------------------------------------


class Document(FPDF):
    """A4 pages with the seller's name and the document's reference in every page's footer, and
    a short running head from the second page on."""

    def __init__(self, reference: str) -> None:
        super().__init__(format="A4")
        self.reference = reference
        self.seller = (seller_lines() or [""])[0]
        self.add_font(FONT, "", FONT_DIR / "DejaVuSans.ttf")
        self.add_font(FONT, "B", FONT_DIR / "DejaVuSans-Bold.ttf")
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=BOTTOM)
        self.set_title(reference)
        self.set_author(self.seller)
        self.set_creator("Backstop")
        self.set_draw_color(*RULE)
        self.set_text_color(*INK)
        self.set_line_width(0.2)
        self.add_page()

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.style(7.5, color=MUTED)
        self.text(MARGIN, 12, self.seller)
        self.text(PAGE_W - MARGIN - self.get_string_width(self.reference), 12, self.reference)
        self.set_y(MARGIN)

    def footer(self) -> None:
        self.style(7.5, color=MUTED)
        self.line(MARGIN, 297 - 14, PAGE_W - MARGIN, 297 - 14)
        self.set_xy(MARGIN, 297 - 13)
        self.cell(CONTENT_W / 2, 5, self.seller)
        self.cell(CONTENT_W / 2, 5, f"{self.reference} · Page {self.page_no()} of {{nb}}", align="R")

    def style(self, size: float, bold: bool = False, color: tuple[int, int, int] = INK) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        self.set_text_color(*color)

    def wrap(self, text: str, width: float) -> list[str]:
        """Greedy word wrap in the current font; a word wider than the column is cut."""
        text = " ".join(text.split())
        if self.get_string_width(text) <= width:
            return [text]
        lines: list[str] = []
        current = ""
        for word in text.split(" "):
            candidate = f"{current} {word}" if current else word
            if self.get_string_width(candidate) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            while self.get_string_width(word) > width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and self.get_string_width(word[:cut]) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        if current:
            lines.append(current)
        return lines

    def room(self, height: float) -> None:
        """A new page unless `height` more fits on this one."""
        if self.get_y() + height > self.page_break_trigger:
            self.add_page()

    def put(self, x: float, top: float, width: float, text: str, right: bool = False) -> None:
        """One line of text in a box of one line's height starting at `top`."""
        if right:
            x += width - self.get_string_width(text)
        self.text(x, top + LINE_H * 0.75, text)

    # --- blocks ---------------------------------------------------------------------------

    def head(self, title: str, subtitle: str) -> None:
        """The seller's block on the left, the document's title on the right, and a rule."""
        top = self.get_y()
        y = top
        for index, line in enumerate(seller_lines()):
            if index == 0:
                self.style(12, bold=True)
                for part in self.wrap(line, 100):
                    self.put(MARGIN, y, 100, part)
                    y += 6
                y += 0.5
            else:
                self.style(8.5, color=MUTED)
                for part in self.wrap(line, 100):
                    self.put(MARGIN, y, 100, part)
                    y += 4.2
        self.style(22, bold=True)
        self.put(PAGE_W - MARGIN - 70, top - 1, 70, title, right=True)
        self.style(9, color=MUTED)
        self.put(PAGE_W - MARGIN - 70, top + 9.5, 70, subtitle, right=True)
        y = max(y, top + 16) + 4
        self.line(MARGIN, y, PAGE_W - MARGIN, y)
        self.set_y(y + 6)

    def parties(self, bill_to: Sequence[str], facts: Sequence[tuple[str, str]]) -> None:
        """ "Bill to" on the left, the document's facts (number, dates, plan) on the right."""
        top = self.get_y()
        self.style(7.5, bold=True, color=MUTED)
        self.put(MARGIN, top, 90, "BILL TO")
        y = top + 5
        for index, line in enumerate(bill_to):
            self.style(9.5 if index == 0 else 9, bold=index == 0)
            for part in self.wrap(line, 88):
                self.put(MARGIN, y, 88, part)
                y += 4.6
        x, label_w, value_w = 112.0, 30.0, PAGE_W - MARGIN - 112.0 - 30.0
        right_y = top
        for label, value in facts:
            self.style(8.5, color=MUTED)
            self.put(x, right_y, label_w, label)
            self.style(8.5)
            for part in self.wrap(value, value_w):
                self.put(x + label_w, right_y, value_w, part)
                right_y += 4.6
        self.set_y(max(y, right_y) + 5)

    def banner(self, text: str, colors: tuple[tuple[int, int, int], tuple[int, int, int]]) -> None:
        fill, ink = colors
        self.style(9.5, bold=True, color=ink)
        y = self.get_y()
        self.set_fill_color(*fill)
        self.rect(MARGIN, y, CONTENT_W, 8.5, style="F")
        self.put(MARGIN + 3, y + 2.2, CONTENT_W - 6, text)
        self.set_y(y + 8.5 + 6)

    def grid(self, columns: Sequence[Column], rows: Iterable[Sequence[str] | Group]) -> None:
        """A table of wrapped cells whose heading repeats on every page it runs onto. A `Group`
        row (a consolidated bill's account) titles the rows after it: it is never the last row
        of a page, and a page that starts inside a group repeats its title."""
        self._heading(columns)
        group: Group | None = None
        for row in rows:
            if isinstance(row, Group):
                group = row
                self.room(self._group_layout(row)[3] + LINE_H + 2 * PAD_Y)  # with at least one of its rows
                if self.get_y() == self.t_margin:
                    self._heading(columns)
                self._group(row)
                continue
            self.style(BODY_PT)
            cells = [self.wrap(text, col.width - 2 * PAD_X) for col, text in zip(columns, row, strict=True)]
            height = max(len(lines) for lines in cells) * LINE_H + 2 * PAD_Y
            if self.get_y() + height > self.page_break_trigger:
                self.add_page()
                self._heading(columns)
                if group is not None:
                    self._group(Group(f"{group.title} (continued)", group.detail, ""))
                self.style(BODY_PT)
            top = self.get_y()
            x = MARGIN
            for col, lines in zip(columns, cells, strict=True):
                for index, line in enumerate(lines):
                    self.put(x + PAD_X, top + PAD_Y + index * LINE_H, col.width - 2 * PAD_X, line, col.right)
                x += col.width
            self.line(MARGIN, top + height, PAGE_W - MARGIN, top + height)
            self.set_y(top + height)

    def _group_layout(self, group: Group) -> tuple[list[str], list[str], float, float]:
        """(title lines, detail lines, x of the first detail line, height): the account's name
        wrapped (never cut), its e-mail after the name when it fits there, else below it."""
        self.style(BODY_PT, bold=True)
        amount_w = self.get_string_width(group.amount) + 2 * PAD_X
        width = CONTENT_W - amount_w - 2 * PAD_X
        title = self.wrap(group.title, width)
        after = self.get_string_width(title[-1]) + 3
        self.style(BODY_PT - 0.5)
        detail: list[str] = []
        detail_x = MARGIN + PAD_X + after
        if group.detail and self.get_string_width(group.detail) <= width - after:
            detail = [group.detail]
        elif group.detail:
            detail = self.wrap(group.detail, width)
            detail_x = MARGIN + PAD_X
        lines = len(title) + (len(detail) if detail_x == MARGIN + PAD_X else 0)
        return title, detail, detail_x, GROUP_H + (lines - 1) * LINE_H

    def _group(self, group: Group) -> None:
        title, detail, detail_x, height = self._group_layout(group)
        top = self.get_y()
        self.style(BODY_PT, bold=True)
        for index, line in enumerate(title):
            self.put(MARGIN + PAD_X, top + 1.8 + index * LINE_H, CONTENT_W, line)
        first = len(title) - 1 if detail_x != MARGIN + PAD_X else len(title)
        self.style(BODY_PT - 0.5, color=MUTED)
        for index, line in enumerate(detail, first):
            self.put(detail_x, top + 1.9 + index * LINE_H, CONTENT_W, line)
        self.style(BODY_PT, bold=True)  # drawn last, so that text extraction reads it last
        self.put(MARGIN, top + 1.8, CONTENT_W - PAD_X, group.amount, right=True)
        self.set_draw_color(*INK)
        self.line(MARGIN, top + height, PAGE_W - MARGIN, top + height)
        self.set_draw_color(*RULE)
        self.set_y(top + height)

    def _heading(self, columns: Sequence[Column]) -> None:
        self.style(BODY_PT, bold=True, color=MUTED)
        height = LINE_H + 2 * PAD_Y + 0.6
        top = self.get_y()
        self.set_fill_color(*SHADE)
        self.rect(MARGIN, top, CONTENT_W, height, style="F")
        x = MARGIN
        for col in columns:
            self.put(x + PAD_X, top + PAD_Y + 0.3, col.width - 2 * PAD_X, col.title, col.right)
            x += col.width
        self.set_y(top + height)

    def totals(self, rows: Sequence[tuple[str, str]], last_bold: bool = True) -> None:
        """Label and amount pairs under the table's right edge; the grand total last, in bold."""
        self.room(len(rows) * 6 + 6)
        y = self.get_y() + 3
        x, width = PAGE_W - MARGIN - 84, 84.0
        for index, (label, amount) in enumerate(rows):
            last = index == len(rows) - 1
            if last and last_bold:
                self.set_draw_color(*INK)
                self.line(x, y, x + width, y)
                self.set_draw_color(*RULE)
                y += 1.5
            self.style(10.5 if last and last_bold else 9, bold=last and last_bold)
            self.put(x + 2, y, 50, label)
            self.put(x + 52, y, width - 54, amount, right=True)
            y += 6 if last and last_bold else 5.2
        self.set_y(y + 4)

    def note(self, heading: str, text: str) -> None:
        """A boxed paragraph (the bank transfer details) that is never split across pages."""
        self.style(8.5)
        lines = [
            part for paragraph in text.splitlines() for part in self.wrap(paragraph, CONTENT_W - 8) or [""]
        ]
        height = 5 + len(lines) * 4.2 + 6
        self.room(height + 2)
        top = self.get_y()
        self.set_fill_color(*SHADE)
        self.rect(MARGIN, top, CONTENT_W, height, style="F")
        self.style(9, bold=True)
        self.put(MARGIN + 4, top + 3, CONTENT_W - 8, heading)
        self.style(8.5)
        y = top + 8.5
        for line in lines:
            self.put(MARGIN + 4, y, CONTENT_W - 8, line)
            y += 4.2
        self.set_y(top + height + 4)

    def render(self) -> bytes:
        return bytes(self.output())


# --- the documents ----------------------------------------------------------------------------


def _period(invoice: Invoice) -> str:
    return f"{day(invoice.effective_date)} \N{EN DASH} {day(invoice.period_end)}"


def _plan(invoice: Invoice) -> str:
    return Plan(invoice.plan).label if invoice.plan in Plan.values else invoice.plan


def _scope(invoice: Invoice, lines: list[InvoiceLine]) -> list[tuple[str, str]]:
    """Which accounts the bill covers."""
    if invoice.consolidated:
        count = len({(line.account_name, line.account_id) for line in lines})
        return [("Bill", f"Consolidated, {count} account{'s' if count != 1 else ''}")]
    if invoice.for_account_name:
        return [("Account", invoice.for_account_name)]
    return []


def _line_cells(line: InvoiceLine, code: str) -> list[str]:
    return [
        line.get_service_display(),
        line.description,
        quantity(line.quantity, line.unit),
        format_money(line.unit_price, code),
        format_money(line.amount, code),
    ]


def _by_account(lines: list[InvoiceLine], code: str) -> Iterator[Sequence[str] | Group]:
    """A consolidated bill's lines under a title row per account, with the account's subtotal.
    Two accounts of the same name stay apart (the account id is part of the key)."""
    lines = sorted(lines, key=lambda line: (line.account_name, line.account_id or 0, line.service, line.pk))
    for _key, group in groupby(lines, key=lambda line: (line.account_name, line.account_id)):
        rows = list(group)
        amount = format_money(sum(line.amount for line in rows), code)
        yield Group(rows[0].account_name, rows[0].account_email, amount)
        for line in rows:
            yield _line_cells(line, code)


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice: seller, bill-to, dates, the lines (paginated), the totals and how to pay."""
    lines = _lines(invoice)
    pdf = Document(f"Invoice {invoice.number}")
    pdf.head("Invoice", f"No. {invoice.number}")
    facts = [
        ("Invoice number", str(invoice.number)),
        ("Issue date", day(invoice.issue_date)),
        ("Due date", day(invoice.due_date)),
        ("Effective date", day(invoice.effective_date)),
        ("Period", _period(invoice)),
        ("Plan", _plan(invoice)),
        ("Payment", _METHODS.get(invoice.method, invoice.method)),
        *_scope(invoice, lines),
    ]
    purchase_order = str((invoice.bill_to or {}).get("purchase_order") or "").strip()
    if purchase_order:
        facts.append(("Purchase order", purchase_order))
    pdf.parties(bill_to_lines(invoice), facts)

    total = format_money(invoice.total, invoice.currency)
    state = invoice.state_on(timezone.localdate())
    if state == "paid":
        pdf.banner(f"PAID on {day(paid_on(invoice))} via {invoice.paid_via or 'payment'}", GOOD)
    elif state == "void":
        pdf.banner("VOID: this invoice was cancelled and is not to be paid.", (SHADE, MUTED))
    elif state == "overdue":
        pdf.banner(f"OVERDUE: {total} was due on {day(invoice.due_date)}", BAD)
    else:
        pdf.banner(f"Amount due: {total} by {day(invoice.due_date)}", (SHADE, INK))

    columns = [
        Column("Service", 38),
        Column("Description", 62),
        Column("Quantity", 30, right=True),
        Column("Unit price", 20, right=True),
        Column("Amount", 24, right=True),
    ]
    rows: Iterable[Sequence[str] | Group] = (_line_cells(line, invoice.currency) for line in lines)
    if invoice.consolidated:
        rows = _by_account(lines, invoice.currency)
    pdf.grid(columns, rows)
    pdf.totals(
        [
            ("Subtotal", format_money(invoice.subtotal, invoice.currency)),
            (tax_label(invoice), format_money(invoice.tax, invoice.currency)),
            (f"Total ({invoice.currency})", total),
        ]
    )
    if state not in ("paid", "void") and may_pay_by_bank_transfer(invoice.total, invoice.currency):
        pdf.note(
            "Payment by bank transfer",
            f"{settings.BACKSTOP_BANK_TRANSFER}\n"
            f"Please quote invoice number {invoice.number} as the payment reference.",
        )
    return pdf.render()


@dataclass
class _Sum:
    accounts: set[str] = field(default_factory=set)
    quantity: Decimal = Decimal(0)
    amount: int = 0


def receipt_pdf(invoice: Invoice) -> bytes:
    """The receipt of a paid invoice: what was paid, when and how, and a summary per service."""
    if invoice.status != Invoice.Status.PAID:
        raise ValueError(f"invoice {invoice.number} is not paid: no receipt")
    lines = _lines(invoice)
    pdf = Document(f"Receipt for invoice {invoice.number}")
    pdf.head("Receipt", f"For invoice {invoice.number}")
    total = format_money(invoice.total, invoice.currency)
    facts = [
        ("Invoice number", str(invoice.number)),
        ("Amount paid", total),
        ("Date paid", day(paid_on(invoice))),
        ("Payment method", invoice.paid_via or "-"),
        ("Issue date", day(invoice.issue_date)),
        ("Period", _period(invoice)),
        ("Plan", _plan(invoice)),
        *_scope(invoice, lines),
    ]
    pdf.parties(bill_to_lines(invoice), facts)
    pdf.banner(f"PAID on {day(paid_on(invoice))} via {invoice.paid_via or 'payment'}: {total}", GOOD)

    # One row per service (a consolidated bill's thousands of lines stay on the invoice).
    summary: dict[tuple[str, str], _Sum] = {}
    for line in lines:
        row = summary.setdefault((line.get_service_display(), line.unit), _Sum())
        row.accounts.add(line.account_name)
        row.quantity += line.quantity
        row.amount += line.amount
    columns = [
        Column("Service", 74),
        Column("Accounts", 30, right=True),
        Column("Quantity", 40, right=True),
        Column("Amount", 30, right=True),
    ]
    rows = (
        [
            service,
            str(len(row.accounts)),
            quantity(row.quantity, unit),
            format_money(row.amount, invoice.currency),
        ]
        for (service, unit), row in sorted(summary.items())
    )
    pdf.grid(columns, rows)
    pdf.totals(
        [
            ("Subtotal", format_money(invoice.subtotal, invoice.currency)),
            (tax_label(invoice), format_money(invoice.tax, invoice.currency)),
            (f"Total paid ({invoice.currency})", total),
        ]
    )
    return pdf.render()


CSV_HEADER = (
    "Reference",
    "Account",
    "Account e-mail",
    "Service",
    "Description",
    "Quantity",
    "Unit",
    "Unit price",
    "Days",
    "Amount",
    "Tax",
    "Total",
    "Currency",
)


def consolidated_csv(invoice: Invoice) -> bytes:
    """The bill's lines, one per account and service, in major units. Text that came from users
    (account names, e-mails, descriptions) goes through `cell`; numbers are written as they are
    (a credit's "-1.50" must stay a number)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    code = invoice.currency
    for line in _lines(invoice):
        writer.writerow(
            [
                invoice.number,
                cell(line.account_name),
                cell(line.account_email),
                cell(line.get_service_display()),
                cell(line.description),
                f"{line.quantity:f}",
                cell(Unit(line.unit).label if line.unit in Unit.values else line.unit),
                major(line.unit_price, code),
                line.days or line.period_days or "",
                major(line.amount, code),
                major(line.tax, code),
                major(line.amount + line.tax, code),
                code,
            ]
        )
    return out.getvalue().encode("utf-8")


# --- signed links -----------------------------------------------------------------------------


def link_token(invoice: Invoice, kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown document kind {kind!r}")
    return signing.dumps([invoice.number, kind], salt=LINK_SALT)


def read_token(token: str) -> tuple[int, str]:
    """(invoice number, kind) of a link made in the last 90 days; `signing.BadSignature` (of
    which SignatureExpired is one) for anything else."""
    value = signing.loads(token, salt=LINK_SALT, max_age=LINK_MAX_AGE)
    if not (isinstance(value, list) and len(value) == 2):
        raise signing.BadSignature("not a document token")
    number, kind = value
    if not isinstance(number, int) or kind not in KINDS:
        raise signing.BadSignature("not a document token")
    return number, kind


def document_link(invoice: Invoice, kind: str) -> str:
    """An absolute link to the invoice, receipt or CSV that works without signing in (the
    billing e-mail need not belong to a user) for 90 days."""
    return absolute(reverse("billing_document", args=[link_token(invoice, kind)]))
