"""Settings > Account (A-ACCOUNT): rename, e-mail change by confirmation link, removal with grace."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.core import signing
from django.urls import reverse
from django.utils import timezone

from backstop.accounts.models import User
from backstop.tenancy.models import Account
from backstop.tenancy.services import purge_removed_accounts
from backstop.tenancy.views.account import EMAIL_CHANGE_SALT
from tests.conftest import Personas
from tests.helpers import last_link


def test_admin_renames_the_account(personas: Personas) -> None:
    url = reverse("account_settings", args=[personas.a.pk])
    response = personas.client(personas.alice).post(url, {"name": "Acme Holdings", "email": personas.a.email})
    assert response.status_code == 302
    personas.a.refresh_from_db()
    assert personas.a.name == "Acme Holdings"


def test_blank_name_or_bad_email_is_refused(personas: Personas) -> None:
    url = reverse("account_settings", args=[personas.a.pk])
    response = personas.client(personas.alice).post(url, {"name": "", "email": "not an address"})
    assert response.status_code == 200
    assert b"This field is required" in response.content
    personas.a.refresh_from_db()
    assert personas.a.name == "Acme"


def test_new_email_takes_effect_only_after_its_link_is_opened(personas: Personas, outbox: Path) -> None:
    old = personas.a.email
    alice = personas.client(personas.alice)
    alice.post(reverse("account_settings", args=[personas.a.pk]), {"name": "Acme", "email": "it@acme.test"})
    personas.a.refresh_from_db()
    assert (personas.a.email, personas.a.pending_email) == (old, "it@acme.test")
    link = last_link(outbox, "it@acme.test", "/settings/email/")
    assert alice.get(link).status_code == 302
    personas.a.refresh_from_db()
    assert (personas.a.email, personas.a.pending_email) == ("it@acme.test", "")
    alice.get(link)  # a second use changes nothing
    personas.a.refresh_from_db()
    assert personas.a.email == "it@acme.test"


def test_email_link_is_refused_when_expired_tampered_or_for_another_account(
    personas: Personas,
) -> None:
    Account.objects.filter(pk=personas.a.pk).update(pending_email="it@acme.test")
    alice = personas.client(personas.alice)
    tampered = signing.dumps({"account": personas.a.pk, "email": "it@acme.test"}, salt="other")
    other = signing.dumps({"account": personas.b.pk, "email": "it@acme.test"}, salt=EMAIL_CHANGE_SALT)
    for token in (tampered, other):
        alice.get(reverse("account_email_confirm", args=[personas.a.pk, token]))
    personas.a.refresh_from_db()
    assert personas.a.email != "it@acme.test"
    # Charlie cannot use a valid link for Acme either.
    valid = signing.dumps({"account": personas.a.pk, "email": "it@acme.test"}, salt=EMAIL_CHANGE_SALT)
    url = reverse("account_email_confirm", args=[personas.a.pk, valid])
    assert personas.client(personas.charlie).get(url).status_code == 404


def test_email_link_older_than_a_day_is_refused(personas: Personas, monkeypatch: object) -> None:
    import time

    Account.objects.filter(pk=personas.a.pk).update(pending_email="it@acme.test")
    token = signing.dumps({"account": personas.a.pk, "email": "it@acme.test"}, salt=EMAIL_CHANGE_SALT)
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + 25 * 3600)  # type: ignore[attr-defined]
    response = personas.client(personas.alice).get(
        reverse("account_email_confirm", args=[personas.a.pk, token])
    )
    assert response.status_code == 302
    personas.a.refresh_from_db()
    assert (personas.a.email, personas.a.pending_email) != ("it@acme.test", "")


def test_removal_needs_the_approval_tick_and_the_confirmation(personas: Personas) -> None:
    url = reverse("account_remove", args=[personas.a.pk])
    alice = personas.client(personas.alice)
    alice.post(url, {"confirm": "yes"})
    alice.post(url, {"approve": "on", "confirm": "no"})
    personas.a.refresh_from_db()
    assert personas.a.removal_requested_at is None
    alice.post(url, {"approve": "on", "confirm": "yes"})
    personas.a.refresh_from_db()
    assert personas.a.removal_requested_at is not None
    page = alice.get(reverse("account_settings", args=[personas.a.pk]))
    assert b"Cancel the removal" in page.content


def test_removal_can_be_cancelled_during_the_grace(personas: Personas) -> None:
    alice = personas.client(personas.alice)
    alice.post(reverse("account_remove", args=[personas.a.pk]), {"approve": "on", "confirm": "yes"})
    alice.post(reverse("account_remove_cancel", args=[personas.a.pk]))
    personas.a.refresh_from_db()
    assert personas.a.removal_requested_at is None


def test_data_is_kept_for_seven_days_then_purged(personas: Personas) -> None:
    Account.objects.filter(pk=personas.a.pk).update(removal_requested_at=timezone.now() - timedelta(days=6))
    assert purge_removed_accounts() == []
    assert Account.objects.filter(pk=personas.a.pk).exists()
    Account.objects.filter(pk=personas.a.pk).update(
        removal_requested_at=timezone.now() - timedelta(days=7, minutes=1)
    )
    assert purge_removed_accounts() == [personas.a.pk]
    assert not Account.objects.filter(pk=personas.a.pk).exists()
    # Alice and Bob had access to Acme only; Pat keeps the partner; Charlie is untouched.
    assert not User.objects.filter(email__in=["alice@acme.test", "bob@acme.test"]).exists()
    assert User.objects.filter(email__in=["pat@northwind.test", "charlie@globex.test"]).count() == 2
    assert Account.objects.filter(pk=personas.b.pk).exists()


def test_purge_spares_staff_and_a_cancelled_removal_cannot_outlive_the_grace(personas: Personas) -> None:
    from backstop.tenancy.services import cancel_removal

    User.objects.filter(pk=personas.alice.pk).update(is_staff=True)
    Account.objects.filter(pk=personas.a.pk).update(removal_requested_at=timezone.now() - timedelta(days=8))
    personas.a.refresh_from_db()
    assert cancel_removal(personas.a) is False
    assert purge_removed_accounts() == [personas.a.pk]
    assert User.objects.filter(pk=personas.alice.pk).exists()
