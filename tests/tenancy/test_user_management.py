"""Settings > User management (A-USERS): add, edit, remove, resend — and the guards."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse

from backstop.accounts.models import User
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership
from tests.conftest import Personas
from tests.factories import PASSWORD
from tests.helpers import body_of, last_link, messages_to

NEW_USER = {
    "sign_in": "email",
    "email": "gus@acme.test",
    "first_name": "Gus",
    "last_name": "Lee",
    "password": "steady-copper-kettle-5",
    "role": "custom",
    "general": [perms.VIEW_SETTINGS],
    "backup": [perms.RESTORE],
    "services": ["box", "imap"],
}


def test_admin_adds_a_custom_user_who_confirms_and_signs_in(personas: Personas, outbox: Path) -> None:
    alice = personas.client(personas.alice)
    response = alice.post(reverse("account_user_new", args=[personas.a.pk]), NEW_USER)
    assert response.status_code == 302
    membership = Membership.objects.get(user__email="gus@acme.test")
    assert membership.account == personas.a
    assert membership.operations == sorted([perms.VIEW_SETTINGS, perms.RESTORE])
    assert (membership.all_services, membership.services) == (False, ["box", "imap"])
    assert membership.created_by == personas.alice
    assert membership.credential == Membership.Credential.PASSWORD
    (invitation,) = messages_to(outbox, "gus@acme.test")
    assert "sign in with gus@acme.test and the password your administrator chose" in body_of(invitation)

    gus = Client()
    refused = gus.post(reverse("account_login"), {"login": "gus@acme.test", "password": NEW_USER["password"]})
    assert refused["Location"] == reverse("account_email_verification_sent")
    gus.post(last_link(outbox, "gus@acme.test", "/auth/confirm-email/"))
    signed_in = gus.post(
        reverse("account_login"), {"login": "gus@acme.test", "password": NEW_USER["password"]}
    )
    assert signed_in.status_code == 302
    assert gus.get(reverse("account_settings", args=[personas.a.pk])).status_code == 200
    assert gus.get(reverse("account_support", args=[personas.a.pk])).status_code == 403
    assert gus.get(reverse("account_users", args=[personas.a.pk])).status_code == 403
    assert Account.objects.restrict(membership.user, perms.RESTORE).get() == personas.a
    assert not membership.allows_service("exchange")
    assert membership.allows_service("box")


def test_the_list_shows_who_has_not_confirmed_and_resend_sends_a_new_link(
    personas: Personas, outbox: Path
) -> None:
    alice = personas.client(personas.alice)
    alice.post(reverse("account_user_new", args=[personas.a.pk]), NEW_USER)
    page = alice.get(reverse("account_users", args=[personas.a.pk]))
    assert b"Awaiting confirmation" in page.content
    membership = Membership.objects.get(user__email="gus@acme.test")
    alice.post(reverse("account_user_resend", args=[personas.a.pk, membership.pk]))
    assert len(messages_to(outbox, "gus@acme.test")) == 2
    searched = alice.get(reverse("account_users", args=[personas.a.pk]), {"q": "gus"})
    assert b"gus@acme.test" in searched.content
    assert b"bob@acme.test" not in searched.content


def test_duplicate_email_and_weak_password_are_refused(personas: Personas) -> None:
    alice = personas.client(personas.alice)
    url = reverse("account_user_new", args=[personas.a.pk])
    duplicate = alice.post(url, {**NEW_USER, "email": "CHARLIE@globex.test"})
    assert b"already exists" in duplicate.content
    weak = alice.post(url, {**NEW_USER, "password": "12345"})
    assert b"too short" in weak.content
    no_service = alice.post(url, {**NEW_USER, "services": []})
    assert b"at least one service" in no_service.content
    assert not User.objects.filter(email="gus@acme.test").exists()
    charlie = User.objects.get(email="charlie@globex.test")
    assert charlie.check_password(PASSWORD)
    assert not charlie.memberships.filter(account=personas.a).exists()


def test_edit_changes_role_and_permissions(personas: Personas) -> None:
    alice = personas.client(personas.alice)
    url = reverse("account_user_edit", args=[personas.a.pk, personas.bob_membership.pk])
    page = alice.get(url)
    assert re.search(rb'value="view_settings"[^>]*checked', page.content)
    assert not re.search(rb'value="restore"[^>]*checked', page.content)
    alice.post(url, {"role": "custom", "general": [perms.VIEW_ACTIVITY], "all_services": "on"})
    personas.bob_membership.refresh_from_db()
    assert personas.bob_membership.operations == [perms.VIEW_ACTIVITY]
    bob = personas.client(personas.bob)
    assert bob.get(reverse("account_settings", args=[personas.a.pk])).status_code == 403
    alice.post(url, {"role": "admin"})
    personas.bob_membership.refresh_from_db()
    assert personas.bob_membership.is_admin
    assert (
        personas.client(personas.bob).get(reverse("account_users", args=[personas.a.pk])).status_code == 200
    )


def test_the_last_administrator_cannot_be_demoted_or_removed(personas: Personas) -> None:
    alice = personas.client(personas.alice)
    mine = personas.alice.memberships.get()
    response = alice.post(
        reverse("account_user_edit", args=[personas.a.pk, mine.pk]),
        {"role": "custom", "all_services": "on"},
    )
    assert b"at least one administrator" in response.content
    alice.post(reverse("account_user_remove", args=[personas.a.pk, mine.pk]))
    mine.refresh_from_db()
    assert mine.is_admin


def test_an_unconfirmed_administrator_does_not_count_as_the_last_one(personas: Personas) -> None:
    alice = personas.client(personas.alice)
    alice.post(
        reverse("account_user_new", args=[personas.a.pk]),
        {**NEW_USER, "email": "typo@acme.tst", "role": "admin"},
    )
    mine = personas.alice.memberships.get()
    response = alice.post(
        reverse("account_user_edit", args=[personas.a.pk, mine.pk]), {"role": "custom", "all_services": "on"}
    )
    assert b"at least one administrator who can sign in" in response.content
    mine.refresh_from_db()
    assert mine.is_admin


def test_removing_a_user_ends_their_access(personas: Personas) -> None:
    alice = personas.client(personas.alice)
    alice.post(reverse("account_user_remove", args=[personas.a.pk, personas.bob_membership.pk]))
    assert not Membership.objects.filter(pk=personas.bob_membership.pk).exists()
    assert not User.objects.filter(email="bob@acme.test").exists()  # he had no other membership
    assert not EmailAddress.objects.filter(email="bob@acme.test").exists()


def test_the_list_says_how_each_user_signs_in(personas: Personas) -> None:
    from allauth.socialaccount.models import SocialAccount

    SocialAccount.objects.create(user=personas.bob, provider="google", uid="bob-google-id")
    page = (
        personas.client(personas.alice).get(reverse("account_users", args=[personas.a.pk])).content.decode()
    )
    rows = {row.split("</td>")[0].split(">")[-1]: row for row in page.split('data-testid="user-row"')[1:]}
    assert "<td>Google</td>" in rows["bob@acme.test"]
    assert "<td>E-mail</td>" in rows["alice@acme.test"]


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_a_user_can_be_added_to_sign_in_with_a_provider(
    personas: Personas, settings: object, outbox: Path, provider: str
) -> None:
    alice = personas.client(personas.alice)
    url = reverse("account_user_new", args=[personas.a.pk])
    assert f'value="{provider}"'.encode() not in alice.get(url).content  # not offered until configured
    refused = alice.post(url, {**NEW_USER, "sign_in": provider, "password": ""})
    assert refused.status_code == 200
    assert not User.objects.filter(email="gus@acme.test").exists()

    settings.SOCIALACCOUNT_PROVIDERS = {provider: {"APPS": [{"client_id": "g", "secret": "s"}]}}  # type: ignore[attr-defined]
    assert f'value="{provider}"'.encode() in alice.get(url).content
    assert alice.post(url, {**NEW_USER, "sign_in": provider, "password": ""}).status_code == 302
    gus = User.objects.get(email="gus@acme.test")
    assert not gus.has_usable_password()
    assert Membership.objects.get(user=gus).credential == provider
    assert b"Google or Microsoft" in alice.get(reverse("account_users", args=[personas.a.pk])).content

    # The invitation names the provider and promises no password they were never given.
    (invitation,) = messages_to(outbox, "gus@acme.test")
    name = provider.title()
    assert f"sign in with {name} using gus@acme.test" in body_of(invitation)
    assert f'choose "Sign in with {name}"' in body_of(invitation)
    assert "password your administrator chose" not in body_of(invitation)


def test_an_older_provider_user_without_a_credential_type_is_not_promised_a_password(
    personas: Personas, outbox: Path
) -> None:
    # Added before the credential type was kept for account users: no password, type "password".
    gus = User.objects.create_user(email="gus@acme.test", password=None)
    EmailAddress.objects.create(user=gus, email=gus.email, primary=True, verified=False)
    membership = Membership.objects.create(user=gus, account=personas.a, created_by=personas.alice)
    personas.client(personas.alice).post(reverse("account_user_resend", args=[personas.a.pk, membership.pk]))
    (invitation,) = messages_to(outbox, "gus@acme.test")
    assert "sign in with Google or Microsoft using gus@acme.test" in body_of(invitation)
    assert "password your administrator chose" not in body_of(invitation)


def test_an_email_user_needs_a_password(personas: Personas) -> None:
    alice = personas.client(personas.alice)
    response = alice.post(reverse("account_user_new", args=[personas.a.pk]), {**NEW_USER, "password": ""})
    assert b"needs a password" in response.content
    assert not User.objects.filter(email="gus@acme.test").exists()


def test_adding_users_is_rate_limited_per_account(personas: Personas) -> None:
    alice = personas.client(personas.alice)
    url = reverse("account_user_new", args=[personas.a.pk])
    statuses = [
        alice.post(url, {**NEW_USER, "email": f"probe{n}@example.test"}).status_code for n in range(31)
    ]
    assert statuses[:30] == [302] * 30
    assert statuses[30] == 429
    # Another account is not affected.
    charlie = personas.client(personas.charlie)
    assert charlie.post(reverse("account_user_new", args=[personas.b.pk]), NEW_USER).status_code == 302
