"""Settings > Notifications (A-NOTIFY): the report settings, the recipients, and the summary
report's signed CSV download. Every change is audited as "Notification settings changed"."""

from __future__ import annotations

from django.contrib import messages
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from backstop.audit import events
from backstop.notify import reports
from backstop.notify.forms import RecipientForm, ReportSettingsForm
from backstop.notify.models import Recipient, ReportSettings
from backstop.notify.recipients import DEFAULTS_TO_ACCOUNT, KINDS, LABELS
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountAccess, TenantQuerySet
from backstop.tenancy.views.decorators import account_view
from backstop.web import csvexport

TAB = "notifications"


def _recipients(request: HttpRequest, access: AccountAccess) -> TenantQuerySet:
    # Scoped to what the user may manage and to this account: another account's recipient id
    # is a 404 even for someone who manages both.
    scoped = Recipient.objects.restrict(request.user, perms.MANAGE_NOTIFICATIONS)
    return scoped.filter(account=access.account)


def _context(access: AccountAccess, **extra: object) -> dict[str, object]:
    return {"access": access, "account": access.account, "tab": TAB, **extra}


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
