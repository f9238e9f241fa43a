"""Account pages: homepage, support, and settings (A-ACCOUNT)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from backstop.audit import events
from backstop.backups.views.common import home_context as backups_home
from backstop.tenancy import permissions as perms
from backstop.tenancy import services
from backstop.tenancy.forms import AccountForm, RemoveAccountForm
from backstop.tenancy.models import REMOVAL_GRACE, Account, Partner
from backstop.tenancy.scoping import AccountAccess
from backstop.tenancy.views.decorators import account_view

EMAIL_CHANGE_SALT = "backstop.account-email"
EMAIL_CHANGE_MAX_AGE = 24 * 3600


@account_view(perms.VIEW)
def home(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    account = access.account
    context = {"access": access, "account": account, "member_count": account.memberships.count()}
    context.update(backups_home(request, access))
    return render(request, "tenancy/home.html", context)


@account_view(perms.VIEW_SUPPORT)
def support(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    return render(
        request,
        "tenancy/support.html",
        {
            "access": access,
            "account": access.account,
            "support_email": settings.BACKSTOP_SUPPORT_EMAIL,
        },
    )


@account_view(perms.VIEW_SETTINGS)
def settings_page(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    account = access.account
    form = AccountForm(instance=account)
    if request.method == "POST":
        if not access.can(perms.MANAGE_ACCOUNT):
            raise PermissionDenied("Only administrators change account settings.")
        if request.POST.get("action") == "remove_partner_access":
            return _remove_partner_access(request, access)
        old_email, old_name = account.email, account.name
        form = AccountForm(request.POST, instance=account)
        if form.is_valid():
            new_email = form.cleaned_data["email"].lower()
            account.email = old_email  # the new address waits for its confirmation
            if new_email != old_email.lower():
                account.pending_email = new_email
                _send_email_change_link(request, access, new_email)
                messages.info(
                    request,
                    f"We sent a confirmation link to {new_email}. It is valid for 24 hours.",
                )
            account.save(update_fields=["name", "email", "pending_email"])
            changes = []
            if account.name != old_name:
                changes.append(f"Account name changed from “{old_name}” to “{account.name}”")
            if new_email != old_email.lower():
                changes.append(f"New account e-mail {new_email} requested; it applies once confirmed")
            if changes:
                events.settings_changed(request, account, "; ".join(changes))
            messages.success(request, "Account settings saved.")
            return redirect("account_settings", account_id=account.pk)
    return render(
        request,
        "tenancy/settings_account.html",
        {
            "access": access,
            "account": account,
            "form": form,
            "remove_form": RemoveAccountForm(),
            "can_manage": access.can(perms.MANAGE_ACCOUNT),
            "grace_days": REMOVAL_GRACE.days,
            "tab": "account",
            "managing_partner": account.partner if account.partner_id else None,
            "may_remove_partner": _may_remove_partner(access),
        },
    )


def _is_customer_admin(access: AccountAccess) -> bool:
    """An administrator of the account itself (not a partner user working in it)."""
    return any(m.account_id == access.account.pk and m.is_admin for m in access.memberships)


def _may_remove_partner(access: AccountAccess) -> bool:
    account = access.account
    return (
        account.partner_id is not None
        and account.partner_access
        and account.customer_may_remove_partner
        and _is_customer_admin(access)
    )


def audit_partner_access(
    request: HttpRequest, account: Account, partner: Partner, *, removed: bool, by: str
) -> None:
    """A partner's access to an account taken away (or given back): a Security Audit event in the
    account's audit and one in the partner's own (the partner no longer reaches the account's)."""
    if removed:
        account_text = (
            f"Partner access removed {by}: {partner.name} ({partner.code}) can no longer open this account"
        )
        partner_text = f"Access to customer account {account.name} ({account.email}) removed {by}"
    else:
        account_text = (
            f"Partner access restored {by}: {partner.name} ({partner.code}) can open this account again"
        )
        partner_text = f"Access to customer account {account.name} ({account.email}) restored {by}"
    events.permissions_changed(request, account, account_text)
    events.permissions_changed(request, partner, partner_text)


def _remove_partner_access(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    """The customer's administrator takes the partner's access away, when the account allows it."""
    account = access.account
    if not _may_remove_partner(access):
        raise PermissionDenied(
            "Only the customer's administrators may remove the partner's access, when allowed."
        )
    partner = account.partner
    assert partner is not None  # _may_remove_partner checked it
    if request.POST.get("confirm") != "yes" or not request.POST.get("approve_partner_removal"):
        messages.error(request, f"Tick the box to confirm that {partner.name} loses its access.")
        return redirect("account_settings", account_id=account.pk)
    account.partner_access = False
    account.save(update_fields=["partner_access"])
    audit_partner_access(request, account, partner, removed=True, by="by the customer's administrator")
    messages.success(
        request,
        f"{partner.name} can no longer open this account. Only your own users have access now; "
        "ask support to give the access back.",
    )
    return redirect("account_settings", account_id=account.pk)


def _send_email_change_link(request: HttpRequest, access: AccountAccess, new_email: str) -> None:
    token = signing.dumps({"account": access.account.pk, "email": new_email}, salt=EMAIL_CHANGE_SALT)
    path = reverse("account_email_confirm", kwargs={"account_id": access.account.pk, "token": token})
    url = settings.BACKSTOP_BASE_URL + path  # the public address, also behind a proxy
    body = render_to_string(
        "tenancy/email/account_email_change.txt",
        {"account": access.account, "url": url, "email": new_email},
    )
    send_mail("[Backstop] Confirm your account's new e-mail address", body, None, [new_email])


@account_view(perms.MANAGE_ACCOUNT)
def confirm_email(request: HttpRequest, access: AccountAccess, token: str) -> HttpResponse:
    account = access.account
    try:
        data = signing.loads(token, salt=EMAIL_CHANGE_SALT, max_age=EMAIL_CHANGE_MAX_AGE)
    except signing.SignatureExpired:
        messages.error(
            request,
            "This confirmation link has expired. Save the new address again to get a new one.",
        )
        return redirect("account_settings", account_id=account.pk)
    except signing.BadSignature:
        messages.error(request, "This confirmation link is not valid.")
        return redirect("account_settings", account_id=account.pk)
    if data.get("account") != account.pk or data.get("email") != account.pending_email:
        messages.error(request, "This confirmation link was already used or replaced by a newer one.")
        return redirect("account_settings", account_id=account.pk)
    old_email = account.email
    account.email, account.pending_email = account.pending_email, ""
    account.save(update_fields=["email", "pending_email"])
    events.settings_changed(request, account, f"Account e-mail changed from {old_email} to {account.email}")
    messages.success(request, f"The account e-mail is now {account.email}.")
    return redirect("account_settings", account_id=account.pk)


@account_view(perms.MANAGE_ACCOUNT)
@require_POST
def remove(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    form = RemoveAccountForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("account_settings", account_id=access.account.pk)
    services.request_removal(access.account, by=request.user)  # type: ignore[arg-type]
    text = f"Account removal requested: its data is deleted after {REMOVAL_GRACE.days} days unless cancelled"
    events.settings_changed(request, access.account, text)
    messages.warning(
        request,
        f"The account is scheduled for removal. Its data is kept for {REMOVAL_GRACE.days} days; "
        "you can cancel the removal until then.",
    )
    return redirect("account_settings", account_id=access.account.pk)


@account_view(perms.MANAGE_ACCOUNT)
@require_POST
def cancel_remove(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    if services.cancel_removal(access.account):
        events.settings_changed(request, access.account, "Account removal cancelled")
        messages.success(request, "The removal was cancelled. Nothing was deleted.")
    else:
        text = "Cancelling the account removal was refused: the grace period is over"
        events.settings_changed(request, access.account, text, status=events.AuditEvent.Status.FAILED)
        messages.error(request, "The grace period is over: the account's data is being deleted.")
    return redirect("account_settings", account_id=access.account.pk)
