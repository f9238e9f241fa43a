"""Where a person lands after signing in, and the health check operators poll."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from backstop.tenancy import permissions as perms
from tests.conftest import Personas
from tests.factories import UserFactory


def test_customer_lands_on_their_account(personas: Personas) -> None:
    response = personas.client(personas.alice).get(reverse("home"))
    assert response["Location"] == reverse("account_home", args=[personas.a.pk])


def test_partner_user_lands_on_the_partner_dashboard(personas: Personas) -> None:
    response = personas.client(personas.pat).get(reverse("home"))
    assert response["Location"] == reverse("partner_dashboard", args=[personas.partner.pk])


def test_partner_user_returns_to_the_account_they_opened_last(personas: Personas) -> None:
    pat = personas.client(personas.pat)
    pat.get(reverse("account_home", args=[personas.a.pk]))
    assert pat.get(reverse("home"))["Location"] == reverse("account_home", args=[personas.a.pk])


@pytest.mark.django_db
def test_a_user_without_any_membership_is_told_so() -> None:
    client = Client()
    client.force_login(UserFactory())
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert b"no backup account" in response.content


@pytest.mark.django_db
def test_anonymous_visitor_is_sent_to_sign_in(client: Client) -> None:
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.django_db
def test_health_check(client: Client) -> None:
    assert client.get(reverse("healthz")).json() == {"status": "ok"}


def test_static_assets_are_served_locally(personas: Personas, live_server: object) -> None:
    import urllib.request

    page = personas.client(personas.alice).get(reverse("account_home", args=[personas.a.pk])).content.decode()
    assert "cdn" not in page.lower()
    for asset in ("vendor/bootstrap/bootstrap.min.css", "vendor/bootstrap-icons/bootstrap-icons.min.css"):
        assert f"/static/{asset}" in page
        with urllib.request.urlopen(f"{live_server.url}/static/{asset}") as response:  # type: ignore[attr-defined]
            assert response.status == 200


def test_partner_user_without_the_dashboard_lands_on_an_account(personas: Personas) -> None:
    personas.pat_membership.operations = [perms.VIEW_SUPPORT]
    personas.pat_membership.save()
    response = personas.client(personas.pat).get(reverse("home"))
    assert response["Location"] == reverse("account_home", args=[personas.a.pk])


@pytest.mark.django_db
def test_operator_admin_signs_in_through_the_rate_limited_page(client: Client) -> None:
    response = client.get("/ops/admin/login/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
