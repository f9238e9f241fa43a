"""Google and Microsoft sign-in are wired to the providers' real endpoints when configured."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _configure(settings: object) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = {  # type: ignore[attr-defined]
        "google": {"APPS": [{"client_id": "g-client", "secret": "g-secret"}], "SCOPE": ["profile", "email"]},
        "microsoft": {
            "APPS": [{"client_id": "m-client", "secret": "m-secret", "settings": {"tenant": "contoso-id"}}]
        },
    }


def test_google_sign_in_redirects_to_google_with_our_client_id(client: Client, settings: object) -> None:
    _configure(settings)
    response = client.post("/auth/google/login/")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.netloc == "accounts.google.com"
    query = parse_qs(target.query)
    assert query["client_id"] == ["g-client"]
    assert query["redirect_uri"][0].endswith("/auth/google/login/callback/")


def test_microsoft_sign_in_uses_the_configured_tenant(client: Client, settings: object) -> None:
    _configure(settings)
    response = client.post("/auth/microsoft/login/")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.netloc == "login.microsoftonline.com"
    assert target.path.startswith("/contoso-id/oauth2/v2.0/authorize")
    assert parse_qs(target.query)["client_id"] == ["m-client"]


def test_unconfigured_provider_cannot_be_used(client: Client, settings: object) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = {}  # type: ignore[attr-defined]
    assert client.post("/auth/google/login/").status_code == 404
    assert client.post("/auth/microsoft/login/").status_code == 404
