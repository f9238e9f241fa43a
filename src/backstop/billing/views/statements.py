"""Billing > Status, Unpaid bills, History and Pay invoice of a direct customer and of a partner, the
partner's drill-down per account, and the invoice downloads (A-BILLING, P-BILLING).

Who sees what: customers billed directly (no partner) through `account_view(VIEW_BILLING)` —
an account billed through its partner has no billing pages (404); partners through
`partner_view(PARTNER_VIEW_BILLING)`. A bill is looked up by its number *and* its payer, so another
payer's number is a 404. The bills are the partner's own, so every partner user with the billing
permission sees all of them; the per-account pages (the status table and the drill-down) list only
the accounts the partner role reaches.

Statuses and amounts are computed (`status.py`) from the bills the daily run issued; forecasts and
next payment dates are what the daily run stored. Every payment attempt and e-mailed invoice is a
"Billing changed" audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from backstop import ratelimit
from backstop.audit import events
from backstop.audit.models import AuditEvent
from backstop.billing import documents, notices, payments, status, subscriptions
from backstop.billing.gateways.base import GatewayError
from backstop.billing.models import BillingProfile, Invoice, Payment, Plan, Subscription
from backstop.billing.money import format_money, may_pay_by_bank_transfer
from backstop.billing.pay_views import pay_link
from backstop.billing.views import payment as payment_views
from backstop.billing.views.statements_data import (
    PAGE_SIZE,
    STYLES,
    AccountFilters,
    Scope,
    account_csv_rows,
    account_invoices,
    account_rows,
    card_label,
    invoice_rows,
    payer_status,
    reach_accounts,
    status_chips,
)
from backstop.notify.mailer import absolute
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import AccountAccess
from backstop.tenancy.views.decorators import is_htmx, partner_view
from backstop.web import csvexport

State = Subscription.State
EMAILS_PER_HOUR = 5  # e-mails of one invoice an hour: the button cannot flood the billing contact
PAYING_SECONDS = 120  # a card payment in flight blocks a second click for this long


def direct_account_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A billing page of an account that pays for itself, handed the account as its `Scope`."""

    @payment_views.direct_account_view
    @wraps(view)
    def wrapper(request: HttpRequest, access: AccountAccess, *args: Any, **kwargs: Any) -> HttpResponse:
        return view(request, Scope(access.account, access=access), *args, **kwargs)

    return wrapper


def billing_partner_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @partner_view(perms.PARTNER_VIEW_BILLING)
    @wraps(view)
    def wrapper(
        request: HttpRequest, partner: Partner, membership: Membership, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        return view(request, Scope(partner, membership=membership), *args, **kwargs)

    return wrapper


# -- Billing > Status ---------------------------------------------------------------------------


@direct_account_view
@require_safe
def account_status(request: HttpRequest, scope: Scope) -> HttpResponse:
    account = scope.payer
    assert scope.access is not None
    today = subscriptions.today()
    subscription = subscriptions.subscription_of(scope.access.account)
    totals = status.payer_totals(account, today)
    billed = totals.open_count > 0 or status.invoices_of(account).exists()
    currency, plan, lines = status.forecast(scope.access.account, today)
    unpaid = invoice_rows(scope, status.open_invoices(account), today)
    state = payer_status(totals, billed)
    context = {
        **scope.context("status"),
        "subscription": subscription,
        "trial": subscriptions.trial_info(scope.access.account, subscription, today),
        "totals": totals,
        "payer_status": state,
        "payer_style": STYLES[state.status],
        "forecast_currency": currency,
        "forecast_plan": Plan(plan).label,
        "forecast_lines": lines,
        "forecast_total": sum(line.amount for line in lines),
        "unpaid": unpaid,
        "update_card": subscription.plan == Plan.MONTHLY and totals.failed_charge,
        "today": today,
    }
    return render(request, "billing/statements/account_status.html", context)


@billing_partner_view
@require_safe
@vary_on_headers("HX-Request")  # the same URL answers with the table's fragment or the page
def partner_status(request: HttpRequest, scope: Scope) -> HttpResponse:
    partner = scope.payer
    assert isinstance(partner, Partner) and scope.membership is not None
    today = subscriptions.today()
    filters = AccountFilters.parse(request.GET)
    accounts = reach_accounts(partner, scope.membership)
    currency = status.payer_of_currency(partner)
    if request.GET.get("format") == "csv":
        rows = account_csv_rows(filters.apply(accounts, partner, today), today, currency)
        return csvexport.response(f"billing-status-{today.isoformat()}.csv", rows)
    # The filtered ids in order (one query, whatever the filter), then the page's 25 rows.
    ids = list(filters.apply(accounts, partner, today).order_by("name", "pk").values_list("pk", flat=True))
    page = Paginator(ids, PAGE_SIZE).get_page(request.GET.get("page"))
    found = Account.objects.filter(pk__in=list(page)).select_related("subscription").in_bulk()
    context = {
        **scope.context("status"),
        "filters": filters,
        "page": page,
        "rows": account_rows([found[pk] for pk in page if pk in found], today, currency),
        "pager_query": filters.query(),
        "results_url": scope.url("status"),
        "currency": currency,
    }
    paging = is_htmx(request) and "page" in request.GET
    if not paging:  # the pager leaves the counts alone: they depend on the filters only
        searched = filters.apply(accounts, partner, today, with_status=False)
        context["chips"] = status_chips(searched, partner, filters, today)
    if is_htmx(request):
        return render(request, "billing/statements/_partner_accounts.html", {**context, "oob": not paging})
    context.update(
        totals=status.payer_totals(partner, today, currency),
        onboarded=BillingProfile.objects.filter(partner=partner, onboarded_at__isnull=False).exists(),
    )
    return render(request, "billing/statements/partner_status.html", context)


@billing_partner_view
@require_safe
def partner_account(request: HttpRequest, scope: Scope, account_id: int) -> HttpResponse:
    """One customer account's billing, as its partner sees it (the drill-down of Billing > Status)."""
    partner = scope.payer
    assert isinstance(partner, Partner) and scope.membership is not None
    account = reach_accounts(partner, scope.membership).filter(pk=account_id).first()
    if account is None:
        raise Http404("No such account")
    today = subscriptions.today()
    subscription = subscriptions.subscription_of(account)
    page = Paginator(account_invoices(partner, account), PAGE_SIZE).get_page(request.GET.get("page"))
    currency, plan, lines = status.forecast(account, today)
    row = account_rows([account], today, currency)[0]
    context = {
        **scope.context("status"),
        "customer": account,
        "row": row,
        "subscription": subscription,
        "trial": subscriptions.trial_info(account, subscription, today),
        "page": page,
        "invoices": invoice_rows(scope, page, today),
        "forecast_currency": currency,
        "forecast_plan": Plan(plan).label,
        "forecast_lines": lines,
        "forecast_total": sum(line.amount for line in lines),
        "back": request.get_full_path(),
    }
    return render(request, "billing/statements/partner_account.html", context)


# -- Unpaid bills -------------------------------------------------------------------------------


def unpaid_page(request: HttpRequest, scope: Scope) -> HttpResponse:
    today = subscriptions.today()
    totals = status.payer_totals(scope.payer, today)
    page = Paginator(status.open_invoices(scope.payer), PAGE_SIZE).get_page(request.GET.get("page"))
    monthly_by_card = scope.is_partner or (
        scope.access is not None and subscriptions.subscription_of(scope.access.account).plan == Plan.MONTHLY
    )
    context = {
        **scope.context("unpaid"),
        "totals": totals,
        "page": page,
        "rows": invoice_rows(scope, page, today),
        "update_card": totals.failed_charge and monthly_by_card,
        "back": request.get_full_path(),
    }
    if is_htmx(request):
        return render(request, "billing/statements/_unpaid_rows.html", context)
    return render(request, "billing/statements/unpaid.html", context)


@direct_account_view
@require_safe
@vary_on_headers("HX-Request")
def account_unpaid(request: HttpRequest, scope: Scope) -> HttpResponse:
    return unpaid_page(request, scope)


@billing_partner_view
@require_safe
@vary_on_headers("HX-Request")
def partner_unpaid(request: HttpRequest, scope: Scope) -> HttpResponse:
    return unpaid_page(request, scope)


# -- History ------------------------------------------------------------------------------------


def history_page(request: HttpRequest, scope: Scope) -> HttpResponse:
    today = subscriptions.today()
    invoices = status.invoices_of(scope.payer).order_by("-issue_date", "-number")
    page = Paginator(invoices, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {**scope.context("history"), "page": page, "rows": invoice_rows(scope, page, today)}
    if is_htmx(request):
        return render(request, "billing/statements/_history_rows.html", context)
    if scope.access is not None:
        context["subscription"] = subscriptions.subscription_of(scope.access.account)
    return render(request, "billing/statements/history.html", context)


@direct_account_view
@require_safe
@vary_on_headers("HX-Request")
def account_history(request: HttpRequest, scope: Scope) -> HttpResponse:
    return history_page(request, scope)


@billing_partner_view
@require_safe
@vary_on_headers("HX-Request")
def partner_history(request: HttpRequest, scope: Scope) -> HttpResponse:
    return history_page(request, scope)


# -- downloads ----------------------------------------------------------------------------------


def document(scope: Scope, number: int, kind: str) -> HttpResponse:
    """An invoice or receipt PDF, or a consolidated bill's CSV, as an attachment. The file name is
    made of the number only (an int from the URL), so it needs no escaping."""
    invoice = scope.invoice(number)
    mimetype = "application/pdf"
    if kind == "receipt":
        if invoice.status != Invoice.Status.PAID:
            raise Http404("This invoice is not paid: there is no receipt yet.")
        content, filename = documents.receipt_pdf(invoice), f"receipt-{number}.pdf"
    elif kind == "csv":
        if not invoice.consolidated:
            raise Http404("Only consolidated bills have a CSV.")
        content, filename = documents.consolidated_csv(invoice), f"bill-{number}.csv"
        mimetype = "text/csv; charset=utf-8"
    else:
        content, filename = documents.invoice_pdf(invoice), f"invoice-{number}.pdf"
    response = HttpResponse(content, content_type=mimetype)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@direct_account_view
@require_safe
@never_cache
def account_document(request: HttpRequest, scope: Scope, number: int, kind: str) -> HttpResponse:
    """An invoice or receipt PDF of the customer's own (the URL names the kind)."""
    return document(scope, number, kind)


@billing_partner_view
@require_safe
@never_cache
def partner_document(request: HttpRequest, scope: Scope, number: int, kind: str) -> HttpResponse:
    """An invoice or receipt PDF, or a consolidated bill's CSV, of the partner's own."""
    return document(scope, number, kind)


# -- e-mail an invoice --------------------------------------------------------------------------


def email_invoice(request: HttpRequest, scope: Scope, number: int) -> HttpResponse:
    """Sends the open invoice again to the payer's billing e-mail, with its "Pay online" link."""
    invoice = scope.invoice(number)
    back = scope.back(request.POST.get("next"), scope.url("unpaid"))
    if invoice.status != Invoice.Status.OPEN:
        messages.info(request, f"Invoice {number} is paid: its receipt is on the History tab.")
        return redirect(back)
    if not ratelimit.allow(f"billing-email-invoice:{invoice.pk}", EMAILS_PER_HOUR, 3600):
        messages.error(
            request, f"Invoice {number} was e-mailed {EMAILS_PER_HOUR} times this hour: try again later."
        )
        return redirect(back)
    sent = notices.invoice_issued(invoice, pay_link(invoice))
    if not sent:
        messages.error(request, f"Invoice {number} could not be e-mailed. Please try again later.")
        return redirect(back)
    Invoice.objects.filter(pk=invoice.pk).update(emailed_at=timezone.now())
    events.billing_changed(request, scope.payer, f"Invoice {number} e-mailed")
    messages.success(request, f"Invoice {number} was e-mailed to {scope.billing_email()}.")
    return redirect(back)


@direct_account_view
@require_POST
def account_email_invoice(request: HttpRequest, scope: Scope, number: int) -> HttpResponse:
    return email_invoice(request, scope, number)


@billing_partner_view
@require_POST
def partner_email_invoice(request: HttpRequest, scope: Scope, number: int) -> HttpResponse:
    return email_invoice(request, scope, number)


# -- Pay invoice --------------------------------------------------------------------------------


def pay_page(request: HttpRequest, scope: Scope, number: int) -> HttpResponse:
    invoice = scope.invoice(number)
    here = scope.url("pay", number)
    if request.method == "POST":
        action = request.POST.get("action", "")
        if invoice.status != Invoice.Status.OPEN:
            messages.info(request, f"Invoice {number} is already paid.")
            return redirect(here)
        if action == "card":
            return pay_by_card(request, scope, invoice, here)
        if action == "online":
            return pay_online(request, invoice, here)
        messages.error(request, "Unknown request: reload the page and try again.")
        return redirect(here)
    today = subscriptions.today()
    card = scope.card_on_file() if invoice.status == Invoice.Status.OPEN else None
    bill_to = invoice.bill_to or {}
    buyer = bill_to.get("company") or " ".join(
        part for part in (bill_to.get("first_name"), bill_to.get("last_name")) if part
    )
    context = {
        **scope.context("unpaid"),
        "invoice": invoice,
        "row": invoice_rows(scope, [invoice], today)[0],
        "buyer": buyer or scope.payer.name,
        "buyer_email": bill_to.get("email") or scope.payer.email,
        "card": card,
        "card_label": card_label(card) if card else "",
        "pending": invoice.payments.filter(status=Payment.Status.PENDING).exists(),
        "bank_transfer": may_pay_by_bank_transfer(invoice.total, invoice.currency),
        "bank_details": settings.BACKSTOP_BANK_TRANSFER,
    }
    return render(request, "billing/statements/pay.html", context)


def pay_by_card(request: HttpRequest, scope: Scope, invoice: Invoice, here: str) -> HttpResponse:
    """Charges the open invoice to the payer's default card, once at a time."""
    number = invoice.number
    card = scope.card_on_file()
    if card is None:
        messages.error(request, "There is no card on file: add one in Payment details first.")
        return redirect(here)
    lock = f"backstop:billing:paying:{invoice.pk}"
    if invoice.payments.filter(status=Payment.Status.PENDING).exists() or not cache.add(
        lock, 1, PAYING_SECONDS
    ):
        messages.info(request, f"A payment of invoice {number} is already being processed.")
        return redirect(here)
    try:
        payment = payments.charge(invoice, card)
    finally:
        cache.delete(lock)
    label, amount = card_label(card), format_money(invoice.total, invoice.currency)
    if payment.status == Payment.Status.SUCCEEDED:
        events.billing_changed(request, scope.payer, f"Invoice {number} paid with card {label}: {amount}")
        messages.success(request, f"Thank you: invoice {number} ({amount}) was paid with {label}.")
    elif payment.status == Payment.Status.PENDING:
        text = f"Invoice {number}: payment of {amount} with card {label} sent, awaiting confirmation"
        events.billing_changed(request, scope.payer, text)
        messages.info(
            request, f"The payment with {label} is being processed; the invoice shows as paid once confirmed."
        )
    else:
        reason = payment.message or "the card was declined"
        events.billing_changed(
            request,
            scope.payer,
            f"Invoice {number}: payment of {amount} with card {label} failed ({reason})",
            status=AuditEvent.Status.FAILED,
        )
        messages.error(request, f"The payment with {label} failed: {reason}")
    return redirect(here)


def pay_online(request: HttpRequest, invoice: Invoice, here: str) -> HttpResponse:
    """The gateway's hosted payment page (card or PayPal-style); it brings the payer back here."""
    try:
        url = payments.payment_link(invoice, return_url=absolute(here))
    except GatewayError as exc:
        messages.error(request, f"The payment page could not be opened: {exc}")
        return redirect(here)
    return HttpResponseRedirect(url)


@direct_account_view
@require_http_methods(["GET", "HEAD", "POST"])
def account_pay(request: HttpRequest, scope: Scope, number: int) -> HttpResponse:
    return pay_page(request, scope, number)


@billing_partner_view
@require_http_methods(["GET", "HEAD", "POST"])
def partner_pay(request: HttpRequest, scope: Scope, number: int) -> HttpResponse:
    return pay_page(request, scope, number)
