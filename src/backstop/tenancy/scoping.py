"""The one place that decides which tenants' rows a user may reach.

Modelled on NetBox's `RestrictedQuerySet.restrict(user, action)`: every view, and later every API
endpoint, reads tenant data through `restrict`, never through a bare `.objects.all()`.

A user has few memberships (usually one), so they are read once and turned into a filter; the
database then does the rest, on SQLite and PostgreSQL alike (no JSON containment lookups).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Any, Self

from django.apps import apps
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q, QuerySet
from django.http import Http404

from backstop.tenancy import permissions as perms

if TYPE_CHECKING:
    from backstop.accounts.models import User
    from backstop.tenancy.models import Account, Membership, Partner


def memberships_of(user: Any) -> list[Membership]:
    """The user's memberships with their tenants, read once per user object (a request)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    membership_model = apps.get_model("tenancy", "Membership")
    cache = getattr(user, "_membership_cache", None)
    if cache is None:
        cache = list(membership_model.objects.filter(user=user).select_related("account", "partner"))
        user._membership_cache = cache
    return cache


def subtree_filter(partner: Partner, prefix: str = "") -> Q:
    """A filter matching `partner` and every partner below it, on a model whose field `prefix`
    leads to Partner ("" for Partner itself, "partner__" for Account): one prefix match on the
    lineage. A partner without a lineage (inserted in bulk, bypassing save) reaches itself only."""
    if partner.lineage.endswith(f"/{partner.pk}/"):
        return Q(**{f"{prefix}lineage__startswith": partner.lineage})
    return Q(**{f"{prefix}pk": partner.pk})


def partners_below(partner: Partner) -> QuerySet[Partner]:
    """Every partner under `partner`, at any depth (not `partner` itself)."""
    partners = apps.get_model("tenancy", "Partner").objects
    return partners.filter(subtree_filter(partner)).exclude(pk=partner.pk)


def portal_partner(membership: Membership) -> Partner | None:
    """The partner whose portal the request is about: the one `partner_view` opened (a reseller a
    distributor's member looks at), else the membership's own partner."""
    return getattr(membership, "portal_partner", None) or membership.partner


def reach_of(membership: Membership, partner: Partner | None = None) -> Q:
    """A filter on Account matching the accounts one membership reaches.

    An account membership reaches its account. A partner membership reaches the accounts of its
    partner and of every partner below it (P-TIERS), except those whose partner access was
    removed, and only the accessible accounts when the role is limited to a subset. Given
    `partner` (or in a partner page, the partner the page is about), only that partner's subtree
    counts; a partner outside the membership's subtree reaches nothing."""
    if membership.account_id is not None:
        return Q(pk=membership.account_id)
    own = membership.partner
    top = partner or portal_partner(membership)
    if own is None or top is None:
        return Q(pk__in=[])
    if not top.is_within(own):  # a sibling, a parent or a stranger: nothing
        return Q(pk__in=[])
    reach = subtree_filter(top, "partner__") & Q(partner_access=True)
    return reach if membership.all_accounts else reach & Q(partner_members=membership)


def account_filter(user: User | AnonymousUser | None, action: str, service: str | None = None) -> Q | None:
    """A filter on Account matching the accounts `user` may perform `action` on (for `service`,
    when given), or None. Action and service must be granted by the same membership."""
    parts = [reach_of(m) for m in memberships_of(user) if m.grants(action, service)]
    return reduce(or_, parts) if parts else None


class AccountQuerySet(models.QuerySet["Account"]):
    def restrict(
        self, user: User | AnonymousUser | None, action: str = perms.VIEW, service: str | None = None
    ) -> Self:
        condition = account_filter(user, action, service)
        if condition is None:
            return self.none()
        # The filter may join accessible-account rows; distinct keeps one row per account.
        return self.filter(condition).distinct()


class PartnerQuerySet(models.QuerySet["Partner"]):
    def restrict(self, user: User | AnonymousUser | None, action: str = perms.VIEW) -> Self:
        """The partners whose portal `user` may open for `action`: those of the user's partner
        memberships, and every partner below them (a distributor's resellers)."""
        parts = [
            subtree_filter(m.partner)
            for m in memberships_of(user)
            if m.partner is not None and m.allows(action)
        ]
        return self.filter(reduce(or_, parts)) if parts else self.none()


class TenantQuerySet(models.QuerySet[Any]):
    """Base for every tenant-owned model: rows reach their tenant through `account`."""

    tenant_field = "account"

    def restrict(
        self, user: User | AnonymousUser | None, action: str = perms.VIEW, service: str | None = None
    ) -> Self:
        account_model = apps.get_model("tenancy", "Account")
        allowed = account_model.objects.restrict(user, action, service).values("pk")
        return self.filter(**{f"{self.tenant_field}__in": allowed})


@dataclass(frozen=True, slots=True)
class AccountAccess:
    """What one user may do on one account: the memberships that reach it."""

    account: Account
    memberships: tuple[Membership, ...]

    def can(self, action: str, service: str | None = None) -> bool:
        """One membership must grant both the action and, when given, the service."""
        return any(m.grants(action, service) for m in self.memberships)

    @property
    def is_admin(self) -> bool:
        return any(m.is_admin for m in self.memberships)

    @property
    def can_manage_notifications(self) -> bool:
        return self.can(perms.MANAGE_NOTIFICATIONS)

    @property
    def can_view_activity(self) -> bool:
        return self.can(perms.VIEW_ACTIVITY)

    @property
    def via_partner(self) -> Partner | None:
        for membership in self.memberships:
            if membership.account_id is None:
                return membership.partner
        return None


def account_access(user: User | AnonymousUser | None, account: Account) -> AccountAccess | None:
    """The user's access to `account`, or None when no membership reaches it."""
    account_model = apps.get_model("tenancy", "Account")

    def reaches(membership: Membership) -> bool:
        if membership.account_id is not None:  # no query for the common case
            return membership.account_id == account.pk
        return account_model.objects.filter(reach_of(membership), pk=account.pk).exists()

    reaching = tuple(m for m in memberships_of(user) if reaches(m))
    return AccountAccess(account, reaching) if reaching else None


def forget_memberships(user: Any) -> None:
    """Drops the per-request membership cache after memberships changed."""
    if hasattr(user, "_membership_cache"):
        del user._membership_cache


def get_account_access(user: User | AnonymousUser | None, account_id: int, action: str) -> AccountAccess:
    """For views: 404 when the account is out of the user's reach, 403 when the role forbids."""
    account_model = apps.get_model("tenancy", "Account")
    account = account_model.objects.restrict(user, perms.VIEW).filter(pk=account_id).first()
    access = account_access(user, account) if account is not None else None
    if access is None:
        raise Http404("No such account")
    if not access.can(action):
        raise PermissionDenied(f"Your role does not allow: {perms.label_of(action)}")
    return access
