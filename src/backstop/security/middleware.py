"""Applies the tenants' security settings to every signed-in request: trusted addresses first
("Access Denied"), then an expired password, then enforced two-factor authentication. The last
two lead to the page that fixes them; allauth's own pages (change password, set up 2FA, sign
out) stay open so that they can.

Most pages name their tenant in the URL (`account_id`, `partner_id`). A view that finds its
account another way (a signed link, an OAuth state) calls `enforce(request, account_id=…)`
itself once it knows the account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from backstop.security import denial
from backstop.security.client import client_address
from backstop.security.policy import demands, has_mfa

ALWAYS_OPEN = {"account_logout"}


def enforce(
    request: HttpRequest,
    account_id: int | None = None,
    partner_id: int | None = None,
    fixes_only: bool = False,
) -> HttpResponse | None:
    """The answer that stops this request, or None to let it through. `fixes_only`: the page is
    where an expired password or missing 2FA gets fixed, so only addresses are checked."""
    user = request.user
    found = demands(user, account_id, partner_id)
    address = client_address(request)
    refused = found.denies(address)
    if refused:
        return denial.access_denied(request, user, refused, address)
    if fixes_only:
        return None
    if found.password_expired(user):
        messages.warning(request, "Your password has expired. Choose a new one to continue.")
        return redirect("account_change_password")
    if found.mfa and not has_mfa(user):
        messages.warning(
            request, "Two-factor authentication is required for your account. Set it up to continue."
        )
        return redirect("mfa_activate_totp")
    return None


class SecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        match = request.resolver_match
        if match is not None and match.url_name in ALWAYS_OPEN:
            return None
        return enforce(
            request,
            kwargs.get("account_id"),
            kwargs.get("partner_id"),
            fixes_only=getattr(view, "__module__", "").startswith("allauth."),
        )
