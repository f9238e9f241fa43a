"""The "Pay online" link of invoice e-mails: signed, no sign-in needed (the billing contact may not
be a user), it opens the gateway's hosted payment page (card or PayPal-style) for an open invoice.
The gateway's page is created on click, so an e-mail costs no gateway call."""

from __future__ import annotations

from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from backstop.billing import payments
from backstop.billing.gateways.base import GatewayError
from backstop.billing.models import Invoice
from backstop.notify.mailer import absolute

SALT = "billing-pay-link"
MAX_AGE = 120 * 24 * 3600  # an invoice is due in 30 days; the link outlives a late payment


def pay_link(invoice: Invoice) -> str:
    token = signing.dumps({"n": invoice.number}, salt=SALT, compress=True)
    return absolute(reverse("billing_pay_link", args=[token]))


def pay(request: HttpRequest, token: str) -> HttpResponse:
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature as exc:
        raise Http404("This payment link is not valid or has expired.") from exc
    invoice = Invoice.objects.filter(number=data.get("n")).first()
    if invoice is None or invoice.status == Invoice.Status.VOID:
        raise Http404("No such invoice")
    if invoice.status == Invoice.Status.PAID:
        return render(request, "billing/paid.html", {"invoice": invoice}, status=200)
    try:
        url = payments.payment_link(invoice, return_url=absolute(request.path))
    except GatewayError as exc:
        return render(request, "billing/paid.html", {"invoice": invoice, "error": str(exc)}, status=502)
    return HttpResponseRedirect(url)
