"""The sandbox processor's browser-facing endpoints: card tokenising (what Stripe.js does against
Stripe) and the hosted checkout page of payment links (what a PayPal or Stripe Checkout page does).

They answer only when the sandbox is the configured gateway: elsewhere they are a 404, so nobody
can settle an invoice without paying. Unlike the rest of `backstop.sandbox` this needs Django: it
is served by Backstop's own web process.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template import engines
from django.template.backends.base import BaseEngine
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from backstop.billing.money import CURRENCIES, format_money
from backstop.billing.webhook_views import deliver
from backstop.sandbox.payments import processor

MAX_TOKEN_REQUEST = 10 * 1024
TEMPLATES = Path(__file__).parent / "templates" / "sandbox_payments"
TEST_CARD = {"number": "4242 4242 4242 4242", "exp": "12/34", "cvc": "123"}


def _sandbox_only() -> None:
    if settings.BACKSTOP_PAYMENT_GATEWAY != "sandbox":
        raise Http404("The sandbox payment processor is off")


@csrf_exempt  # the processor's API, called by the card form's script like Stripe's API would be
@require_POST
def tokens(request: HttpRequest) -> JsonResponse:
    """JSON in: number, exp_month, exp_year, cvc, holder. Out: {"id": "tok_…"}, or
    {"error": {"message", "code"}} with 402 for a refused card (400 for a malformed request)."""
    _sandbox_only()
    body = request.read(MAX_TOKEN_REQUEST + 1)
    try:
        data = json.loads(body) if len(body) <= MAX_TOKEN_REQUEST else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return JsonResponse(
            {"error": {"message": "Send the card as a JSON object.", "code": "bad_request"}}, status=400
        )
    try:
        token = processor.tokenise(data)
    except processor.CardError as exc:
        return JsonResponse({"error": {"message": exc.message, "code": exc.code}}, status=402)
    return JsonResponse({"id": token})


@cache
def _template(name: str) -> Any:
    # backstop.sandbox is not a Django app, so its templates are read by path; `extends` still
    # finds the site's base.html through the configured loaders.
    engine: BaseEngine = engines["django"]
    return engine.from_string((TEMPLATES / name).read_text())


def _exp(text: str) -> tuple[str, str]:
    month, _, year = text.partition("/")
    return month.strip(), year.strip()


@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest, token: str) -> HttpResponse:
    """The hosted page a payment link opens: pay with the PayPal-style button or a test card. A
    payment is reported to Backstop by a signed webhook, then the payer goes back to return_url."""
    _sandbox_only()
    try:
        data = processor.read_checkout(token)
    except ValueError as exc:
        raise Http404("This payment page is not valid or has expired.") from exc
    currency = data["c"] if data.get("c") in CURRENCIES else "USD"
    reference = processor.link_reference(data["k"])
    context: dict[str, Any] = {
        "amount": format_money(int(data["a"]), currency),
        "description": data.get("d", ""),
        "return_url": data.get("r", ""),
        "card": TEST_CARD,
        "paid": processor.link_paid(reference),
    }
    status = 200
    if request.method == "POST" and not context["paid"]:
        error = ""
        if request.POST.get("method") == "card":
            month, year = _exp(request.POST.get("exp", ""))
            card = {"number": request.POST.get("number", ""), "exp_month": month, "exp_year": year}
            card["cvc"] = request.POST.get("cvc", "")
            context["card"] = {k: request.POST.get(k, "") for k in ("number", "exp", "cvc")}
            try:
                behaviour = processor.card_behaviour(card)
            except processor.CardError as exc:
                error = exc.message
            else:
                # A checkout resolves at once: a "pending" test card pays here.
                error = processor.DECLINED if behaviour == processor.CHARGE_DECLINED else ""
        elif request.POST.get("method") != "paypal":
            error = "Choose how to pay."
        if error:
            context["error"] = error
            status = 402
        else:
            _report_paid(reference, data.get("n"))
            if data.get("r"):
                return HttpResponseRedirect(data["r"])
            context["paid"] = True
    return HttpResponse(_template("checkout.html").render(context, request), status=status)


def _report_paid(reference: str, invoice_number: int | None) -> None:
    """Sends Backstop the signed payment_succeeded webhook, in-process through the webhook view's
    own code path (a real processor would POST it to /billing/webhooks/sandbox/)."""
    body, signature = processor.signed_event("payment_succeeded", reference, invoice_number)
    status = deliver("sandbox", body, {processor.SIGNATURE_HEADER: signature})
    if status != 200:
        raise RuntimeError(f"the sandbox webhook was refused ({status})")
    processor.mark_link_paid(reference)
