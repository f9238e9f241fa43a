"""Billing status, bills, history (being written)."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse


def _todo(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


account_status = _todo
account_unpaid = _todo
account_history = _todo
account_invoice_pdf = _todo
account_receipt_pdf = _todo
account_pay = _todo
account_email_invoice = _todo
partner_status = _todo
partner_account = _todo
partner_history = _todo
partner_unpaid = _todo
partner_invoice_pdf = _todo
partner_receipt_pdf = _todo
partner_invoice_csv = _todo
partner_pay = _todo
partner_email_invoice = _todo
