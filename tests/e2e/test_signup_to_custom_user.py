"""End to end in a real browser: sign-up, activation, adding a custom user, and their limits.

Run: BACKSTOP_DATA_DIR=$(mktemp -d) .venv/bin/pytest tests/e2e -q
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from playwright.sync_api import Page, expect

from backstop.accounts.models import User
from backstop.tenancy.models import Membership
from tests.e2e.helpers import sign_in
from tests.factories import PASSWORD, AccountFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("transactional_db")]

Shoot = Callable[[str], Path]
MailLink = Callable[[str, str], tuple[str, Any]]

OWNER_EMAIL = "ada@lovelace.test"
OWNER_PASSWORD = "analytical-Engine-1843"
CUSTOM_EMAIL = "charles@lovelace.test"
CUSTOM_PASSWORD = "difference-Engine-1822"


def sign_out(page: Page) -> None:
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("sign-out").click()
    expect(page).to_have_url(re.compile(r"/auth/login/"))


def confirm_from_mail(page: Page, mail_link: MailLink, to: str, shoot: Shoot, step: str) -> Any:
    url, message = mail_link(to, "/auth/confirm-email/")
    page.goto(url)
    expect(page.get_by_role("heading", name="Confirm your e-mail address")).to_be_visible()
    expect(page.get_by_text(to)).to_be_visible()
    shoot(step)
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/auth/login/"))
    return message


def test_signup_to_custom_user(page: Page, live_server: Any, mail_link: MailLink, shoot: Shoot) -> None:
    base = live_server.url
    page.set_default_timeout(15_000)

    # Sign up: the fields in the order of our form, a data center, then "check your e-mail".
    page.goto(base + "/auth/signup/")
    expect(page.get_by_role("heading", name="Create your Backstop account")).to_be_visible()
    labels = page.locator("form.bs-auth-form label.form-label").all_inner_texts()
    assert labels == [
        "First name",
        "Last name",
        "Email",
        "Password",
        "Confirm password",
        "Data center location",
    ]
    expect(page.get_by_test_id("provider-list")).to_have_count(0)  # no social app configured
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_label("Email").fill(OWNER_EMAIL)
    page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
    page.get_by_label("Confirm password").fill(OWNER_PASSWORD)
    page.get_by_label("Data center location").select_option("eu-frankfurt")
    shoot("01-signup-filled")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    shoot("02-check-your-email")

    # The activation link from the outbox, then Confirm.
    message = confirm_from_mail(page, mail_link, OWNER_EMAIL, shoot, "03-confirm-signup")
    assert message["Subject"] == "[Backstop] Activate your Backstop account"
    expect(page.get_by_role("alert").filter(has_text=OWNER_EMAIL)).to_be_visible()
    shoot("04-confirmed-sign-in")

    # Sign in: the account homepage with its 14-day trial.
    sign_in(page, base, OWNER_EMAIL, OWNER_PASSWORD)
    expect(page).to_have_url(re.compile(r"/a/\d+/$"))
    account_url = page.url.rstrip("/")
    expect(page.get_by_test_id("trial-badge")).to_have_text("Free trial · 14 days left")
    expect(page.get_by_test_id("tenant-name")).to_have_text("Ada Lovelace")
    expect(page.get_by_role("heading", name="Welcome, Ada")).to_be_visible()
    expect(page.locator(".bs-breadcrumb")).to_contain_text("EU (Frankfurt)")
    shoot("05-owner-home")

    # Settings > User management > Add new user: a custom user limited to Box.
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="User management").click()
    expect(page.get_by_test_id("user-row")).to_have_count(1)
    page.get_by_test_id("add-user").click()
    form = page.get_by_test_id("user-form")
    form.get_by_label("E-mail").fill(CUSTOM_EMAIL)
    form.get_by_label("Password").fill(CUSTOM_PASSWORD)
    form.get_by_label("First name").fill("Charles")
    form.get_by_label("Last name").fill("Babbage")
    form.get_by_label("Role").select_option("custom")
    form.get_by_label("View account settings").check()
    form.get_by_label("View the support page").check()
    form.get_by_label("All services").uncheck()
    form.get_by_label("Box", exact=True).check()
    checked = form.locator("input[type=checkbox]:checked")
    expect(checked).to_have_count(3)
    shoot("06-new-user-form")
    page.get_by_test_id("save-user").click()
    row = page.get_by_test_id("user-row").filter(has_text=CUSTOM_EMAIL)
    expect(row).to_contain_text("Awaiting confirmation")
    expect(row).to_contain_text("Custom")
    shoot("07-user-awaiting-confirmation")
    membership = Membership.objects.get(user__email=CUSTOM_EMAIL)
    assert sorted(membership.operations) == ["view_settings", "view_support"]
    assert membership.all_services is False
    assert membership.services == ["box"]

    # The owner signs out; the new user confirms their address from the e-mail.
    sign_out(page)
    message = confirm_from_mail(page, mail_link, CUSTOM_EMAIL, shoot, "08-confirm-custom-user")
    assert message["Subject"] == "[Backstop] You were given access to Backstop"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "Ada Lovelace gave you access" in body and "24 hours" in body

    # The custom user sees Homepage, Settings and Support, but not User management.
    sign_in(page, base, CUSTOM_EMAIL, CUSTOM_PASSWORD)
    expect(page).to_have_url(account_url + "/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Homepage", "Settings", "Support"])
    expect(page.get_by_test_id("my-operations")).to_contain_text("View account settings")
    shoot("09-custom-user-home")

    nav.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(account_url + "/settings/")
    expect(page.get_by_role("link", name="User management")).to_have_count(0)
    expect(page.get_by_label("Account name")).to_be_disabled()
    expect(page.get_by_label("E-mail")).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_test_id("remove-account")).to_have_count(0)
    shoot("10-custom-user-settings-read-only")

    response = page.goto(account_url + "/settings/users/")
    assert response is not None and response.status == 403
    expect(page.get_by_test_id("error-403")).to_be_visible()
    expect(page.get_by_role("heading", name="You are not allowed to open this page")).to_be_visible()
    shoot("11-custom-user-403")

    sign_out(page)
    shoot("12-signed-out")


def test_wrong_password_then_reset(page: Page, live_server: Any, mail_link: MailLink, shoot: Shoot) -> None:
    base = live_server.url
    page.set_default_timeout(15_000)
    user = UserFactory(email="grace@hopper.test", first_name="Grace", last_name="Hopper")
    MembershipFactory(user=user, account=AccountFactory(name="Hopper Labs"), role=Membership.Role.ADMIN)

    # Signing up again with a taken address: the same "check your e-mail" page (no enumeration),
    # and the owner of the address is told, with a link to reset their password.
    page.goto(base + "/auth/signup/")
    page.get_by_label("First name").fill("Someone")
    page.get_by_label("Last name").fill("Else")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
    page.get_by_label("Confirm password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    url, message = mail_link(user.email, "/auth/password/reset/")
    assert message["Subject"] == "[Backstop] Someone tried to sign up to Backstop with your address"

    # A wrong password: a clear error, the address kept, the password emptied.
    page.goto(base + "/auth/login/")
    sign_in(page, base, user.email, "not-the-password")
    error = page.get_by_test_id("form-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("password you specified are not correct")
    expect(page.get_by_label("Email")).to_have_value(user.email)
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    shoot("01-wrong-password")

    # Forgot password -> e-mail -> new password.
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    page.get_by_label("Email").fill(user.email)
    shoot("02-reset-request")
    page.get_by_role("button", name="Send me a reset link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    shoot("03-reset-sent")

    url, message = mail_link(user.email, "/auth/password/reset/key/")
    assert message["Subject"] == "[Backstop] Reset your Backstop password"
    page.goto(url)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    new_password = "new-" + PASSWORD
    page.get_by_label("New Password", exact=True).fill(new_password)
    page.get_by_label("New Password (again)").fill(new_password)
    shoot("04-new-password")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("heading", name="Your password was changed")).to_be_visible()
    shoot("05-password-changed")

    # The old password no longer works; the new one does.
    page.get_by_role("link", name="Sign in").click()
    sign_in(page, base, user.email, PASSWORD)
    expect(page.get_by_test_id("form-error")).to_be_visible()
    sign_in(page, base, user.email, new_password)
    expect(page).to_have_url(re.compile(r"/a/\d+/$"))
    expect(page.get_by_test_id("tenant-name")).to_have_text("Hopper Labs")
    shoot("06-signed-in-with-new-password")


SOCIAL_APPS = {
    "google": {"APPS": [{"client_id": "e2e-google", "secret": "e2e-secret"}]},
    "microsoft": {"APPS": [{"client_id": "e2e-microsoft", "secret": "e2e-secret"}]},
}


def test_social_buttons_only_when_configured(
    page: Page, live_server: Any, settings: Any, shoot: Shoot
) -> None:
    base = live_server.url
    page.set_default_timeout(15_000)

    settings.SOCIALACCOUNT_PROVIDERS = {}
    for path in ("/auth/login/", "/auth/signup/"):
        page.goto(base + path)
        expect(page.get_by_test_id("provider-list")).to_have_count(0)
        expect(page.get_by_text(re.compile("Sign in with (Google|Microsoft)"))).to_have_count(0)
        expect(page.get_by_test_id("sso-login")).to_have_count(1 if path == "/auth/login/" else 0)

    # A provider without APPS (scope settings only) is still hidden.
    settings.SOCIALACCOUNT_PROVIDERS = {"google": {"SCOPE": ["profile", "email"]}}
    page.goto(base + "/auth/login/")
    expect(page.get_by_test_id("provider-list")).to_have_count(0)

    settings.SOCIALACCOUNT_PROVIDERS = {"google": SOCIAL_APPS["google"]}
    page.goto(base + "/auth/login/")
    expect(page.get_by_test_id("provider-list").get_by_role("link")).to_have_text(["Sign in with Google"])

    settings.SOCIALACCOUNT_PROVIDERS = SOCIAL_APPS
    for step, path in (
        ("01-login-with-providers", "/auth/login/"),
        ("02-signup-with-providers", "/auth/signup/"),
    ):
        page.goto(base + path)
        buttons = page.get_by_test_id("provider-list").get_by_role("link")
        expect(buttons).to_have_text(["Sign in with Google", "Sign in with Microsoft"])
        shoot(step)

    # The button leads to our own "Continue" page first (no request leaves the machine here).
    page.get_by_role("link", name="Sign in with Google").click()
    expect(page.get_by_role("heading", name="Sign in with Google")).to_be_visible()
    expect(page.get_by_role("button", name="Continue")).to_be_visible()
    shoot("03-provider-continue")


def test_social_signup_page(page: Page, live_server: Any, settings: Any, shoot: Shoot) -> None:
    """The page after a first Google sign-in: our fields, then an account with its trial."""
    base = live_server.url
    page.set_default_timeout(15_000)
    settings.SOCIALACCOUNT_PROVIDERS = SOCIAL_APPS

    # What allauth stores in the session when Google vouches for someone new.
    email = "linus@example.test"
    sociallogin = SocialLogin(
        user=User(email=email, first_name="Linus", last_name="Pauling"),
        account=SocialAccount(provider="google", uid="1234567890", extra_data={"email": email}),
        email_addresses=[EmailAddress(email=email, verified=True, primary=True)],
        provider=get_adapter().get_provider(RequestFactory().get("/"), "google"),
    )
    sociallogin.state = {"process": "login"}
    session = SessionStore()
    session["socialaccount_sociallogin"] = sociallogin.serialize()
    session.save()
    host = live_server.url.split("://", 1)[1].split(":")[0]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session.session_key, "domain": host, "path": "/"}]
    )

    page.goto(base + "/auth/3rdparty/signup/")
    expect(page.get_by_role("heading", name="Finish signing up")).to_be_visible()
    expect(page.get_by_text("with your Google account")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value(email)
    expect(page.get_by_label("First name")).to_have_value("Linus")
    page.get_by_label("Data center location").select_option("uk-london")
    shoot("01-social-signup")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/a/\d+/$"))
    expect(page.get_by_test_id("trial-badge")).to_have_text("Free trial · 14 days left")
    expect(page.locator(".bs-breadcrumb")).to_contain_text("UK (London)")
    shoot("02-social-signup-home")


def test_signed_in_and_error_pages(page: Page, live_server: Any, shoot: Shoot) -> None:
    """Change password inside the app shell, the sign-out page, 404 and dead links."""
    base = live_server.url
    page.set_default_timeout(15_000)
    user = UserFactory(email="alan@turing.test", first_name="Alan", last_name="Turing")
    MembershipFactory(user=user, account=AccountFactory(name="Bletchley"), role=Membership.Role.ADMIN)

    # Field errors on an entrance page: red inputs with their message underneath.
    page.goto(base + "/auth/signup/")
    page.get_by_label("First name").fill("Alan")
    page.get_by_label("Last name").fill("Turing")
    page.get_by_label("Email").fill("someone@turing.test")
    page.get_by_label("Password", exact=True).fill("enigma-Machine-1")
    page.get_by_label("Confirm password").fill("enigma-Machine-2")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_label("Confirm password")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator(".invalid-feedback")).to_have_text(["You must type the same password each time."])
    expect(page.get_by_label("First name")).to_have_value("Alan")
    shoot("00-signup-errors")

    sign_in(page, base, user.email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/a/\d+/$"))

    # Settings > Security > Change password: the allauth page inside our shell, with the tabs.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Security", exact=True).click()
    page.get_by_test_id("change-password").click()
    expect(page).to_have_url(re.compile(r"/auth/password/change/$"))
    expect(page.get_by_test_id("tenant-name")).to_have_text("Bletchley")
    expect(page.get_by_role("link", name="User management")).to_be_visible()
    labels = page.locator("form.bs-auth-form label.form-label").all_inner_texts()
    assert labels == ["Current Password", "New Password", "New Password (again)"]
    page.get_by_label("Current Password").fill("wrong-password-1")
    page.get_by_label("New Password", exact=True).fill("brand-New-password-7")
    page.get_by_label("New Password (again)").fill("brand-New-password-8")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".is-invalid")).to_have_count(2)
    expect(page.locator(".invalid-feedback")).to_have_count(2)
    shoot("01-change-password-errors")
    page.get_by_label("Current Password").fill(PASSWORD)
    page.get_by_label("New Password", exact=True).fill("brand-New-password-7")
    page.get_by_label("New Password (again)").fill("brand-New-password-7")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert").filter(has_text="Password successfully changed")).to_be_visible()
    shoot("02-change-password-done")

    response = page.goto(base + "/no/such/page/")
    assert response is not None and response.status == 404
    expect(page.get_by_test_id("error-404")).to_be_visible()
    shoot("03-not-found-signed-in")

    page.goto(base + "/auth/logout/")
    expect(page.get_by_role("heading", name="Sign out")).to_be_visible()
    shoot("04-sign-out-page")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/auth/login/"))

    page.goto(base + "/auth/confirm-email/not-a-key/")
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()
    shoot("05-dead-confirmation-link")
    page.goto(base + "/auth/password/reset/key/1-not-a-key/")
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()
    shoot("06-dead-reset-link")
    response = page.goto(base + "/no/such/page/")
    assert response is not None and response.status == 404
    shoot("07-not-found-signed-out")
