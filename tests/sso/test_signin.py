"""SAML sign-in end to end: our app is the SP, a pysaml2 IdP run by the test answers its requests.

Each case goes the way a browser does: POST /auth/saml/<slug>/login/ → redirect to the IdP with
an AuthnRequest → the IdP's Response POSTed to our ACS → allauth's hop to /acs/finish/.
"""

from __future__ import annotations

import logging

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.test import Client
from saml2.saml import NAMEID_FORMAT_PERSISTENT

from backstop.accounts.models import User
from backstop.sso import services
from backstop.sso.models import SamlConnection
from backstop.tenancy.models import Account, Membership
from tests.conftest import Personas
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.sso.conftest import browser, post_to_acs, start
from tests.sso.idp import TestIdP


def signed_in_as(client: Client, account: Account) -> str | None:
    """The e-mail of the user this browser is signed in as, read from an account page."""
    page = client.get(f"/a/{account.pk}/")
    if page.status_code != 200:
        return None
    user = page.wsgi_request.user
    return str(user.email) if user.is_authenticated else None


def refused(page: object) -> str:
    content = page.content.decode()  # type: ignore[attr-defined]
    assert page.status_code in (401, 403), page.status_code  # type: ignore[attr-defined]
    assert "Sign-in failed" in content or "Sign-in refused" in content, content[:2000]
    return content


@pytest.mark.parametrize(
    "sign_response", [False, True], ids=["assertion-signed", "response-and-assertion-signed"]
)
def test_a_member_signs_in_with_a_signed_assertion(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection, sign_response: bool
) -> None:
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    assert request.acs_url == f"http://testserver/auth/saml/a{personas.a.pk}/acs/"

    finished = post_to_acs(
        started.client, request, idp.response(request, "Alice@Acme.test", sign_response=sign_response)
    )

    assert finished.status_code == 302 and finished["Location"] == "/"
    assert signed_in_as(started.client, personas.a) == "alice@acme.test"
    home = started.client.get("/", follow=True)
    assert home.status_code == 200 and "Acme" in home.content.decode()
    link = SocialAccount.objects.get(user=personas.alice)
    assert link.provider == acme_sso.slug and link.uid == "Alice@Acme.test"
    # Alice keeps her password: single sign-on is one more way in, not a reset.
    assert Client().login(email="alice@acme.test", password=PASSWORD)


def test_a_second_sign_in_uses_the_linked_identity(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection
) -> None:
    for _ in range(2):
        started = start(acme_sso.slug)
        request = idp.read_request(started.location)
        post_to_acs(started.client, request, idp.response(request, "alice@acme.test"))
        assert signed_in_as(started.client, personas.a) == "alice@acme.test"
    assert SocialAccount.objects.filter(user=personas.alice).count() == 1


def test_a_persistent_name_id_with_the_address_as_attribute(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection
) -> None:
    # Entra ID and others send an opaque NameID and the e-mail address as an attribute.
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    saml_response = idp.response(
        request,
        "bob@acme.test",
        name_id="8f14e45fceea167a5a36dedd4bea2543",
        name_id_format=NAMEID_FORMAT_PERSISTENT,
    )
    post_to_acs(started.client, request, saml_response)
    assert signed_in_as(started.client, personas.a) == "bob@acme.test"
    assert SocialAccount.objects.get(user=personas.bob).uid == "8f14e45fceea167a5a36dedd4bea2543"


def test_an_unsolicited_response_is_refused(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection
) -> None:
    # IdP-initiated sign-in (no InResponseTo) is off: only answers to our own requests count.
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    page = post_to_acs(browser(), request, idp.response(request, "alice@acme.test", in_response_to=None))
    refused(page)
    assert signed_in_as(started.client, personas.a) is None


def test_a_removed_accounts_idp_is_gone(personas: Personas, acme_sso: SamlConnection) -> None:
    personas.a.delete()
    assert not SocialApp.objects.exists()
    assert browser().post(f"/auth/saml/{acme_sso.slug}/login/").status_code == 404


def test_a_member_whose_address_is_unconfirmed_is_refused_and_the_idp_does_not_confirm_it(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection
) -> None:
    # An account's administrator adds somebody else's address and asserts it from the IdP they
    # control: the address stays unconfirmed and nobody is signed in.
    dana = UserFactory(email="dana@acme.test", verified=False)
    MembershipFactory(user=dana, account=personas.a, role=Membership.Role.CUSTOM, operations=[])
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    response = post_to_acs(started.client, request, idp.response(request, "dana@acme.test"))
    assert response.status_code == 403 and b"Confirm your e-mail address first" in response.content
    assert signed_in_as(started.client, personas.a) is None
    assert not EmailAddress.objects.get(user=dana).verified


def test_a_response_signed_with_another_key_is_refused(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection, caplog: pytest.LogCaptureFixture
) -> None:
    impostor = idp.impostor()  # same entity id and URLs, but its own key
    impostor.trust_sp(idp.sp_metadata[0])
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    with caplog.at_level(logging.ERROR):
        page = post_to_acs(started.client, request, impostor.response(request, "alice@acme.test"))
    refused(page)
    assert "Signature validation failed" in caplog.text
    assert signed_in_as(started.client, personas.a) is None
    assert not SocialAccount.objects.exists()


def test_an_expired_assertion_is_refused(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection, caplog: pytest.LogCaptureFixture
) -> None:
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    # NotOnOrAfter ten minutes ago: beyond python3-saml's allowance for clock drift (5 minutes).
    with caplog.at_level(logging.ERROR):
        page = post_to_acs(
            started.client, request, idp.response(request, "alice@acme.test", lifetime_minutes=-10)
        )
    refused(page)
    assert "expired" in caplog.text.lower()
    assert signed_in_as(started.client, personas.a) is None


def test_an_assertion_for_another_audience_is_refused(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection, caplog: pytest.LogCaptureFixture
) -> None:
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    other_sp = "https://another-app.example.test/saml/metadata"
    with caplog.at_level(logging.ERROR):
        page = post_to_acs(
            started.client, request, idp.response(request, "alice@acme.test", audience=other_sp)
        )
    refused(page)
    assert "audience" in caplog.text.lower()
    assert signed_in_as(started.client, personas.a) is None


@pytest.mark.parametrize("sign_response", [False, True], ids=["nothing-signed", "only-response-signed"])
def test_an_unsigned_assertion_is_refused(
    personas: Personas,
    idp: TestIdP,
    acme_sso: SamlConnection,
    sign_response: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    with caplog.at_level(logging.ERROR):
        page = post_to_acs(
            started.client,
            request,
            idp.response(request, "alice@acme.test", sign_assertion=False, sign_response=sign_response),
        )
    refused(page)
    assert "The Assertion of the Response is not signed" in caplog.text
    assert signed_in_as(started.client, personas.a) is None


def test_a_replayed_response_is_refused(personas: Personas, idp: TestIdP, acme_sso: SamlConnection) -> None:
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    saml_response = idp.response(request, "alice@acme.test")
    post_to_acs(started.client, request, saml_response)
    assert signed_in_as(started.client, personas.a) == "alice@acme.test"

    # Someone who captured the POST replays it while its dates and signature are still valid.
    attacker = browser()
    page = post_to_acs(attacker, request, saml_response)
    assert page.status_code == 403
    assert "already used" in refused(page)
    assert signed_in_as(attacker, personas.a) is None

    # Alice herself posting it again (back button) is refused too, and she stays who she was.
    again = post_to_acs(started.client, request, saml_response)
    assert "already used" in refused(again)


def test_an_unknown_address_is_refused_and_opens_nothing(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection
) -> None:
    users, accounts = User.objects.count(), Account.objects.count()
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    page = post_to_acs(started.client, request, idp.response(request, "stranger@acme.test"))
    assert page.status_code == 403
    assert "stranger@acme.test is not a user of Acme" in refused(page)
    assert signed_in_as(started.client, personas.a) is None
    assert (User.objects.count(), Account.objects.count()) == (users, accounts)
    assert not SocialAccount.objects.exists()


def test_a_user_of_another_account_is_refused(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection
) -> None:
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    page = post_to_acs(started.client, request, idp.response(request, "charlie@globex.test"))
    assert "charlie@globex.test is not a user of Acme" in refused(page)
    assert signed_in_as(started.client, personas.b) is None
    # Pat reaches Acme through the partner, but is not one of Acme's own users.
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    page = post_to_acs(started.client, request, idp.response(request, "pat@northwind.test"))
    assert "is not a user of Acme" in refused(page)
    assert not SocialAccount.objects.exists()


def test_a_member_who_also_reaches_another_account_is_refused(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection
) -> None:
    # Acme's IdP administrators must not be able to sign someone into Globex.
    MembershipFactory(user=personas.charlie, account=personas.a, role=Membership.Role.ADMIN)
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    page = post_to_acs(started.client, request, idp.response(request, "charlie@globex.test"))
    assert "also has access outside Acme" in refused(page)
    assert signed_in_as(started.client, personas.b) is None


def test_after_deactivate_the_idp_can_no_longer_sign_in(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection
) -> None:
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    saml_response = idp.response(request, "alice@acme.test")
    services.deactivate(personas.a)
    posted = started.client.post(request.acs_url, {"SAMLResponse": saml_response})
    if posted.status_code == 302:
        posted = started.client.get(posted["Location"])
    assert posted.status_code == 404
    assert browser().post(f"/auth/saml/{acme_sso.slug}/login/").status_code == 404
    assert signed_in_as(started.client, personas.a) is None


def test_the_sign_in_page_lists_no_idp(personas: Personas, acme_sso: SamlConnection) -> None:
    page = browser().get("/auth/login/")
    assert page.status_code == 200
    assert "Acme" not in page.content.decode() and acme_sso.slug not in page.content.decode()


def test_sign_in_with_sso_asks_the_address_and_goes_to_the_idp(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection
) -> None:
    client = browser()
    login = client.get("/auth/login/")
    assert 'href="/auth/sso/"' in login.content.decode() and "Sign in with SSO" in login.content.decode()
    form = client.get("/auth/sso/")
    assert form.status_code == 200 and "Work e-mail address" in form.content.decode()

    unknown = client.post("/auth/sso/", {"email": "nobody@acme.test"})
    assert unknown.status_code == 200
    assert "Single sign-on is not set up for this address" in unknown.content.decode()
    no_sso = client.post("/auth/sso/", {"email": "charlie@globex.test"})
    assert "Single sign-on is not set up for this address" in no_sso.content.decode()

    redirected = client.post("/auth/sso/", {"email": "ALICE@acme.test"})
    assert redirected.status_code == 302
    request = idp.read_request(redirected["Location"])
    post_to_acs(client, request, idp.response(request, "alice@acme.test"))
    assert signed_in_as(client, personas.a) == "alice@acme.test"
