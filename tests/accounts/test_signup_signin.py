"""Sign-up, activation, sign-in and password reset, with the bad input people really send."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backstop.accounts.models import User
from backstop.tenancy.models import Account, Membership
from tests.factories import PASSWORD, UserFactory
from tests.helpers import last_link, messages_to

pytestmark = pytest.mark.django_db

SIGNUP = {
    "first_name": "Dana",
    "last_name": "Reyes",
    "email": "dana@example.test",
    "password1": "quiet-harbour-lamp-42",
    "password2": "quiet-harbour-lamp-42",
    "region": "eu-frankfurt",
}


def _sign_up(client: Client, **changes: str) -> object:
    return client.post(reverse("account_signup"), {**SIGNUP, **changes})


def test_signup_opens_an_account_with_a_14_day_trial_and_sends_an_activation_link(
    client: Client, outbox: Path
) -> None:
    response = _sign_up(client)
    assert response.status_code == 302  # type: ignore[attr-defined]
    user = User.objects.get(email="dana@example.test")
    assert (user.first_name, user.last_name) == ("Dana", "Reyes")
    membership = Membership.objects.get(user=user)
    assert membership.role == Membership.Role.ADMIN
    account = membership.account
    assert account is not None
    assert account.region == "eu-frankfurt"
    assert account.trial_ends_on == timezone.now().date() + timedelta(days=14)
    assert len(messages_to(outbox, "dana@example.test")) == 1


def test_cannot_sign_in_before_activation_then_can_after(client: Client, outbox: Path) -> None:
    _sign_up(client)
    client.logout()
    response = client.post(
        reverse("account_login"), {"login": SIGNUP["email"], "password": SIGNUP["password1"]}
    )
    assert response["Location"] == reverse("account_email_verification_sent")
    link = last_link(outbox, SIGNUP["email"], "/auth/confirm-email/")
    assert client.get(link).status_code == 200  # a page with a Confirm button
    client.post(link)
    assert EmailAddress.objects.get(email=SIGNUP["email"]).verified
    response = client.post(
        reverse("account_login"), {"login": SIGNUP["email"], "password": SIGNUP["password1"]}
    )
    assert response.status_code == 302
    home = client.get(response["Location"], follow=True)
    assert b"14 days" in home.content


def test_reused_activation_link_does_nothing_harmful(client: Client, outbox: Path) -> None:
    _sign_up(client)
    link = last_link(outbox, SIGNUP["email"], "/auth/confirm-email/")
    assert client.post(link).status_code == 302
    assert client.post(link).status_code == 404  # a used link confirms nothing more
    assert EmailAddress.objects.get(email=SIGNUP["email"]).verified


def test_expired_activation_link_is_refused(client: Client, outbox: Path, settings: object) -> None:
    _sign_up(client)
    link = last_link(outbox, SIGNUP["email"], "/auth/confirm-email/")
    settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 0  # type: ignore[attr-defined]
    assert client.post(link).status_code == 404
    assert not EmailAddress.objects.get(email=SIGNUP["email"]).verified


def test_duplicate_email_creates_nothing_and_warns_the_owner(client: Client, outbox: Path) -> None:
    owner = UserFactory(email="dana@example.test")
    before = Account.objects.count()
    _sign_up(client, password1="another-pass-phrase-77", password2="another-pass-phrase-77")
    assert User.objects.filter(email__iexact="dana@example.test").count() == 1
    assert Account.objects.count() == before
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)  # the existing password is untouched
    notice = messages_to(outbox, "dana@example.test")
    assert notice, "the owner of the address is told someone tried to sign up with it"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"password1": "short", "password2": "short"}, b"too short"),
        ({"password1": "password123", "password2": "password123"}, b"too common"),
        ({"password2": "quiet-harbour-lamp-43"}, b"same password"),
        ({"email": "not-an-email"}, b"valid email"),
        ({"region": "mars-1"}, b"Select a valid choice"),
        ({"first_name": ""}, b"This field is required"),
    ],
)
def test_bad_signup_input_is_refused_with_a_clear_error(
    client: Client, changes: dict[str, str], error: bytes
) -> None:
    response = _sign_up(client, **changes)
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert error.lower() in response.content.lower()  # type: ignore[attr-defined]
    assert not User.objects.exists()
    assert not Account.objects.exists()


def test_wrong_password_is_refused_and_repeated_failures_are_rate_limited(client: Client) -> None:
    UserFactory(email="erin@example.test")
    url = reverse("account_login")
    for _ in range(5):
        response = client.post(url, {"login": "erin@example.test", "password": "wrong-password"})
        assert response.status_code == 200
        assert b"not correct" in response.content
    blocked = client.post(url, {"login": "erin@example.test", "password": PASSWORD})
    assert blocked.status_code in (200, 429)
    assert b"Too many failed" in blocked.content
    assert "_auth_user_id" not in client.session


def test_csrf_token_is_required(personas: object) -> None:
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("account_login"), {"login": "alice@acme.test", "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in strict.session


def test_password_reset_by_emailed_link_and_the_link_works_once(client: Client, outbox: Path) -> None:
    user = UserFactory(email="fay@example.test")
    client.post(reverse("account_reset_password"), {"email": "fay@example.test"})
    link = last_link(outbox, "fay@example.test", "/auth/password/reset/key/")
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    new = {"password1": "fresh-lantern-river-8", "password2": "fresh-lantern-river-8"}
    done = client.post(form_page.redirect_chain[-1][0] if form_page.redirect_chain else link, new)
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("fresh-lantern-river-8")
    again = client.get(link, follow=True)
    assert b"invalid" in again.content.lower()


def test_change_password_needs_the_current_one(personas: object) -> None:
    alice = personas.alice  # type: ignore[attr-defined]
    client = personas.client(alice)  # type: ignore[attr-defined]
    url = reverse("account_change_password")
    bad = client.post(
        url,
        {
            "oldpassword": "nope",
            "password1": "new-secret-words-1",
            "password2": "new-secret-words-1",
        },
    )
    assert bad.status_code == 200
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    mismatch = client.post(
        url,
        {
            "oldpassword": PASSWORD,
            "password1": "new-secret-words-1",
            "password2": "new-secret-words-2",
        },
    )
    assert b"same password" in mismatch.content
    good = client.post(
        url,
        {
            "oldpassword": PASSWORD,
            "password1": "new-secret-words-1",
            "password2": "new-secret-words-1",
        },
    )
    assert good.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("new-secret-words-1")


def test_expired_reset_link_is_refused(client: Client, outbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime

    from django.contrib.auth.tokens import PasswordResetTokenGenerator

    user = UserFactory(email="gil@example.test")
    client.post(reverse("account_reset_password"), {"email": "gil@example.test"})
    link = last_link(outbox, "gil@example.test", "/auth/password/reset/key/")
    later = datetime.now() + timedelta(days=4)  # reset links live 3 days (PASSWORD_RESET_TIMEOUT)
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)
    page = client.get(link, follow=True)
    new = {"password1": "fresh-lantern-river-8", "password2": "fresh-lantern-river-8"}
    client.post(page.redirect_chain[-1][0] if page.redirect_chain else link, new)
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert b"invalid" in page.content.lower() or b"expired" in page.content.lower()
