"""Settings > Security for a customer account and for a partner: personal password and 2FA,
the policies enforced on all users, and the trusted IP addresses (A-SECURITY, A-IPRESTRICT,
P-SETTINGS). One set of views serves both tenants through a `Scope`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from backstop.accounts.models import User
from backstop.audit import events
from backstop.security.client import client_address
from backstop.security.forms import PolicyForm, TrustedAddressForm
from backstop.security.models import SecurityPolicy, TrustedAddress
from backstop.security.policy import Tenant, has_mfa, policy_of, tenant_filter, trusts
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import AccountAccess
from backstop.tenancy.views.decorators import account_view, partner_view


@dataclass
class Scope:
    """The tenant whose security settings a page shows, and who is looking."""

    tenant: Tenant
    is_admin: bool
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "account" if isinstance(self.tenant, Account) else "partner"

    def url(self, name: str, *args: Any) -> str:
        return reverse(f"{self.kind}_{name}", args=[self.tenant.pk, *args])

    def render(self, request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> Any:
        page = {
            **self.context,
            "scope": self,
            "tenant": self.tenant,
            "tab": "security",
            "section": "general" if template == "security.html" else "ip",
            "toggle_url": self.url("ip_toggle"),
            "new_url": self.url("ip_new"),
            "back_url": self.url("ip"),
            **context,
        }
        return render(request, f"security/{template}", page, status=status)

    def require_admin(self) -> None:
        if not self.is_admin:
            raise PermissionDenied("Only administrators change the security settings.")


def _account_scope(access: AccountAccess) -> Scope:
    return Scope(access.account, access.is_admin, {"account": access.account, "access": access})


def _partner_scope(partner: Partner, membership: Membership) -> Scope:
    return Scope(partner, membership.is_admin, {"partner": partner, "membership": membership})


# -- the page ---------------------------------------------------------------------------------


def security_page(request: HttpRequest, scope: Scope) -> HttpResponse:
    policy = policy_of(scope.tenant)
    form = PolicyForm(instance=policy)
    if request.method == "POST":
        scope.require_admin()
        before = _policy_text(policy)  # the form writes into the instance as it validates
        form = PolicyForm(request.POST, instance=policy)
        if form.is_valid():
            saved = form.save(commit=False)
            saved.updated_at = timezone.now()
            saved.save()
            after = _policy_text(saved)
            if before != after:
                events.security_changed(request, scope.tenant, f"Password policies: {before} → {after}")
            messages.success(request, "The security policies were saved.")
            return redirect(scope.url("security"))
    return scope.render(
        request,
        "security.html",
        {
            "form": form,
            "policy": policy,
            "has_mfa": has_mfa(request.user),
            "has_password": _user(request).has_usable_password(),
            "trusted_count": TrustedAddress.objects.filter(**tenant_filter(scope.tenant)).count(),
        },
    )


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)  # every view here is behind login_required


def _policy_text(policy: SecurityPolicy) -> str:
    mfa = "2FA enforced" if policy.require_mfa else "2FA optional"
    days = policy.password_max_age_days
    return f"{mfa}, " + (f"passwords expire after {days} days" if days else "passwords do not expire")


# -- trusted IP addresses ---------------------------------------------------------------------


def ip_page(request: HttpRequest, scope: Scope) -> HttpResponse:
    address = client_address(request)
    entries = list(TrustedAddress.objects.filter(**tenant_filter(scope.tenant)))
    return scope.render(
        request,
        "ip_restrictions.html",
        {
            "policy": policy_of(scope.tenant),
            "entries": entries,
            "address": address,
            "address_trusted": trusts(entries, address),
        },
    )


def ip_form(request: HttpRequest, scope: Scope, entry_id: int | None = None) -> HttpResponse:
    scope.require_admin()
    entries = TrustedAddress.objects.filter(**tenant_filter(scope.tenant))
    entry = get_object_or_404(entries, pk=entry_id) if entry_id is not None else None
    initial: dict[str, Any] = {}
    if entry is not None:
        initial = {
            "description": entry.description,
            "mode": "range" if entry.is_range else "list",
            "addresses": entry.addresses,
            "first": entry.first or "",
            "last": entry.last or "",
        }
    form = TrustedAddressForm(request.POST if request.method == "POST" else None, initial=initial)
    address = client_address(request)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        candidate = entry or TrustedAddress(**tenant_filter(scope.tenant), created_by=_user(request))
        before = candidate.display if entry else ""
        candidate.description = data["description"]
        candidate.addresses, candidate.first, candidate.last = data["addresses"], data["first"], data["last"]
        after_list = [e for e in entries if e.pk != candidate.pk] + [candidate]
        # The first entry turns the restriction on (the guides' behaviour); it must let you in.
        if not trusts(after_list, address):
            form.add_error(None, _lockout_message(address))
        else:
            with transaction.atomic():
                candidate.save()
                policy = policy_of(scope.tenant)
                turned_on = not policy.ip_restriction
                policy.ip_restriction, policy.updated_at = True, timezone.now()
                policy.save()
            what = (
                f"Trusted address changed from {before} to {candidate.display}"
                if entry
                else f"Trusted address added: {candidate.display}"
            )
            if candidate.description:
                what += f" ({candidate.description})"
            if turned_on:
                what += "; IP restrictions turned on"
            _changed(request, scope, what)
            messages.success(request, what + ".")
            return redirect(scope.url("ip"))
    return scope.render(
        request, "ip_form.html", {"form": form, "entry": entry, "address": address}, status=200
    )


@require_POST
def ip_delete(request: HttpRequest, scope: Scope, entry_id: int) -> HttpResponse:
    scope.require_admin()
    entries = TrustedAddress.objects.filter(**tenant_filter(scope.tenant))
    entry = get_object_or_404(entries, pk=entry_id)
    rest = [e for e in entries if e.pk != entry.pk]
    policy = policy_of(scope.tenant)
    address = client_address(request)
    if policy.ip_restriction and rest and not trusts(rest, address):
        messages.error(request, _lockout_message(address))
        return redirect(scope.url("ip"))
    with transaction.atomic():
        entry.delete()
        what = f"Trusted address removed: {entry.display}"
        if not rest and policy.ip_restriction:
            # No list left: the restriction would lock everybody out, so it ends.
            policy.ip_restriction, policy.updated_at = False, timezone.now()
            policy.save()
            what += "; IP restrictions turned off (no trusted address left)"
    _changed(request, scope, what)
    messages.success(request, what + ".")
    return redirect(scope.url("ip"))


@require_POST
def ip_toggle(request: HttpRequest, scope: Scope) -> HttpResponse:
    scope.require_admin()
    policy = policy_of(scope.tenant)
    entries = list(TrustedAddress.objects.filter(**tenant_filter(scope.tenant)))
    turn_on = request.POST.get("enabled") == "on"
    address = client_address(request)
    if turn_on == policy.ip_restriction:
        return redirect(scope.url("ip"))
    if turn_on and not entries:
        messages.error(request, "Add a trusted address first: the restriction starts with the first one.")
        return redirect(scope.url("ip"))
    if turn_on and not trusts(entries, address):
        messages.error(request, _lockout_message(address))
        return redirect(scope.url("ip"))
    policy.ip_restriction, policy.updated_at = turn_on, timezone.now()
    policy.save()
    what = "IP restrictions turned on" if turn_on else "IP restrictions turned off"
    _changed(request, scope, what)
    messages.success(request, what + ".")
    return redirect(scope.url("ip"))


def _lockout_message(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> str:
    if address is not None and address.version == 6:
        return (
            f"Your current address {address} is an IPv6 address, which the trusted list cannot hold: "
            "saving would lock you out. Connect over IPv4 to set up IP restrictions."
        )
    return (
        f"Your current address {address or '(unknown)'} is not on the trusted list: saving would lock "
        "you out. Add your own address first."
    )


def _changed(request: HttpRequest, scope: Scope, what: str) -> None:
    """A change to the trusted addresses: audited, and e-mailed to every administrator."""
    events.security_changed(request, scope.tenant, what)
    admins = Membership.objects.filter(**tenant_filter(scope.tenant), role=Membership.Role.ADMIN)
    emails = sorted({m.user.email for m in admins.select_related("user") if m.user.email})
    if not emails:
        return
    body = render_to_string(
        "security/email/ip_changed.txt",
        {
            "tenant": scope.tenant,
            "what": what,
            "by": _user(request).email,
            "address": client_address(request),
            "at": timezone.now(),
            "url": settings.BACKSTOP_BASE_URL + scope.url("ip"),
        },
    )
    send_mail(f"[Backstop] IP restrictions changed for {scope.tenant.name}", body, None, emails)


# -- URL entry points -------------------------------------------------------------------------


@account_view(perms.VIEW)
def account_security(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    return security_page(request, _account_scope(access))


def _account_admin(view: Any) -> Any:
    """An IP-restriction page of a customer account: administrators only."""

    @account_view(perms.MANAGE_ACCOUNT)
    def wrapped(request: HttpRequest, access: AccountAccess, **kwargs: Any) -> HttpResponse:
        return view(request, _account_scope(access), **kwargs)

    wrapped.__name__ = f"account_{view.__name__}"
    return wrapped


account_ip = _account_admin(ip_page)
account_ip_new = _account_admin(ip_form)
account_ip_edit = _account_admin(ip_form)
account_ip_delete = _account_admin(ip_delete)
account_ip_toggle = _account_admin(ip_toggle)


@partner_view(perms.PARTNER_VIEW_SETTINGS)
def partner_security(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    return security_page(request, _partner_scope(partner, membership))


def _partner_admin(view: Any) -> Any:
    """An IP-restriction page of a partner: administrators only."""

    @partner_view(perms.PARTNER_VIEW_SETTINGS)
    def wrapped(request: HttpRequest, partner: Partner, membership: Membership, **kwargs: Any) -> Any:
        scope = _partner_scope(partner, membership)
        scope.require_admin()
        return view(request, scope, **kwargs)

    wrapped.__name__ = f"partner_{view.__name__}"
    return wrapped


partner_ip = _partner_admin(ip_page)
partner_ip_new = _partner_admin(ip_form)
partner_ip_edit = _partner_admin(ip_form)
partner_ip_delete = _partner_admin(ip_delete)
partner_ip_toggle = _partner_admin(ip_toggle)
