"""Subscribe, payment details, onboarding (being written)."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse


def _todo(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


account_subscribe = _todo
account_payment = _todo
partner_onboarding = _todo
partner_payment = _todo
