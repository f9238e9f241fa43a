"""Settings > Notifications of an account (A-NOTIFY) and of a partner (P-NOTIFY): the report
settings, the recipients, and the reports' signed CSV downloads. Every change is audited as
"Notification settings changed" in the tenant's Security Audit."""

from __future__ import annotations

from django.contrib import messages
from django.core import signing
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from backstop.audit import events
from backstop.notify import partner_reports, reports
from backstop.notify.forms import (
    PartnerRecipientForm,
    PartnerReportSettingsForm,
    RecipientForm,
    ReportSettingsForm,
)
from backstop.notify.models import Recipient, ReportSettings
from backstop.notify.recipients import DEFAULTS_TO_ACCOUNT, KINDS, LABELS, PARTNER_KINDS
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Membership, Partner
from backstop.tenancy.scoping import AccountAccess, TenantQuerySet, reach_of
from backstop.tenancy.views.decorators import account_view, partner_view
from backstop.web import csvexport

TAB = "notifications"


def _recipients(request: HttpRequest, access: AccountAccess) -> TenantQuerySet:
    # Scoped to what the user may manage and to this account: another account's recipient id
    # is a 404 even for someone who manages both.
    scoped = Recipient.objects.restrict(request.user, perms.MANAGE_NOTIFICATIONS)
    return scoped.filter(account=access.account)


def _context(access: AccountAccess, **extra: object) -> dict[str, object]:
    return {
        "access": access,
        "account": access.account,
        "tab": TAB,
        # The recipient pages are shared with the partner's: its tabs, way back and name differ.
        "tabs_template": "tenancy/partials/settings_tabs.html",
        "back_url": reverse("account_notifications", args=[access.account.pk]),
        "owner_name": access.account.name,
        **extra,
    }


@account_view(perms.MANAGE_NOTIFICATIONS)
def notifications(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    account = access.account
    current = ReportSettings.objects.filter(account=account).first() or ReportSettings(account=account)
    form = ReportSettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        if form.has_changed():
            changes = form.describe_changes()
            form.save()
            events.notifications_changed(request, account, f"Report settings changed: {changes}")
        messages.success(request, "Report settings saved.")
        return redirect("account_notifications", account_id=account.pk)
    rows = list(_recipients(request, access).order_by("email"))
    defaults = [LABELS[kind] for kind in KINDS if kind in DEFAULTS_TO_ACCOUNT]
    missing = [
        LABELS[kind]
        for kind in KINDS
        if kind in DEFAULTS_TO_ACCOUNT and not any(getattr(r, kind) for r in rows)
    ]
    return render(
        request,
        "notify/settings_notifications.html",
        _context(
            access,
            form=form,
            recipients=[(r, [(LABELS[kind], getattr(r, kind)) for kind in KINDS]) for r in rows],
            kinds=[(kind, LABELS[kind]) for kind in KINDS],
            defaults=defaults,
            missing=missing,
            report_settings=current,
        ),
    )


@account_view(perms.MANAGE_NOTIFICATIONS)
def recipient_new(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    form = RecipientForm(request.POST or None, account=access.account)
    if request.method == "POST" and form.is_valid():
        recipient = form.save()
        events.notifications_changed(
            request, access.account, f"Recipient {recipient.email} added ({form.ticked()})"
        )
        messages.success(request, f"{recipient.email} was added to the recipients.")
        return redirect("account_notifications", account_id=access.account.pk)
    return render(request, "notify/recipient_form.html", _context(access, form=form, is_new=True))


@account_view(perms.MANAGE_NOTIFICATIONS)
def recipient_edit(request: HttpRequest, access: AccountAccess, recipient_id: int) -> HttpResponse:
    recipient = get_object_or_404(_recipients(request, access), pk=recipient_id)
    before = recipient.email
    form = RecipientForm(request.POST or None, instance=recipient, account=access.account)
    if request.method == "POST" and form.is_valid():
        if form.has_changed():
            changes = form.describe_changes()
            form.save()
            events.notifications_changed(request, access.account, f"Recipient {before} changed: {changes}")
        messages.success(request, f"Recipient {recipient.email} saved.")
        return redirect("account_notifications", account_id=access.account.pk)
    return render(request, "notify/recipient_form.html", _context(access, form=form, recipient=recipient))


@account_view(perms.MANAGE_NOTIFICATIONS)
def recipient_delete(request: HttpRequest, access: AccountAccess, recipient_id: int) -> HttpResponse:
    recipient = get_object_or_404(_recipients(request, access), pk=recipient_id)
    if request.method == "POST":
        recipient.delete()
        events.notifications_changed(request, access.account, f"Recipient {recipient.email} removed")
        messages.success(request, f"{recipient.email} no longer receives notifications.")
        return redirect("account_notifications", account_id=access.account.pk)
    return render(request, "notify/recipient_delete.html", _context(access, recipient=recipient))


@account_view(perms.VIEW_TASKS)
def report_download(request: HttpRequest, access: AccountAccess, token: str) -> HttpResponse:
    """The CSV of a summary report, from the link in its e-mail: for signed-in users of the
    account who may view its backup tasks (the decorator gives another tenant's user a 404),
    with the services their role sees, while the link is valid."""
    try:
        account_id, period = reports.read_token(token)
    except signing.SignatureExpired:
        raise Http404("This report link has expired.") from None
    except signing.BadSignature:
        raise Http404("No such report.") from None
    if account_id != access.account.pk:
        raise Http404("No such report.")
    services = [code for code in perms.SERVICE_CODES if access.can(perms.VIEW_TASKS, code)]
    report = reports.build(
        access.account, period, None if len(services) == len(perms.SERVICE_CODES) else services
    )
    return csvexport.response(report.csv_filename(), report.csv_rows())


# -- the partner's Settings > Notifications (P-NOTIFY) -------------------------------------------


def _partner_recipients(partner: Partner) -> QuerySet[Recipient]:
    # Within the partner the decorator resolved: another partner's recipient id is a 404.
    return Recipient.objects.filter(partner=partner)


def _partner_context(partner: Partner, membership: Membership, **extra: object) -> dict[str, object]:
    return {
        "partner": partner,
        "membership": membership,
        "tab": TAB,
        "tabs_template": "tenancy/partner_settings/partials/tabs.html",
        "back_url": reverse("partner_notifications", args=[partner.pk]),
        "owner_name": partner.name,
        **extra,
    }


@partner_view(perms.PARTNER_NOTIFICATIONS)
def partner_notifications(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    current = partner_reports.settings_of(partner)
    form = PartnerReportSettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        if form.has_changed():
            changes = form.describe_changes()
            form.save()
            events.notifications_changed(request, partner, f"Report settings changed: {changes}")
        messages.success(request, "Report settings saved.")
        return redirect("partner_notifications", partner_id=partner.pk)
    rows = list(_partner_recipients(partner).order_by("email"))
    summary_ticked = any(r.summary_report for r in rows)
    return render(
        request,
        "notify/partner_notifications.html",
        _partner_context(
            partner,
            membership,
            form=form,
            recipients=[(r, [(LABELS[kind], getattr(r, kind)) for kind in PARTNER_KINDS]) for r in rows],
            kinds=[(kind, LABELS[kind]) for kind in PARTNER_KINDS],
            summary_ticked=summary_ticked,
            report_settings=current,
        ),
    )


@partner_view(perms.PARTNER_NOTIFICATIONS)
def partner_recipient_new(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    form = PartnerRecipientForm(request.POST or None, partner=partner)
    if request.method == "POST" and form.is_valid():
        recipient = form.save()
        events.notifications_changed(request, partner, f"Recipient {recipient.email} added ({form.ticked()})")
        messages.success(request, f"{recipient.email} was added to the recipients.")
        return redirect("partner_notifications", partner_id=partner.pk)
    context = _partner_context(partner, membership, form=form, is_new=True)
    return render(request, "notify/recipient_form.html", context)


@partner_view(perms.PARTNER_NOTIFICATIONS)
def partner_recipient_edit(
    request: HttpRequest, partner: Partner, membership: Membership, recipient_id: int
) -> HttpResponse:
    recipient = get_object_or_404(_partner_recipients(partner), pk=recipient_id)
    before = recipient.email
    form = PartnerRecipientForm(request.POST or None, instance=recipient, partner=partner)
    if request.method == "POST" and form.is_valid():
        if form.has_changed():
            changes = form.describe_changes()
            form.save()
            events.notifications_changed(request, partner, f"Recipient {before} changed: {changes}")
        messages.success(request, f"Recipient {recipient.email} saved.")
        return redirect("partner_notifications", partner_id=partner.pk)
    context = _partner_context(partner, membership, form=form, recipient=recipient)
    return render(request, "notify/recipient_form.html", context)


@partner_view(perms.PARTNER_NOTIFICATIONS)
def partner_recipient_delete(
    request: HttpRequest, partner: Partner, membership: Membership, recipient_id: int
) -> HttpResponse:
    recipient = get_object_or_404(_partner_recipients(partner), pk=recipient_id)
    if request.method == "POST":
        recipient.delete()
        events.notifications_changed(request, partner, f"Recipient {recipient.email} removed")
        messages.success(request, f"{recipient.email} no longer receives notifications.")
        return redirect("partner_notifications", partner_id=partner.pk)
    context = _partner_context(partner, membership, recipient=recipient)
    return render(request, "notify/recipient_delete.html", context)


@partner_view(perms.PARTNER_VIEW_DASHBOARD)
def partner_report_download(
    request: HttpRequest, partner: Partner, membership: Membership, token: str
) -> HttpResponse:
    """The CSV of a partner's report, from the link in its e-mail: for signed-in members of the
    partner who may view the dashboard, holding only the accounts their own role reaches (a
    customer's file of an account out of their reach is a 404), while the link is valid."""
    try:
        partner_id, account_id, period = partner_reports.read_token(token)
    except signing.SignatureExpired:
        raise Http404("This report link has expired.") from None
    except signing.BadSignature:
        raise Http404("No such report.") from None
    if partner_id != partner.pk:
        raise Http404("No such report.")
    reach = partner_reports.reached_accounts(partner).filter(reach_of(membership))
    if account_id:
        account = get_object_or_404(reach, pk=account_id)
        report = reports.build(account, period)
        return csvexport.response(partner_reports.customer_filename(report), report.csv_rows())
    partner_report = partner_reports.build(partner, period, reach)
    return csvexport.response(partner_report.csv_filename(), partner_report.csv_rows())
