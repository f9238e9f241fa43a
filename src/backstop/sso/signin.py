"""Who may sign in through an account's identity provider (called from accounts.adapter).

A SAML sign-in never creates a user or a customer account: the assertion must name an existing
user whose roles are all on the account that owns the IdP, and whose address is already
confirmed. An IdP never confirms an address itself: its administrators could add anybody's
address as a user and assert it, taking that address from its owner.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from allauth.account.models import EmailAddress
from allauth.core.exceptions import ImmediateHttpResponse
from django.http import HttpRequest
from django.shortcuts import render

from backstop.sso import services

logger = logging.getLogger(__name__)


def refuse(request: HttpRequest, reason: str) -> NoReturn:
    logger.warning("SAML sign-in refused: %s", reason)
    raise ImmediateHttpResponse(render(request, "sso/refused.html", {"reason": reason}, status=403))


def asserted_email(sociallogin: Any) -> str:
    """The e-mail attribute, else the NameID when it is an address."""
    for address in sociallogin.email_addresses:
        if address.email:
            return str(address.email)
    uid = str(sociallogin.account.uid or "")
    return uid if "@" in uid else ""


def pre_social_login(request: HttpRequest, sociallogin: Any) -> None:
    connection = services.connection_for_slug(sociallogin.provider.app.client_id)
    if connection is None:
        refuse(request, "Single sign-on is not active for this account.")
    try:
        member = services.member_for(connection, asserted_email(sociallogin))
    except services.Refused as exc:
        refuse(request, str(exc))
    if sociallogin.is_existing and sociallogin.user.pk != member.pk:
        refuse(request, "This identity is linked to another user. Ask your administrator.")
    if not EmailAddress.objects.filter(user=member, email__iexact=member.email, verified=True).exists():
        refuse(
            request,
            "Confirm your e-mail address first with the link in your invitation e-mail, "
            "then sign in with single sign-on.",
        )
    if not sociallogin.is_existing:
        sociallogin.connect(request, member)
