"""allauth's SAML provider, plus what python3-saml leaves to us: a response is accepted once.

allauth discovers providers through each app's `provider` module in INSTALLED_APPS order; this
app comes after allauth's SAML app, so this class replaces it under the same id ("saml") while its
URLs stay allauth's (`package`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.providers.saml.provider import SAMLProvider as AllauthSAMLProvider
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.shortcuts import render
from django.utils import timezone

from backstop.sso.models import UsedAssertion

# python3-saml accepts timestamps up to this much past their NotOnOrAfter (its clock drift).
CLOCK_DRIFT = timedelta(seconds=300)
# Kept at least this long when the assertion gives no NotOnOrAfter of its own.
DEFAULT_KEEP = timedelta(hours=1)


class SAMLProvider(AllauthSAMLProvider):
    package = "allauth.socialaccount.providers.saml"

    def sociallogin_from_response(self, request: HttpRequest, response: Any) -> Any:
        # Called by allauth only once the response's signature, dates, audience and destination
        # were checked: what is remembered here is always a genuine response.
        if not remember(response):
            raise ImmediateHttpResponse(
                render(
                    request,
                    "sso/refused.html",
                    {"reason": "This sign-in response was already used. Sign in again from the start."},
                    status=403,
                )
            )
        return super().sociallogin_from_response(request, response)


def remember(auth: Any) -> bool:
    """Records the response's and the assertion's ids; False when either was seen before."""
    issuer = str(auth.get_settings().get_idp_data().get("entityId", ""))
    not_on_or_after = auth.get_last_assertion_not_on_or_after()
    now = timezone.now()
    if not_on_or_after:
        expires = datetime.fromtimestamp(int(not_on_or_after), tz=UTC) + CLOCK_DRIFT
    else:
        expires = now + DEFAULT_KEEP
    expires = max(expires, now + CLOCK_DRIFT)
    ids = [f"response:{auth.get_last_message_id()}", f"assertion:{auth.get_last_assertion_id()}"]
    UsedAssertion.objects.filter(expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            for value in ids:
                key = hashlib.sha256(f"{issuer}\n{value}".encode()).hexdigest()
                UsedAssertion.objects.create(key=key, expires_at=expires)
    except IntegrityError:
        return False
    return True


provider_classes = [SAMLProvider]
