"""Settings > Security policies for all users (A-SECURITY): enforced two-factor authentication,
password expiration, and who may change them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.urls import reverse
from django.utils import timezone

from backstop.audit.models import AuditEvent
from backstop.security.models import SecurityPolicy
from tests.conftest import PASSWORD, Personas

pytestmark = pytest.mark.django_db


def save_policy(personas: Personas, **fields: str) -> object:
    alice = personas.client(personas.alice)
    return alice.post(reverse("account_security", args=[personas.a.pk]), fields)


def test_an_administrator_enforces_2fa_and_users_without_it_are_led_to_set_it_up(personas: Personas) -> None:
    assert save_policy(personas, require_mfa="on").status_code == 302
    assert SecurityPolicy.objects.get(account=personas.a).require_mfa
    event = AuditEvent.objects.get(account=personas.a, activity="security_changed")
    assert event.description == (
        "Password policies: 2FA optional, passwords do not expire → 2FA enforced, passwords do not expire"
    )

    bob = personas.client(personas.bob)
    home = reverse("account_home", args=[personas.a.pk])
    response = bob.get(home)
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")
    # allauth's own pages stay open so that Bob can do it (and sign out).
    assert bob.get(reverse("mfa_activate_totp")).status_code in (200, 302)
    TOTP.activate(personas.bob, generate_totp_secret())
    assert bob.get(home).status_code == 200
    # Charlie, in another account, is not concerned.
    assert (
        personas.client(personas.charlie).get(reverse("account_home", args=[personas.b.pk])).status_code
        == 200
    )


def test_an_expired_password_must_be_changed_before_anything_else(personas: Personas) -> None:
    assert save_policy(personas, expire_passwords="on", password_max_age_days="30").status_code == 302
    personas.bob.password_changed_at = timezone.now() - timedelta(days=31)
    personas.bob.save()
    bob = personas.client(personas.bob)
    home = reverse("account_home", args=[personas.a.pk])
    response = bob.get(home)
    assert response.status_code == 302 and response["Location"] == reverse("account_change_password")

    change = reverse("account_change_password")
    wrong = bob.post(
        change, {"oldpassword": "not-it", "password1": "n3w-Secret-phrase", "password2": "n3w-Secret-phrase"}
    )
    assert wrong.status_code == 200 and b"Please type your current password" in wrong.content
    weak = bob.post(change, {"oldpassword": PASSWORD, "password1": "12345678", "password2": "12345678"})
    assert weak.status_code == 200 and b"too short" in weak.content
    done = bob.post(
        change, {"oldpassword": PASSWORD, "password1": "n3w-Secret-phrase", "password2": "n3w-Secret-phrase"}
    )
    assert done.status_code == 302
    assert bob.get(home).status_code == 200
    personas.bob.refresh_from_db()
    assert personas.bob.password_changed_at > timezone.now() - timedelta(minutes=1)

    # Alice's password is fresh; turning expiration off lets the old ones be.
    assert personas.client(personas.alice).get(home).status_code == 200


def test_the_policy_form_validates_and_only_administrators_save_it(personas: Personas) -> None:
    response = save_policy(personas, expire_passwords="on", password_max_age_days="")
    assert response.status_code == 200 and b"Enter after how many days passwords expire." in response.content
    response = save_policy(personas, expire_passwords="on", password_max_age_days="0")
    assert response.status_code == 200 and not SecurityPolicy.objects.exists()

    bob = personas.client(personas.bob)
    page = bob.get(reverse("account_security", args=[personas.a.pk]))
    assert page.status_code == 200 and b"Only administrators change these policies." in page.content
    assert (
        bob.post(reverse("account_security", args=[personas.a.pk]), {"require_mfa": "on"}).status_code == 403
    )
    assert not SecurityPolicy.objects.exists()
    charlie = personas.client(personas.charlie)
    assert charlie.get(reverse("account_security", args=[personas.a.pk])).status_code == 404


def test_the_security_page_shows_the_users_own_2fa_and_links_to_set_it_up(personas: Personas) -> None:
    alice = personas.client(personas.alice)
    page = alice.get(reverse("account_security", args=[personas.a.pk])).content.decode()
    assert 'data-testid="mfa-off"' in page and reverse("mfa_activate_totp") in page
    TOTP.activate(personas.alice, generate_totp_secret())
    page = alice.get(reverse("account_security", args=[personas.a.pk])).content.decode()
    assert 'data-testid="mfa-on"' in page and reverse("mfa_view_recovery_codes") in page
