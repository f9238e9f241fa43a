"""Every account and partner page goes through these: scoping first, then the role's permission."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from backstop.audit import events
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Membership, Partner
from backstop.tenancy.scoping import AccountAccess, get_account_access

AccountView = Callable[Concatenate[HttpRequest, AccountAccess, ...], HttpResponse]
PartnerView = Callable[Concatenate[HttpRequest, Partner, Membership, ...], HttpResponse]


ACCESSED_KEY = "audit_accessed_accounts"


def _note_partner_visit(request: HttpRequest, access: AccountAccess) -> None:
    """A partner user opening a customer account is audited ("Account accessed") once per session
    and account, not per page; a direct member of the account is just at home."""
    partner = access.via_partner
    if partner is None or any(m.account_id == access.account.pk for m in access.memberships):
        return
    seen = request.session.get(ACCESSED_KEY, [])
    if access.account.pk in seen:
        return
    request.session[ACCESSED_KEY] = [*seen, access.account.pk]
    account = access.account
    text = f"Accessed account {account.name} ({account.email}) from the partner portal of {partner.name}"
    events.account_accessed(request, account, text, partner=partner)


def is_htmx(request: HttpRequest) -> bool:
    """True for an htmx request (django-htmx's middleware sets `request.htmx`)."""
    return bool(getattr(request, "htmx", False))


def account_view(action: str) -> Callable[[AccountView], Callable[..., HttpResponse]]:
    """Resolves `account_id` to the user's access (404 out of reach, 403 not allowed)."""

    def decorate(view: AccountView) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, account_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
            access = get_account_access(request.user, account_id, action)
            request.account_access = access  # type: ignore[attr-defined]
            if request.session.get("account_id") != access.account.pk:  # no session write per page
                request.session["account_id"] = access.account.pk
            _note_partner_visit(request, access)
            return view(request, access, *args, **kwargs)

        return wrapper

    return decorate


def partner_membership(user: Any, partner_id: int, action: str) -> tuple[Partner, Membership]:
    """The partner a portal URL names and the user's role that reaches it: the user's membership
    of that partner, or of a partner above it (a distributor's member opens a reseller's portal).
    404 when no role reaches the partner (a sibling, a parent, a stranger), 403 when the roles
    that reach it do not allow `action`. The nearest role that allows the action wins."""
    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is None or user is None or not user.is_authenticated or not user.is_active:
        raise Http404("No such partner")
    reaching = [
        m
        for m in Membership.objects.filter(user_id=user.pk, partner__isnull=False).select_related("partner")
        if m.partner is not None and partner.is_within(m.partner)
    ]
    if not reaching:
        raise Http404("No such partner")
    reaching.sort(key=lambda m: -len(m.partner.lineage) if m.partner else 0)  # the nearest first
    allowed = [m for m in reaching if m.allows(action)]
    if not allowed:
        raise PermissionDenied(f"Your role does not allow: {perms.label_of(action)}")
    membership = allowed[0]
    if membership.partner_id != partner.pk:
        # reach_of(membership) in the page then covers this partner's subtree, not the whole of
        # the ancestor's (the membership is the ancestor's own row: never save it from here).
        membership.portal_partner = partner  # type: ignore[attr-defined]
    return partner, membership


def partner_view(action: str) -> Callable[[PartnerView], Callable[..., HttpResponse]]:
    """Resolves `partner_id` to (partner, membership): the partner the page is about, and the
    user's role that reaches it (its own, or an ancestor's). Views read accounts through
    `reach_of(membership)`, which then covers that partner's subtree."""

    def decorate(view: PartnerView) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, partner_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
            partner, membership = partner_membership(request.user, partner_id, action)
            request.partner_membership = membership  # type: ignore[attr-defined]
            request.portal_partner = partner  # type: ignore[attr-defined]
            return view(request, partner, membership, *args, **kwargs)

        return wrapper

    return decorate
