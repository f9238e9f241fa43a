"""The "Access Denied" answer to a request from an address a tenant does not trust, recorded in
that tenant's Security Audit (once per address and user every ten minutes, not per request)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from backstop.audit import events
from backstop.audit.models import AuditEvent
from backstop.security.client import Address
from backstop.security.models import SecurityPolicy

RECORD_EVERY = 600


def access_denied(
    request: HttpRequest, user: Any, refused: Sequence[SecurityPolicy], address: Address | None
) -> HttpResponse:
    shown = str(address) if address else "unknown"
    for policy in refused:
        tenant = policy.account or policy.partner
        assert tenant is not None
        if cache.add(f"security:denied:{policy.pk}:{user.pk}:{shown}", 1, RECORD_EVERY):
            events.access_denied(
                request,
                tenant,
                f"{user.email} was refused from {shown}: not a trusted address",
                status=AuditEvent.Status.FAILED,
                user=user,  # at sign-in the request is not signed in yet
            )
    return render(request, "security/access_denied.html", {"address": shown}, status=403)
