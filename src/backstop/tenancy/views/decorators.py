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


def partner_view(action: str) -> Callable[[PartnerView], Callable[..., HttpResponse]]:
    def decorate(view: PartnerView) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, partner_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
            membership = (
                Membership.objects.filter(user_id=request.user.pk or 0, partner_id=partner_id)
                .select_related("partner")
                .first()
            )
            if membership is None or membership.partner is None:
                raise Http404("No such partner")
            if not membership.allows(action):
                raise PermissionDenied(f"Your role does not allow: {perms.label_of(action)}")
            request.partner_membership = membership  # type: ignore[attr-defined]
            return view(request, membership.partner, membership, *args, **kwargs)

        return wrapper

    return decorate
