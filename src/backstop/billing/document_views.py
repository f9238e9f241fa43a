"""The signed links of billing e-mails: an invoice, a receipt or a consolidated bill's CSV.

No sign-in: the billing e-mail need not belong to a user. The token is the whole permission; it
names one invoice and one kind of document and expires after 90 days (`documents.read_token`).
Every refusal is the same 404, so a guessed or altered link learns nothing."""

from __future__ import annotations

from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from backstop.billing import documents
from backstop.billing.models import Invoice


@require_safe
@never_cache  # private and no-store: a bill is nobody else's business, proxies included
def download(request: HttpRequest, token: str) -> HttpResponse:
    try:
        number, kind = documents.read_token(token)
    except signing.BadSignature:
        raise Http404 from None
    invoice = get_object_or_404(Invoice, number=number)
    if kind == "receipt":
        if invoice.status != Invoice.Status.PAID:
            raise Http404
        content, filename, mimetype = (
            documents.receipt_pdf(invoice),
            f"receipt-{number}.pdf",
            "application/pdf",
        )
    elif kind == "csv":
        content, filename, mimetype = (
            documents.consolidated_csv(invoice),
            f"bill-{number}.csv",
            "text/csv; charset=utf-8",
        )
    else:
        content, filename, mimetype = (
            documents.invoice_pdf(invoice),
            f"invoice-{number}.pdf",
            "application/pdf",
        )
    response = HttpResponse(content, content_type=mimetype)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Referrer-Policy"] = "no-referrer"
    return response
