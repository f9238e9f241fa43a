"""Navigation for the base layout: which tenant is open and which menu entries the role allows.

Entries appear only for pages that exist and that the role may open; the views enforce the same
permissions on their own (a hidden menu entry is never the protection)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import AccountAccess, account_access, memberships_of


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    icon: str
    url: str
    section: str
    external: bool = False  # another site (Partner Zone, Support): opens in a new tab


def _account_nav(access: AccountAccess) -> list[NavItem]:
    pk = access.account.pk
    items = [NavItem("Homepage", "house", reverse("account_home", args=[pk]), "home")]
    if access.can(perms.VIEW_TASKS):
        items.append(NavItem("Jobs", "list-check", reverse("account_jobs", args=[pk]), "account_jobs"))
    if any(access.can(a) for a in (perms.RESTORE, perms.EXPORT, perms.PREVIEW_DATA)):
        url = reverse("recovery", args=[pk])
        items.append(NavItem("Recovery", "arrow-counterclockwise", url, "recovery"))
    if access.can(perms.VIEW_ACTIVITY):
        items.append(NavItem("Activity", "activity", reverse("account_activity", args=[pk]), "activity"))
    if access.account.partner_id is None and access.can(perms.VIEW_BILLING):  # a partner bills the others
        url = reverse("billing_account_status", args=[pk])
        items.append(NavItem("Billing", "credit-card", url, "billing"))
    if access.can(perms.VIEW_SETTINGS) or access.can(perms.MANAGE_USERS):
        items.append(NavItem("Settings", "gear", reverse("account_settings", args=[pk]), "settings"))
    if access.can(perms.VIEW_SUPPORT):
        items.append(NavItem("Support", "life-preserver", reverse("account_support", args=[pk]), "support"))
    return items


def _partner_nav(membership: Membership, partner: Partner, has_resellers: bool) -> list[NavItem]:
    """The portal of `partner`, for a role of it or of a partner above it (a distributor's)."""
    pk = partner.pk
    items = [NavItem("Dashboard", "speedometer2", reverse("partner_dashboard", args=[pk]), "dashboard")]
    if has_resellers and membership.allows(perms.PARTNER_VIEW_DASHBOARD):
        url = reverse("partner_resellers", args=[pk])
        items.append(NavItem("Resellers", "diagram-3", url, "partner_resellers"))
    if membership.allows(perms.PARTNER_VIEW_AUDIT):
        url = reverse("partner_audit", args=[pk])
        items.append(NavItem("Security Audit", "shield-lock", url, "partner_audit"))
    if membership.allows(perms.PARTNER_VIEW_BILLING):
        url = reverse("billing_partner_status", args=[pk])
        items.append(NavItem("Billing", "credit-card", url, "billing"))
    if membership.allows(perms.PARTNER_VIEW_SETTINGS):
        items.append(NavItem("Settings", "gear", reverse("partner_settings", args=[pk]), "settings"))
    elif membership.allows(perms.PARTNER_NOTIFICATIONS):
        url = reverse("partner_notifications", args=[pk])
        items.append(NavItem("Settings", "gear", url, "settings"))
    items.append(NavItem("Learning Hub", "mortarboard", reverse("partner_hub", args=[pk]), "partner_hub"))
    if settings.BACKSTOP_PARTNER_ZONE_URL:
        items.append(NavItem("Partner Zone", "people", settings.BACKSTOP_PARTNER_ZONE_URL, "", external=True))
    support = settings.BACKSTOP_SUPPORT_URL or f"mailto:{settings.BACKSTOP_SUPPORT_EMAIL}"
    items.append(NavItem("Support", "life-preserver", support, "", external=True))
    return items


@dataclass(frozen=True, slots=True)
class PartnerVisit:
    """A partner user working inside a customer account: who, for which partner, and the way back."""

    partner: Partner  # the partner the user's role belongs to
    back_to: Partner  # the portal the account is listed in (the account's partner, or the role's)
    back_url: str  # "" when the role may not open the dashboard


def _partner_visit(access: AccountAccess) -> PartnerVisit | None:
    """Set when the user reaches the account only through a partner role (not as its member)."""
    if any(m.account_id == access.account.pk for m in access.memberships):
        return None
    membership = next((m for m in access.memberships if m.partner is not None), None)
    if membership is None or membership.partner is None:
        return None
    back_to = access.account.partner or membership.partner  # a reseller's, for a distributor's user
    can_go_back = membership.allows(perms.PARTNER_VIEW_DASHBOARD)
    back_url = reverse("partner_dashboard", args=[back_to.pk]) if can_go_back else ""
    return PartnerVisit(membership.partner, back_to, back_url)


NAV_PARTNERS_SHOWN = 30  # the user menu lists a distributor's resellers up to this many


def _has_resellers(portal: Partner, fetched: list[Partner], cut: bool) -> bool:
    """Whether the portal's partner has a partner below it: read from the menu's partners when
    they are all there (no query), else asked."""
    if any(p.parent_id == portal.pk for p in fetched):
        return True
    return cut and Partner.objects.filter(parent_id=portal.pk).exists()


def _all_resellers_url(fetched: list[Partner], own: set[int | None]) -> str:
    """The Resellers page of the user's first own partner with partners below it (in the menu's
    order, a partner comes right before its subtree); "" when none shows one."""
    for partner in fetched:
        if partner.pk in own and any(p.parent_id == partner.pk for p in fetched):
            return reverse("partner_resellers", args=[partner.pk])
    return ""


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    access: AccountAccess | None = getattr(request, "account_access", None)
    membership = getattr(request, "partner_membership", None)
    if access is None and membership is None and request.session.get("account_id"):
        account = Account.objects.restrict(user, perms.VIEW).filter(pk=request.session["account_id"]).first()
        access = account_access(user, account) if account else None
        request.nav_account_access = access  # type: ignore[attr-defined]  # for the billing banner
    reachable = Partner.objects.restrict(user, perms.PARTNER_VIEW_DASHBOARD).order_by("lineage", "name")
    fetched = list(reachable[: NAV_PARTNERS_SHOWN + 1])  # one more tells that the list is cut
    partners = fetched[:NAV_PARTNERS_SHOWN]
    own = {m.partner_id for m in memberships_of(user)}
    for partner in partners:
        partner.nav_below = partner.pk not in own  # type: ignore[attr-defined]  # indented under its parent
    context: dict[str, Any] = {"nav_partners": partners}
    if len(fetched) > NAV_PARTNERS_SHOWN:
        context["nav_all_resellers"] = _all_resellers_url(fetched, own)
    if membership is not None:
        portal = getattr(request, "portal_partner", None) or membership.partner
        has_resellers = _has_resellers(portal, fetched, cut=len(fetched) > NAV_PARTNERS_SHOWN)
        context.update(nav_partner=portal, nav_items=_partner_nav(membership, portal, has_resellers))
        if membership.partner_id != portal.pk:  # a distributor's user in a reseller's portal
            context["nav_portal_parent"] = membership.partner
    elif access is not None:
        context.update(nav_access=access, nav_account=access.account, nav_items=_account_nav(access))
        visit = _partner_visit(access)
        context["nav_partner_visit"] = visit
        context["nav_back_to_partner"] = visit.back_to if visit and visit.back_url else None
    section = ""
    match = getattr(request, "resolver_match", None)
    if match and match.url_name:
        name = match.url_name
        section = "settings" if "settings" in request.path or name.startswith("account_user") else name
        if name.startswith("backup_"):  # backup task pages open from the homepage
            section = "home"
        if name.startswith("recovery"):  # an entity, a snapshot, the restore and export forms
            section = "recovery"
        if name in ("account_activity", "account_activity_info", "account_audit"):  # the two tabs
            section = "activity"
        if name.startswith("mfa_") or name == "account_set_password":  # under Settings > Security
            section = "settings"
        if name.startswith("billing_"):  # status, bills, history, payment details, onboarding
            section = "billing"
        section = {
            "account_home": "home",
            "account_support": "support",
            "partner_dashboard": "dashboard",
            "account_change_password": "settings",
        }.get(name, section)
    context["nav_section"] = section
    return context
