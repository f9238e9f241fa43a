"""Partner Settings > Account (P-SETTINGS): read with "View partner portal settings", changed by
administrators only, every change audited; another tenant gets 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from backstop.accounts.models import User
from backstop.audit.models import AuditEvent
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Membership
from tests.conftest import Personas
from tests.factories import AccountFactory, MembershipFactory, PartnerFactory, UserFactory

CHANGES = {
    "email": "office@northwind.test",
    "name": "Northwind IT Services",
    "address": "1 Harbour Road, Portsmouth",
    "phone": "+44 20 7946 0000",
    "default_subscription_kind": "trial_auto",
    "default_subscription_plan": "annual",
}


@pytest.fixture
def nora(personas: Personas) -> User:
    """Administrator of the partner Northwind IT."""
    user = UserFactory(email="nora@northwind.test", first_name="Nora", last_name="Quinn")
    MembershipFactory(user=user, partner=personas.partner, role=Membership.Role.ADMIN)
    return user


def url(personas: Personas) -> str:
    return reverse("partner_settings", args=[personas.partner.pk])


def test_the_page_shows_the_partner_id_archive_location_and_details(personas: Personas, nora: User) -> None:
    page = personas.client(nora).get(url(personas)).content.decode()
    assert personas.partner.code in page
    assert personas.partner.get_region_display() in page
    assert personas.partner.email in page
    for tab in ("Account", "Users", "Security"):
        assert f">{tab}</a>" in page
    assert 'data-testid="save-partner-settings"' in page


def test_an_administrator_saves_and_the_audit_names_each_change(personas: Personas, nora: User) -> None:
    response = personas.client(nora).post(url(personas), CHANGES)
    assert response.status_code == 302
    personas.partner.refresh_from_db()
    assert personas.partner.name == "Northwind IT Services"
    assert personas.partner.email == "office@northwind.test"
    assert (personas.partner.default_subscription_kind, personas.partner.default_subscription_plan) == (
        "trial_auto",
        "annual",
    )
    event = AuditEvent.objects.get(partner=personas.partner, activity="settings_changed")
    assert event.account is None
    assert event.performed_by == nora.email
    assert "Partner name: 'Northwind IT' -> 'Northwind IT Services'" in event.description
    assert "Phone number: '' -> '+44 20 7946 0000'" in event.description
    assert "'Trial with expiration' -> 'Trial with auto-subscription'" in event.description
    assert "'Monthly' -> 'Annual'" in event.description

    # Saving again without changes audits nothing more; a trial with expiration keeps the plan.
    personas.client(nora).post(url(personas), CHANGES)
    assert AuditEvent.objects.filter(partner=personas.partner, activity="settings_changed").count() == 1
    trial = {k: v for k, v in CHANGES.items() if k != "default_subscription_plan"}
    personas.client(nora).post(url(personas), {**trial, "default_subscription_kind": "trial"})
    personas.partner.refresh_from_db()
    assert (personas.partner.default_subscription_kind, personas.partner.default_subscription_plan) == (
        "trial",
        "annual",
    )


def test_a_user_who_may_view_settings_reads_but_cannot_change(personas: Personas) -> None:
    personas.pat_membership.operations = [*personas.pat_membership.operations, perms.PARTNER_VIEW_SETTINGS]
    personas.pat_membership.save()
    pat = personas.client(personas.pat)
    page = pat.get(url(personas))
    assert page.status_code == 200
    content = page.content.decode()
    assert personas.partner.code in content
    assert "Only administrators change these settings" in content
    assert 'data-testid="save-partner-settings"' not in content
    assert ">Users</a>" not in content  # user management is for administrators
    assert pat.post(url(personas), CHANGES).status_code == 403
    personas.partner.refresh_from_db()
    assert personas.partner.name == "Northwind IT"
    assert not AuditEvent.objects.filter(activity="settings_changed").exists()


def test_a_role_without_view_settings_gets_403(personas: Personas) -> None:
    assert personas.client(personas.pat).get(url(personas)).status_code == 403


def test_another_tenant_gets_404(personas: Personas) -> None:
    other = PartnerFactory(name="Contoso Partners")
    AccountFactory(name="Fabrikam", partner=other)
    olga = UserFactory(email="olga@contoso.test")
    MembershipFactory(user=olga, partner=other, role=Membership.Role.ADMIN)
    for user in (olga, personas.alice, personas.charlie):  # another partner, customers of the partner
        client = personas.client(user)
        assert client.get(url(personas)).status_code == 404
        assert client.post(url(personas), CHANGES).status_code == 404
    assert Client().get(url(personas)).status_code == 302  # to the sign-in page
    personas.partner.refresh_from_db()
    assert personas.partner.name == "Northwind IT"
