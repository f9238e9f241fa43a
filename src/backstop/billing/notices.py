"""E-mails about money and trials, to the payer's billing e-mail (and the account's address when
no billing e-mail is set). Invoices and receipts come attached or as a signed link, as the payer
chose in the billing details."""

from __future__ import annotations

import logging
from typing import Any

from backstop.billing import documents
from backstop.billing.models import BillingProfile, Invoice
from backstop.billing.money import format_money, may_pay_by_bank_transfer
from backstop.notify import mailer
from backstop.tenancy.models import Account, Partner

log = logging.getLogger(__name__)


def _recipients(payer: Account | Partner) -> list[tuple[str, str]]:
    profile = BillingProfile.objects.filter(
        **({"account": payer} if isinstance(payer, Account) else {"partner": payer})
    ).first()
    if profile is not None and profile.email:
        name = f"{profile.first_name} {profile.last_name}".strip()
        return [(profile.email, name)]
    return [(payer.email, payer.name)]


def _delivery(payer: Account | Partner) -> str:
    owner: dict[str, Any] = {"account": payer} if isinstance(payer, Account) else {"partner": payer}
    profile = BillingProfile.objects.filter(**owner).first()
    return profile.delivery if profile is not None else BillingProfile.Delivery.ATTACHMENT


def _invoice_context(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice": invoice,
        "total": format_money(invoice.total, invoice.currency),
        "payer": invoice.payer,
        "bank_transfer": may_pay_by_bank_transfer(invoice.total, invoice.currency),
    }


def _send_document(invoice: Invoice, kind: str, subject: str, template: str, **extra: Any) -> int:
    context = {**_invoice_context(invoice), **extra}
    attachments: list[tuple[str, Any, str]] = []
    if _delivery(invoice.payer) == BillingProfile.Delivery.LINK:
        context["document_url"] = documents.document_link(invoice, kind)
        if invoice.consolidated:
            context["csv_url"] = documents.document_link(invoice, "csv")
    else:
        pdf = documents.receipt_pdf(invoice) if kind == "receipt" else documents.invoice_pdf(invoice)
        attachments.append((f"{kind}-{invoice.number}.pdf", pdf, "application/pdf"))
        if invoice.consolidated:
            attachments.append(
                (f"bill-{invoice.number}.csv", documents.consolidated_csv(invoice), "text/csv")
            )
    try:
        return mailer.send(_recipients(invoice.payer), subject, template, context, attachments)
    except Exception:
        log.exception("invoice %s: the %s e-mail could not be sent", invoice.number, kind)
        return 0


def queue(invoice: Invoice, kind: str) -> None:
    """Notes an e-mail about the invoice for the worker (`flush`): "invoice", "receipt" or
    "charge_failed"."""
    invoice.mail_queue = [*invoice.mail_queue, kind]
    invoice.mail_pending = True
    Invoice.objects.filter(pk=invoice.pk).update(mail_queue=invoice.mail_queue, mail_pending=True)


def flush(limit: int = 200) -> int:
    """Sends the queued invoice e-mails (the worker, every minute). Each invoice's queue is taken
    under a lock first, so two workers never send the same e-mail twice."""
    from django.db import transaction
    from django.utils import timezone

    from backstop.billing.pay_views import pay_link

    sent = 0
    for pk in Invoice.objects.filter(mail_pending=True).values_list("pk", flat=True)[:limit]:
        with transaction.atomic():
            invoice = Invoice.objects.select_for_update().filter(pk=pk, mail_pending=True).first()
            if invoice is None:
                continue
            kinds = list(invoice.mail_queue)
            Invoice.objects.filter(pk=pk).update(mail_queue=[], mail_pending=False)
        for kind in kinds:
            if kind == "invoice":
                sent += invoice_issued(invoice, pay_link(invoice))
                Invoice.objects.filter(pk=pk).update(emailed_at=timezone.now())
            elif kind == "receipt":
                sent += receipt(invoice)
            elif kind == "charge_failed":
                sent += charge_failed(invoice)
    return sent


def invoice_issued(invoice: Invoice, pay_url: str = "") -> int:
    """A new invoice to pay (not sent for card charges that succeed: the receipt follows)."""
    total = format_money(invoice.total, invoice.currency)
    subject = f"Invoice {invoice.number}: {total} due {invoice.due_date:%b %d, %Y}"
    return _send_document(invoice, "invoice", subject, "billing/email/invoice", pay_url=pay_url)


def receipt(invoice: Invoice) -> int:
    subject = f"Receipt for invoice {invoice.number}: {format_money(invoice.total, invoice.currency)} paid"
    return _send_document(invoice, "receipt", subject, "billing/email/receipt")


def charge_failed(invoice: Invoice) -> int:
    subject = "Payment failed: we could not charge your card"
    context = {**_invoice_context(invoice), "reason": invoice.failure_message}
    try:
        return mailer.send(_recipients(invoice.payer), subject, "billing/email/charge_failed", context)
    except Exception:
        log.exception("invoice %s: the failed-charge e-mail could not be sent", invoice.number)
        return 0


def trial_notice(account: Account, kind: str, context: dict[str, Any]) -> int:
    """ "expiring", "expired" or "purge_soon" about one account's trial, to the account (and its
    partner when it has one)."""
    subjects = {
        "expiring": "Your free trial ends soon",
        "expired": "Your free trial has ended: subscribe to keep your backups",
        "purge_soon": "Your backups will be deleted soon",
        "purged": "Your backups were deleted after the trial",
    }
    recipients = [(account.email, account.name)]
    if account.partner is not None:
        recipients += _recipients(account.partner)
    try:
        return mailer.send(
            recipients, subjects[kind], f"billing/email/trial_{kind}", {"account": account, **context}
        )
    except Exception:
        log.exception("account %s: the trial %s e-mail could not be sent", account.pk, kind)
        return 0
