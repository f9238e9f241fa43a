"""Add account (P-ADD) through the partner's form: what is created, what is refused (and then
nothing is saved), the subscription types, and who may reach the pages."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backstop.accounts.models import User
from backstop.audit.models import AuditEvent
from backstop.backups.models import AccountStorage
from backstop.billing.models import Subscription
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import reach_of
from tests.conftest import Personas
from tests.factories import AccountFactory, MembershipFactory, PartnerFactory, UserFactory
from tests.helpers import last_link, messages_to

NEW_PASSWORD = "kettle-orbit-lantern-42"


def form_data(**changes: Any) -> dict[str, Any]:
    data = {
        "name": "Initech",
        "email": "it@initech.test",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "where": "datacenter",
        "region": "eu-frankfurt",
        "subscription_kind": "trial",
        "plan": "monthly",
    }
    data.update(changes)
    return data


@pytest.fixture
def olivia(personas: Personas) -> User:
    """An administrator of the partner: may add accounts."""
    user = UserFactory(email="olivia@northwind.test", first_name="Olivia")
    MembershipFactory(user=user, partner=personas.partner, role=Membership.Role.ADMIN)
    return user


def add_url(partner: Partner) -> str:
    return reverse("partner_add_account", args=[partner.pk])


def counts() -> tuple[int, int, int, int, int]:
    return (
        Account.objects.count(),
        User.objects.count(),
        Membership.objects.count(),
        Subscription.objects.count(),
        AccountStorage.objects.count(),
    )


def errors_of(response: Any) -> dict[str, list[str]]:
    form = response.context["form"]
    return {name: [str(e) for e in errs] for name, errs in form.errors.items()}


def test_a_data_center_trial_account_is_created_with_its_administrator_and_audited(
    personas: Personas, olivia: User, outbox: Path
) -> None:
    client = personas.client(olivia)
    response = client.post(add_url(personas.partner), form_data(email="IT@Initech.test"))
    account = Account.objects.get(name="Initech")
    assert response.status_code == 302
    assert response["Location"] == reverse("partner_add_account_done", args=[personas.partner.pk, account.pk])
    assert account.partner == personas.partner and account.region == "eu-frankfurt"
    assert account.email == "it@initech.test"
    assert account.trial_ends_on == timezone.now().date() + timedelta(days=14)
    assert not AccountStorage.objects.filter(account=account).exists()
    subscription = Subscription.objects.get(account=account)
    assert (subscription.kind, subscription.state, subscription.plan) == ("trial", "trial", "")

    admin = Membership.objects.get(account=account)
    assert admin.is_admin and admin.user.email == "it@initech.test"
    assert admin.user.check_password(NEW_PASSWORD)
    assert not EmailAddress.objects.get(user=admin.user).verified

    (event,) = AuditEvent.objects.filter(activity="account_created")
    assert event.account == account and event.partner == personas.partner
    assert event.performed_by == olivia.email and "Initech" in event.description
    assert "EU (Frankfurt)" in event.description and NEW_PASSWORD not in event.description
    # In the account's own audit and in the partner's (which reads its accounts' events).
    assert AuditEvent.objects.filter(account=account).count() == 1
    assert (
        AuditEvent.objects.filter(account__in=Account.objects.filter(partner=personas.partner)).count() == 1
    )

    # Both Security Audit pages show it.
    partner_audit = client.get(reverse("partner_audit", args=[personas.partner.pk])).content.decode()
    account_audit = client.get(reverse("account_audit", args=[account.pk])).content.decode()
    for page in (partner_audit, account_audit):
        assert "Account created" in page and "Account created: Initech (it@initech.test)" in page

    done = client.get(response["Location"])
    assert done.status_code == 200
    html = done.content.decode()
    assert "Initech is ready" in html and "EU (Frankfurt) data center" in html
    assert f'href="{reverse("backup_add", args=[account.pk])}"' in html and "Activate backups" in html

    # The customer's administrator confirms the address, then signs in to the account.
    assert messages_to(outbox, "it@initech.test")
    customer = Client()
    login = {"login": "it@initech.test", "password": NEW_PASSWORD}
    assert customer.post(reverse("account_login"), login)["Location"] == reverse(
        "account_email_verification_sent"
    )
    customer.post(last_link(outbox, "it@initech.test", "/auth/confirm-email/"))
    assert customer.post(reverse("account_login"), login).status_code == 302
    assert customer.get(reverse("account_home", args=[account.pk])).status_code == 200


def test_the_new_account_is_in_the_partners_reach(personas: Personas, olivia: User) -> None:
    personas.client(olivia).post(add_url(personas.partner), form_data())
    membership = Membership.objects.get(user=olivia)
    assert Account.objects.filter(reach_of(membership)).filter(name="Initech").exists()
    assert Account.objects.restrict(olivia, perms.ACTIVATE_TASKS).filter(name="Initech").exists()


@pytest.mark.parametrize(
    ("kind", "plan", "expected"),
    [
        ("trial", "annual", ("trial", "trial", "", True)),
        ("trial_auto", "monthly", ("trial_auto", "trial", "monthly", True)),
        ("trial_auto", "annual", ("trial_auto", "trial", "annual", True)),
        ("no_trial", "monthly", ("no_trial", "subscribed", "monthly", False)),
        ("no_trial", "annual", ("no_trial", "subscribed", "annual", False)),
    ],
)
def test_each_subscription_type_makes_its_subscription(
    personas: Personas, olivia: User, kind: str, plan: str, expected: tuple[str, str, str, bool]
) -> None:
    response = personas.client(olivia).post(
        add_url(personas.partner), form_data(subscription_kind=kind, plan=plan)
    )
    assert response.status_code == 302
    account = Account.objects.get(name="Initech")
    subscription = Subscription.objects.get(account=account)
    kind_, state, plan_, has_trial = expected
    assert (subscription.kind, subscription.state, subscription.plan) == (kind_, state, plan_)
    assert (account.trial_ends_on is not None) == has_trial
    today = timezone.now().date()
    if state == "subscribed":
        assert subscription.starts_on == today
        assert (subscription.renews_on is not None) == (plan == "annual")
    else:
        assert account.trial_ends_on == today + timedelta(days=14)


def test_the_partners_default_subscription_is_preselected(personas: Personas, olivia: User) -> None:
    client = personas.client(olivia)
    html = client.get(add_url(personas.partner)).content.decode()
    assert re.search(r'id="id_subscription_kind_trial" checked', html)
    assert not re.search(r'id="id_subscription_kind_trial_auto" checked', html)

    Partner.objects.filter(pk=personas.partner.pk).update(
        default_subscription_kind="trial_auto", default_subscription_plan="annual"
    )
    html = client.get(add_url(personas.partner)).content.decode()
    assert re.search(r'id="id_subscription_kind_trial_auto" checked', html)
    assert not re.search(r'id="id_subscription_kind_trial" checked', html)
    assert '<option value="annual" selected>' in html
    # The partner's own data center is the preselected one.
    region = dict(Partner.objects.values_list("pk", "region"))[personas.partner.pk]
    assert f'<option value="{region}" selected>' in html


def test_an_email_another_account_has_is_refused_and_nothing_is_saved(
    personas: Personas, olivia: User, outbox: Path
) -> None:
    AccountFactory(name="Hooli", email="ops@hooli.test")
    before = counts()
    response = personas.client(olivia).post(add_url(personas.partner), form_data(email="OPS@hooli.test"))
    assert response.status_code == 200
    assert errors_of(response)["email"] == ["This e-mail address is already used by another account or user."]
    assert counts() == before and not messages_to(outbox, "ops@hooli.test")
    assert not AuditEvent.objects.filter(activity="account_created").exists()


@pytest.mark.parametrize("email", ["alice@acme.test", "Alice@ACME.test", "pat@northwind.test"])
def test_an_email_any_user_has_is_refused_whatever_its_case(
    personas: Personas, olivia: User, email: str
) -> None:
    before = counts()
    response = personas.client(olivia).post(add_url(personas.partner), form_data(email=email))
    assert "email" in errors_of(response)
    assert counts() == before


def test_a_users_second_address_is_taken_too(personas: Personas, olivia: User) -> None:
    EmailAddress.objects.create(user=personas.alice, email="alice.private@home.test", verified=True)
    response = personas.client(olivia).post(
        add_url(personas.partner), form_data(email="alice.private@home.test")
    )
    assert "email" in errors_of(response)
    assert not Account.objects.filter(name="Initech").exists()


def test_passwords_must_match_and_pass_the_password_rules(personas: Personas, olivia: User) -> None:
    client = personas.client(olivia)
    before = counts()
    mismatch = client.post(add_url(personas.partner), form_data(password2=NEW_PASSWORD + "x"))
    assert errors_of(mismatch)["password2"] == ["The two passwords do not match."]
    weak = client.post(add_url(personas.partner), form_data(password1="12345", password2="12345"))
    assert any("too short" in e for e in errors_of(weak)["password1"])
    like_email = client.post(
        add_url(personas.partner),
        form_data(email="kettleorbit@initech.test", password1="kettleorbit", password2="kettleorbit"),
    )
    assert "password1" in errors_of(like_email)
    missing = client.post(add_url(personas.partner), form_data(name="", region="", where="datacenter"))
    assert {"name", "region"} <= set(errors_of(missing))
    assert counts() == before
    # Passwords are never written back into the page.
    assert NEW_PASSWORD not in mismatch.content.decode()


def test_a_role_without_add_accounts_gets_403(personas: Personas) -> None:
    # Pat: a custom partner user who may view the dashboard but not add accounts.
    client = personas.client(personas.pat)
    assert client.get(add_url(personas.partner)).status_code == 403
    before = counts()
    assert client.post(add_url(personas.partner), form_data()).status_code == 403
    assert counts() == before
    done = reverse("partner_add_account_done", args=[personas.partner.pk, personas.a.pk])
    assert client.get(done).status_code == 403


def test_other_tenants_get_404(personas: Personas, olivia: User) -> None:
    stranger_partner = PartnerFactory(name="Contoso Partners")
    stranger = UserFactory(email="sam@contoso.test")
    MembershipFactory(user=stranger, partner=stranger_partner, role=Membership.Role.ADMIN)
    before = counts()
    for user in (stranger, personas.alice, personas.charlie):
        client = personas.client(user)
        assert client.get(add_url(personas.partner)).status_code == 404, user
        assert client.post(add_url(personas.partner), form_data()).status_code == 404, user
        done = reverse("partner_add_account_done", args=[personas.partner.pk, personas.a.pk])
        assert client.get(done).status_code == 404, user
    assert counts() == before
    # The stranger's own portal does not show another partner's account either.
    own_done = reverse("partner_add_account_done", args=[stranger_partner.pk, personas.a.pk])
    page = personas.client(stranger).get(own_done)
    assert page.status_code == 404 and b"Acme" not in page.content
    anonymous = Client().get(add_url(personas.partner))
    assert anonymous.status_code == 302 and "/auth/login/" in anonymous["Location"]


def test_a_user_limited_to_some_accounts_sees_only_those_and_keeps_what_they_add(personas: Personas) -> None:
    # Pat, given Add accounts, still reaches only Acme: Globex's page is out of reach.
    Membership.objects.filter(pk=personas.pat_membership.pk).update(
        operations=[perms.PARTNER_VIEW_DASHBOARD, perms.PARTNER_ADD_ACCOUNTS]
    )
    client = personas.client(personas.pat)
    globex = reverse("partner_add_account_done", args=[personas.partner.pk, personas.b.pk])
    assert client.get(globex).status_code == 404
    response = client.post(add_url(personas.partner), form_data())
    assert response.status_code == 302
    added = Account.objects.get(name="Initech")
    assert set(personas.pat_membership.accounts.all()) == {personas.a, added}
    done = client.get(response["Location"])
    assert done.status_code == 200
    # Pat's role holds no backup-task operation: the page says so instead of offering the button.
    assert b"Activate backups" not in done.content and b"may not add backup tasks" in done.content


def test_a_sibling_partner_cannot_add_accounts_to_another(personas: Personas) -> None:
    distributor = PartnerFactory(name="Big Distribution", kind=Partner.Kind.DISTRIBUTOR)
    east = PartnerFactory(name="East Reseller", kind=Partner.Kind.RESELLER, parent=distributor)
    west = PartnerFactory(name="West Reseller", kind=Partner.Kind.RESELLER, parent=distributor)
    west_admin = UserFactory(email="wes@west.test")
    MembershipFactory(user=west_admin, partner=west, role=Membership.Role.ADMIN)
    client = personas.client(west_admin)
    assert client.get(add_url(east)).status_code == 404
    assert client.get(add_url(west)).status_code == 200
    response = client.post(add_url(west), form_data())
    assert response.status_code == 302
    assert Account.objects.get(name="Initech").partner == west


def test_attempts_are_limited_per_partner(
    personas: Personas, olivia: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backstop.tenancy.views import add_account as view

    monkeypatch.setattr(view, "ADD_ACCOUNT_LIMIT", (2, 3600))
    client = personas.client(olivia)
    for _ in range(2):
        assert client.post(add_url(personas.partner), form_data(email="alice@acme.test")).status_code == 200
    limited = client.post(add_url(personas.partner), form_data())
    assert limited.status_code == 429 and b"Too many accounts added" in limited.content
    assert not Account.objects.filter(name="Initech").exists()
