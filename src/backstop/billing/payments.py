"""Cards and payments: what the pages, the daily run and the webhooks call.

Every change here is recorded by the caller in the Security Audit (views) or by `cycle` (the
daily run); the functions only change rows and talk to the gateway.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backstop.audit import events
from backstop.audit.models import AuditEvent
from backstop.billing import notices
from backstop.billing.gateways import gateway
from backstop.billing.gateways.base import CardInfo, GatewayError, WebhookEvent
from backstop.billing.models import BillingProfile, Card, Invoice, Payment
from backstop.billing.money import format_money
from backstop.billing.signals import bill_changed
from backstop.tenancy.models import Account, Partner

log = logging.getLogger(__name__)

Payer = Account | Partner


def _owner(payer: Payer) -> dict[str, Any]:
    return {"account": payer} if isinstance(payer, Account) else {"partner": payer}


def profile_of(payer: Payer) -> BillingProfile:
    """The payer's billing profile, created empty on first use."""
    profile, _ = BillingProfile.objects.get_or_create(**_owner(payer))
    return profile


def cards_of(payer: Payer) -> list[Card]:
    return list(Card.objects.filter(**_owner(payer)))


def default_card(payer: Payer) -> Card | None:
    return Card.objects.filter(**_owner(payer), is_default=True).first()


def add_card(payer: Payer, browser_token: str) -> Card:
    """Keeps the card the browser tokenised with the gateway, and makes it the default (the guide:
    "the new card is saved and activated"). GatewayError when the gateway refuses it."""
    gw = gateway()
    profile = profile_of(payer)
    customer = gw.ensure_customer(str(payer), profile.email or payer.email, profile.gateway_customer)
    if customer != profile.gateway_customer:
        BillingProfile.objects.filter(pk=profile.pk).update(gateway_customer=customer)
        profile.gateway_customer = customer
    info = gw.attach_card(customer, browser_token)
    with transaction.atomic():
        Card.objects.filter(**_owner(payer), is_default=True).update(is_default=False)
        card = new_card(payer, gw.name, info)
        card.save()
    return card


def new_card(payer: Payer, gateway_name: str, info: CardInfo) -> Card:
    """The default card (unsaved) for what the gateway said of the card it attached."""
    return Card(
        **_owner(payer),
        gateway=gateway_name,
        token=info.token,
        brand=info.brand,
        last4=info.last4,
        exp_month=info.exp_month,
        exp_year=info.exp_year,
        holder=info.holder,
        is_default=True,
    )


def activate_card(payer: Payer, card_id: int) -> Card:
    """Makes one of the payer's cards the one charged (Card.DoesNotExist for anyone else's)."""
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=card_id, **_owner(payer))
        Card.objects.filter(**_owner(payer), is_default=True).update(is_default=False)
        card.is_default = True
        card.save(update_fields=["is_default"])
    return card


def delete_card(payer: Payer, card_id: int) -> Card:
    """Forgets one of the payer's cards, at the gateway too; the newest other card becomes default."""
    card = Card.objects.get(pk=card_id, **_owner(payer))
    try:
        gateway().detach_card(profile_of(payer).gateway_customer, card.token)
    except GatewayError:
        log.warning("card %s could not be detached at the gateway; forgotten here anyway", card.pk)
    with transaction.atomic():
        card.delete()
        if card.is_default:
            successor = Card.objects.filter(**_owner(payer)).order_by("-created_at").first()
            if successor is not None:
                successor.is_default = True
                successor.save(update_fields=["is_default"])
    return card


def charge(invoice: Invoice, card: Card | None = None, now: datetime | None = None) -> Payment:
    """Charges an open invoice to `card` (the payer's default card when None).

    Success marks the invoice paid and e-mails the receipt; a decline marks the charge failed
    (the invoice is Overdue), and e-mails the payer once per failure."""
    now = now or timezone.now()
    card = card or default_card(invoice.payer)
    if card is None:
        return _failed(invoice, None, "No card to charge: add a card in Payment details.", now)
    gw = gateway()
    payment = Payment.objects.create(
        invoice=invoice, card=card, gateway=gw.name, amount=invoice.total, currency=invoice.currency
    )
    key = f"invoice-{invoice.number}-payment-{payment.pk}"
    try:
        result = gw.charge(
            profile_of(invoice.payer).gateway_customer,
            card.token,
            invoice.total,
            invoice.currency,
            f"Backstop invoice {invoice.number}",
            key,
        )
    except GatewayError as exc:
        return _failed(invoice, payment, str(exc), now)
    payment.reference = result.reference
    if result.pending:
        payment.save(update_fields=["reference"])
        return payment
    if not result.succeeded:
        return _failed(invoice, payment, result.message or "The card was declined.", now)
    payment.status = Payment.Status.SUCCEEDED
    payment.save(update_fields=["reference", "status"])
    mark_paid(invoice, f"{card.brand or 'Card'} ****{card.last4}", now)
    return payment


def charge_not_made(invoice: Invoice, message: str) -> Payment:
    """A card bill whose charge could not even be tried (an error of ours or the gateway's):
    recorded like a decline, so the payer hears of it and the retry picks it up."""
    return _failed(invoice, None, message, timezone.now())


def _failed(invoice: Invoice, payment: Payment | None, message: str, now: datetime) -> Payment:
    if payment is None:
        payment = Payment.objects.create(
            invoice=invoice, gateway=gateway().name, amount=invoice.total, currency=invoice.currency
        )
    payment.status = Payment.Status.FAILED
    payment.message = message[:300]
    payment.save(update_fields=["status", "message", "reference"])
    if invoice.method != BillingProfile.Method.CARD:
        # A bill paid by invoice stays Due for its 30 days: a card the payer tried on the Pay
        # Invoice page and that was declined is reported there, not turned into an overdue bill.
        return payment
    first_failure = invoice.charge_failed_at is None
    invoice.charge_failed_at = now
    invoice.failure_message = message[:300]
    invoice.save(update_fields=["charge_failed_at", "failure_message"])
    bill_changed.send_robust(Invoice, invoice=invoice)
    if first_failure:
        notices.queue(invoice, "charge_failed")
    return payment


def mark_paid(invoice: Invoice, via: str, now: datetime | None = None) -> bool:
    """Settles an open invoice (once: a second webhook for the same payment changes nothing) and
    e-mails the receipt. Returns False when it was not open."""
    now = now or timezone.now()
    updated = Invoice.objects.filter(pk=invoice.pk, status=Invoice.Status.OPEN).update(
        status=Invoice.Status.PAID, paid_at=now, paid_via=via[:60], charge_failed_at=None, failure_message=""
    )
    if not updated:
        return False
    invoice.refresh_from_db()
    bill_changed.send_robust(Invoice, invoice=invoice)
    notices.queue(invoice, "receipt")
    return True


def payment_link(invoice: Invoice, return_url: str) -> str:
    """A hosted payment page for an open invoice (the PayPal-style link in e-mails and Pay Invoice).
    No Payment row yet: the gateway's event names the invoice, and `apply_event` records it."""
    stamp = int(timezone.now().timestamp())
    return gateway().payment_link(
        invoice.total,
        invoice.currency,
        f"Backstop invoice {invoice.number}",
        f"invoice-{invoice.number}-link-{stamp}",
        return_url,
    )


def apply_event(event: WebhookEvent, gateway_name: str) -> Invoice | None:
    """A payment outcome the gateway reported (webhook or status sync) settles or fails the invoice
    it belongs to. Unknown references are ignored (another system's payments)."""
    if event.kind == "ignored":
        return None
    payment = (
        Payment.objects.filter(gateway=gateway_name, reference=event.reference)
        .select_related("invoice")
        .first()
    )
    if payment is None and event.invoice_number is not None:
        invoice = Invoice.objects.filter(number=event.invoice_number).first()
        if invoice is None:
            return None
        payment = Payment.objects.create(
            invoice=invoice,
            gateway=gateway_name,
            amount=invoice.total,
            currency=invoice.currency,
            reference=event.reference,
        )
    if payment is None:
        return None
    invoice = payment.invoice
    if event.kind == "payment_succeeded":
        Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.SUCCEEDED)
        payment.status = Payment.Status.SUCCEEDED
        card = payment.card
        if mark_paid(invoice, f"{card.brand or 'Card'} ****{card.last4}" if card else "Payment link"):
            audit(invoice, payment, f"reported by {gateway_name}")
    elif event.kind == "payment_failed" and invoice.status == Invoice.Status.OPEN:
        audit(invoice, _failed(invoice, payment, event.message or "The payment failed.", timezone.now()), "")
    return invoice


def audit(invoice: Invoice, payment: Payment, how: str) -> None:
    """The Security Audit event of a payment no person made on a page: the payment-day charge,
    a retry with a new card, a gateway's report. (Pages audit their own, with who and where.)"""
    amount = format_money(invoice.total, invoice.currency)
    card = f" with card ****{payment.card.last4}" if payment.card else ""
    how = f", {how}" if how else ""
    status = AuditEvent.Status.SUCCEEDED
    if payment.status == Payment.Status.SUCCEEDED:
        text = f"Invoice {invoice.number} paid{card}: {amount}{how}"
    elif payment.status == Payment.Status.PENDING:
        text = f"Invoice {invoice.number}: payment of {amount}{card} sent, awaiting confirmation{how}"
    else:
        status = AuditEvent.Status.FAILED
        text = f"Invoice {invoice.number}: payment of {amount}{card} failed ({payment.message}){how}"
    events.billing_changed(None, invoice.payer, text, status=status)


def sync_pending() -> int:
    """The scheduled status update: asks the gateway about charges still pending. Returns how many
    changed."""
    changed = 0
    pending = Payment.objects.filter(
        status=Payment.Status.PENDING,
        gateway=settings.BACKSTOP_PAYMENT_GATEWAY,
        invoice__status=Invoice.Status.OPEN,
    ).exclude(reference="")
    if not pending.exists():  # the usual case: no gateway call, one indexed query
        return 0
    gw = gateway()
    for payment in pending.select_related("invoice"):
        try:
            result = gw.charge_status(payment.reference)
        except GatewayError as exc:
            log.warning("payment %s: status unknown (%s)", payment.pk, exc)
            continue
        if result.pending:
            continue
        kind = "payment_succeeded" if result.succeeded else "payment_failed"
        apply_event(WebhookEvent(kind, payment.reference, result.message), gw.name)
        changed += 1
    return changed
