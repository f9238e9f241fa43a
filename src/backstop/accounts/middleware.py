"""allauth installs URLs for every provider; a provider without client id and secret has no app
and would answer with a server error. Such a sign-in method simply does not exist: 404."""

from __future__ import annotations

from collections.abc import Callable

from allauth.socialaccount.models import SocialApp
from django.http import Http404, HttpRequest, HttpResponse


class UnconfiguredProviderMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, SocialApp.DoesNotExist):
            raise Http404("This sign-in method is not configured.")
        return None
