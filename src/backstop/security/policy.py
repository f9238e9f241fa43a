"""What a tenant's security settings demand of a request and of a user.

A user meets the policies of every tenant they belong to (their memberships) and of the tenant
the request is about (a partner user opening a customer account meets that account's too):
two-factor authentication when any of them enforces it, the shortest password lifetime any of
them sets. Trusted addresses: a request about a tenant must come from an address that tenant
trusts (and, through a partner, that the partner trusts); a sign-in is refused when every
tenant of the user restricts addresses and none trusts this one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from allauth.mfa.models import Authenticator
from django.db.models import Q
from django.utils import timezone

from backstop.security.client import Address
from backstop.security.models import SecurityPolicy, TrustedAddress
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Partner
from backstop.tenancy.scoping import memberships_of

Tenant = Account | Partner


def tenant_filter(tenant: Tenant) -> dict[str, Tenant]:
    return {"account": tenant} if isinstance(tenant, Account) else {"partner": tenant}


def policy_of(tenant: Tenant) -> SecurityPolicy:
    """The tenant's policy, unsaved defaults when it has none yet."""
    found = SecurityPolicy.objects.filter(**tenant_filter(tenant)).first()
    return found or SecurityPolicy(**tenant_filter(tenant))


def trusts(entries: Iterable[TrustedAddress], address: Address | None) -> bool:
    return address is not None and any(entry.trusts(address) for entry in entries)


def has_mfa(user: Any) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


@dataclass(frozen=True, slots=True)
class Demands:
    mfa: bool = False
    password_max_age: timedelta | None = None
    # Restricting policies of the tenant the request is about (and of the partner it goes through).
    about: tuple[SecurityPolicy, ...] = ()
    # Restricting policies of the user's own tenants, and whether any own tenant restricts nothing.
    own_restricted: tuple[SecurityPolicy, ...] = ()
    own_unrestricted: bool = True

    def password_expired(self, user: Any, now: datetime | None = None) -> bool:
        if self.password_max_age is None or not user.has_usable_password():
            return False
        changed = user.password_changed_at or user.date_joined
        return bool(changed + self.password_max_age <= (now or timezone.now()))

    def denies(self, address: Address | None) -> list[SecurityPolicy]:
        """The policies that refuse this address: every one the request is about must trust it;
        with no tenant in the request (a sign-in) one own tenant that lets it in is enough."""
        if self.about:
            return [p for p in self.about if not trusts(trusted_list_of(p), address)]
        if self.own_unrestricted:
            return []
        own_refused = [p for p in self.own_restricted if not trusts(trusted_list_of(p), address)]
        return own_refused if len(own_refused) == len(self.own_restricted) else []


def trusted_list_of(policy: SecurityPolicy) -> list[TrustedAddress]:
    tenant = {"account_id": policy.account_id} if policy.account_id else {"partner_id": policy.partner_id}
    return list(TrustedAddress.objects.filter(**tenant))


def demands(user: Any, account_id: int | None = None, partner_id: int | None = None) -> Demands:
    """The policies that reach this user on this request: one query (two for a partner user in
    a customer account); the memberships are the ones the views' scoping reads anyway."""
    memberships = memberships_of(user)
    own_accounts = {m.account_id for m in memberships if m.account_id is not None}
    own_partners = {m.partner_id for m in memberships if m.partner_id is not None}
    # Only tenants the user reaches: anyone else gets the views' own 404, which tells nothing.
    about_accounts = {account_id} & own_accounts
    about_partners = {partner_id} & own_partners
    if account_id is not None and not about_accounts and own_partners:
        # A partner user inside a customer account meets the account's and the partner's rules.
        reachable = Account.objects.restrict(user, perms.VIEW).filter(pk=account_id)
        via = reachable.values_list("partner_id", flat=True).first()
        if via is not None:  # the user's partner, or one below it (a reseller of a distributor)
            about_accounts.add(account_id)
            about_partners.add(via)
    # A distributor's user in the portal of a partner below it meets that partner's rules too.
    if (
        partner_id is not None
        and not about_partners
        and own_partners
        and Partner.objects.restrict(user).filter(pk=partner_id).exists()
    ):
        about_partners.add(partner_id)
    wanted = Q(account_id__in=own_accounts | about_accounts) | Q(partner_id__in=own_partners | about_partners)
    policies = list(SecurityPolicy.objects.filter(wanted))
    if not policies:
        return Demands()

    def own(p: SecurityPolicy) -> bool:
        return p.account_id in own_accounts or p.partner_id in own_partners

    def is_about(p: SecurityPolicy) -> bool:
        return p.account_id in about_accounts or p.partner_id in about_partners

    # Every policy read is the user's own or the request's: each one's 2FA and expiry count.
    ages = [p.password_max_age_days for p in policies if p.password_max_age_days]
    own_restricted = tuple(p for p in policies if p.ip_restriction and own(p))
    return Demands(
        mfa=any(p.require_mfa for p in policies),
        password_max_age=timedelta(days=min(ages)) if ages else None,
        about=tuple(p for p in policies if p.ip_restriction and is_about(p)),
        own_restricted=own_restricted,
        own_unrestricted=len(own_restricted) < len(memberships),
    )
