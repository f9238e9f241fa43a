"""POST /billing/webhooks/<gateway>/: payment outcomes the gateway reports.

Only the configured gateway is listened to (another name is a 404, so the sandbox cannot settle
invoices where Stripe takes the money). The gateway's signature is the only authentication; a
refused event is a bare 400, without saying why (the reason goes to the log). The same event
delivered twice changes nothing the second time (`payments.mark_paid` settles an invoice once).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from backstop.billing import payments
from backstop.billing.gateways import GATEWAYS, gateway
from backstop.billing.gateways.base import GatewayError

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # gateways' events are a few kilobytes


def deliver(gateway_name: str, body: bytes, headers: Mapping[str, str]) -> int:
    """Verifies and applies one webhook; the HTTP status to answer. Shared with the sandbox
    processor, which delivers its events in-process through here."""
    if gateway_name not in GATEWAYS or gateway_name != settings.BACKSTOP_PAYMENT_GATEWAY:
        return 404
    gw = gateway()
    try:
        event = gw.parse_webhook(body, {k.lower(): v for k, v in headers.items()})
    except GatewayError as exc:
        log.warning("%s webhook refused: %s", gateway_name, exc)
        return 400
    invoice = payments.apply_event(event, gw.name)
    log.info(
        "%s webhook %s %s: invoice %s",
        gateway_name,
        event.kind,
        event.reference[:40],
        invoice.number if invoice else "-",
    )
    return 200


@csrf_exempt
@require_POST
def receive(request: HttpRequest, gateway_name: str) -> HttpResponse:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return HttpResponse(status=400)
    if length > MAX_BODY:
        return HttpResponse(status=413)
    body = request.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return HttpResponse(status=413)
    return HttpResponse(status=deliver(gateway_name, body, request.headers))
