"""Partner Settings > Users (P-SETTINGS): add, edit, remove, resend; the accessible accounts and
their searched picker; the last administrator; the audit; and every other tenant kept out."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backstop.accounts.models import User
from backstop.audit.models import AuditEvent
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from tests.conftest import Personas
from tests.factories import AccountFactory, MembershipFactory, PartnerFactory, UserFactory
from tests.helpers import body_of, last_link, messages_to
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

PASSWORD_OF_GUS = "steady-copper-kettle-5"


@pytest.fixture
def nora(personas: Personas) -> User:
    """Administrator of the partner Northwind IT."""
    user = UserFactory(email="nora@northwind.test", first_name="Nora", last_name="Quinn")
    MembershipFactory(user=user, partner=personas.partner, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def initech(personas: Personas) -> Account:
    """A third account of Northwind IT."""
    return AccountFactory(name="Initech", partner=personas.partner)


@pytest.fixture
def contoso() -> tuple[Partner, Account, User]:
    """Another partner, its account and its administrator."""
    partner = PartnerFactory(name="Contoso Partners")
    account = AccountFactory(name="Fabrikam", email="it@fabrikam.test", partner=partner)
    olga = UserFactory(email="olga@contoso.test")
    MembershipFactory(user=olga, partner=partner, role=Membership.Role.ADMIN)
    return partner, account, olga


def new_user(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "email": "gus@northwind.test",
        "sign_in": "email",
        "first_name": "Gus",
        "last_name": "Lee",
        "password": PASSWORD_OF_GUS,
        "role": "custom",
        "partner_ops": [perms.PARTNER_VIEW_DASHBOARD, perms.PARTNER_ADD_ACCOUNTS],
        "general": [perms.VIEW_SETTINGS],
        "backup": [perms.RESTORE],
        "all_accounts": None if changes.get("accounts") else "on",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def users_url(partner: Partner, name: str = "partner_users", *args: int) -> str:
    return reverse(name, args=[partner.pk, *args])


def sign_in(email: str, password: str) -> Client:
    client = Client()
    response = client.post(reverse("account_login"), {"login": email, "password": password})
    assert response.status_code == 302
    return client


def test_a_custom_user_limited_to_one_account_sees_only_it(
    personas: Personas, nora: User, initech: Account, outbox: Path
) -> None:
    admin = personas.client(nora)
    response = admin.post(users_url(personas.partner, "partner_user_new"), new_user(accounts=[initech.pk]))
    assert response.status_code == 302
    gus = Membership.objects.get(user__email="gus@northwind.test")
    assert (gus.partner, gus.account, gus.role, gus.credential) == (
        personas.partner,
        None,
        "custom",
        "password",
    )
    assert gus.operations == sorted(
        [perms.PARTNER_VIEW_DASHBOARD, perms.PARTNER_ADD_ACCOUNTS, perms.VIEW_SETTINGS, perms.RESTORE]
    )
    assert (gus.all_accounts, list(gus.accounts.all())) == (False, [initech])
    assert gus.created_by == nora

    # The invitation: a link valid 24 hours; the user cannot sign in before opening it.
    (message,) = messages_to(outbox, "gus@northwind.test")
    assert 'partner portal of "Northwind IT"' in str(message.get_body(preferencelist=("plain",)))
    assert "sign in with gus@northwind.test and the password your administrator chose" in body_of(message)
    refused = Client().post(reverse("account_login"), {"login": gus.user.email, "password": PASSWORD_OF_GUS})
    assert refused["Location"] == reverse("account_email_verification_sent")
    Client().post(last_link(outbox, "gus@northwind.test", "/auth/confirm-email/"))
    client = sign_in(gus.user.email, PASSWORD_OF_GUS)

    dashboard = client.get(reverse("partner_dashboard", args=[personas.partner.pk])).content.decode()
    assert "Initech" in dashboard
    assert "Acme" not in dashboard and "Globex" not in dashboard
    assert client.get(reverse("account_home", args=[initech.pk])).status_code == 200
    assert client.get(reverse("account_settings", args=[initech.pk])).status_code == 200
    assert client.get(reverse("account_home", args=[personas.a.pk])).status_code == 404
    assert client.get(users_url(personas.partner)).status_code == 403
    assert client.get(reverse("partner_settings", args=[personas.partner.pk])).status_code == 403


def test_the_link_works_for_24_hours_and_not_after(
    personas: Personas, nora: User, outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    personas.client(nora).post(users_url(personas.partner, "partner_user_new"), new_user())
    link = last_link(outbox, "gus@northwind.test", "/auth/confirm-email/")
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + 25 * 3600)
    assert Client().post(link).status_code == 404
    assert not EmailAddress.objects.get(email="gus@northwind.test").verified
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + 23 * 3600)
    assert Client().post(link).status_code == 302
    assert EmailAddress.objects.get(email="gus@northwind.test").verified


def test_resend_sends_a_fresh_link_that_works_after_the_first_expired(
    personas: Personas, nora: User, outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = personas.client(nora)
    admin.post(users_url(personas.partner, "partner_user_new"), new_user())
    gus = Membership.objects.get(user__email="gus@northwind.test")
    page = admin.get(users_url(personas.partner)).content.decode()
    assert "Awaiting confirmation" in page and 'data-testid="resend"' in page

    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + 30 * 3600)  # the first link expired
    admin.post(users_url(personas.partner, "partner_user_resend", gus.pk))
    assert len(messages_to(outbox, "gus@northwind.test")) == 2
    assert Client().post(last_link(outbox, "gus@northwind.test", "/auth/confirm-email/")).status_code == 302
    sign_in("gus@northwind.test", PASSWORD_OF_GUS)
    page = admin.get(users_url(personas.partner)).content.decode()
    assert 'data-testid="resend"' not in page
    admin.post(users_url(personas.partner, "partner_user_resend", gus.pk))
    assert len(messages_to(outbox, "gus@northwind.test")) == 2  # confirmed: nothing more sent


def test_the_picker_and_the_list_offer_only_the_partners_accounts(
    personas: Personas, nora: User, initech: Account, contoso: tuple[Partner, Account, User]
) -> None:
    _, fabrikam, _ = contoso
    Account.objects.filter(pk=personas.b.pk).update(partner_access=False)  # support removed access
    admin = personas.client(nora)
    form = admin.get(users_url(personas.partner, "partner_user_new")).content.decode()
    assert "Acme" in form and "Initech" in form
    assert "Fabrikam" not in form and "Globex" not in form

    # A foreign account id, posted by hand, is refused and nothing is created; the page shows the
    # valid choice again, never the foreign account's name.
    response = admin.post(
        users_url(personas.partner, "partner_user_new"), new_user(accounts=[fabrikam.pk, initech.pk])
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert chosen_names(response.content.decode()) == ["Initech"]
    assert "Fabrikam" not in response.content.decode()
    assert not User.objects.filter(email="gus@northwind.test").exists()

    # A row pointing at another partner's account counts for nothing and is never shown.
    personas.pat_membership.accounts.add(fabrikam)
    rows = admin.get(users_url(personas.partner)).content.decode()
    assert "1 account<" in rows and "Fabrikam" not in rows
    edit = admin.get(users_url(personas.partner, "partner_user_edit", personas.pat_membership.pk))
    assert "Fabrikam" not in edit.content.decode()
    assert "Acme" in edit.content.decode()


def test_editing_changes_operations_and_accounts_and_is_audited(
    personas: Personas, nora: User, initech: Account
) -> None:
    admin = personas.client(nora)
    pat = personas.pat_membership
    response = admin.post(
        users_url(personas.partner, "partner_user_edit", pat.pk),
        {
            "role": "custom",
            "partner_ops": [perms.PARTNER_VIEW_DASHBOARD, perms.PARTNER_VIEW_AUDIT],
            "general": [perms.VIEW_SUPPORT],
            "accounts": [personas.a.pk, initech.pk],
        },
    )
    assert response.status_code == 302
    pat.refresh_from_db()
    assert pat.operations == sorted(
        [perms.PARTNER_VIEW_DASHBOARD, perms.PARTNER_VIEW_AUDIT, perms.VIEW_SUPPORT]
    )
    assert set(pat.accounts.all()) == {personas.a, initech}
    event = AuditEvent.objects.get(partner=personas.partner, activity="permissions_changed")
    assert "pat@northwind.test" in event.description
    assert "accessible accounts Acme -> Acme, Initech" in event.description
    assert "View the security audit" in event.description

    # All accounts again, then administrator: every account, every operation.
    admin.post(users_url(personas.partner, "partner_user_edit", pat.pk), {"role": "admin"})
    pat.refresh_from_db()
    assert pat.is_admin and pat.all_accounts and not pat.accounts.exists()
    assert personas.client(personas.pat).get(users_url(personas.partner)).status_code == 200


def test_account_operations_need_the_dashboard_or_adding_accounts(personas: Personas, nora: User) -> None:
    admin = personas.client(nora)
    admin.post(
        users_url(personas.partner, "partner_user_new"),
        new_user(partner_ops=[perms.PARTNER_VIEW_BILLING], accounts=None),
    )
    gus = Membership.objects.get(user__email="gus@northwind.test")
    assert gus.operations == [perms.PARTNER_VIEW_BILLING]
    assert gus.all_accounts


def test_a_custom_user_needs_some_accessible_account(personas: Personas, nora: User) -> None:
    response = personas.client(nora).post(
        users_url(personas.partner, "partner_user_new"), new_user(all_accounts=None)
    )
    assert "Choose at least one account" in response.content.decode()
    assert not User.objects.filter(email="gus@northwind.test").exists()


def test_the_last_administrator_cannot_be_demoted_or_removed(personas: Personas, nora: User) -> None:
    admin = personas.client(nora)
    mine = nora.memberships.get()
    demote = {"role": "custom", "partner_ops": [perms.PARTNER_VIEW_DASHBOARD], "all_accounts": "on"}
    response = admin.post(users_url(personas.partner, "partner_user_edit", mine.pk), demote)
    assert "at least one administrator" in response.content.decode()
    admin.post(users_url(personas.partner, "partner_user_remove", mine.pk))
    mine.refresh_from_db()
    assert mine.is_admin

    # An unconfirmed administrator does not count; a confirmed one does.
    admin.post(users_url(personas.partner, "partner_user_new"), new_user(role="admin"))
    response = admin.post(users_url(personas.partner, "partner_user_edit", mine.pk), demote)
    assert "at least one administrator" in response.content.decode()
    EmailAddress.objects.filter(email="gus@northwind.test").update(verified=True)
    assert admin.post(users_url(personas.partner, "partner_user_edit", mine.pk), demote).status_code == 302
    mine.refresh_from_db()
    assert not mine.is_admin


def test_removing_a_user_ends_their_access_and_is_audited(personas: Personas, nora: User) -> None:
    admin = personas.client(nora)
    page = admin.get(users_url(personas.partner, "partner_user_remove", personas.pat_membership.pk))
    assert "pat@northwind.test" in page.content.decode()
    admin.post(users_url(personas.partner, "partner_user_remove", personas.pat_membership.pk))
    assert not Membership.objects.filter(pk=personas.pat_membership.pk).exists()
    assert not User.objects.filter(email="pat@northwind.test").exists()  # no other membership
    event = AuditEvent.objects.get(partner=personas.partner, activity="user_removed")
    assert "pat@northwind.test" in event.description


def test_adding_is_audited_with_the_role_and_accounts(
    personas: Personas, nora: User, initech: Account
) -> None:
    personas.client(nora).post(
        users_url(personas.partner, "partner_user_new"), new_user(accounts=[initech.pk])
    )
    event = AuditEvent.objects.get(partner=personas.partner, activity="user_added")
    assert event.performed_by == nora.email and event.account is None
    assert "gus@northwind.test (E-mail and password)" in event.description
    assert "accessible accounts: Initech" in event.description
    assert "Add new accounts" in event.description and "Restore backups" in event.description


def test_a_user_can_be_added_to_sign_in_with_microsoft(
    personas: Personas, nora: User, settings: Any, outbox: Path
) -> None:
    admin = personas.client(nora)
    url = users_url(personas.partner, "partner_user_new")
    assert b'value="microsoft"' not in admin.get(url).content  # not offered until configured
    settings.SOCIALACCOUNT_PROVIDERS = {"microsoft": {"APPS": [{"client_id": "m", "secret": "s"}]}}
    assert b'value="microsoft"' in admin.get(url).content
    assert admin.post(url, new_user(sign_in="microsoft", password="")).status_code == 302
    gus = Membership.objects.get(user__email="gus@northwind.test")
    assert gus.credential == Membership.Credential.MICROSOFT
    assert not gus.user.has_usable_password()
    assert "<td>Microsoft</td>" in admin.get(users_url(personas.partner)).content.decode()
    (invitation,) = messages_to(outbox, "gus@northwind.test")
    assert "sign in with Microsoft using gus@northwind.test" in body_of(invitation)
    assert "password your administrator chose" not in body_of(invitation)


def test_the_list_searches_and_pages(personas: Personas, nora: User) -> None:
    for n in range(30):
        MembershipFactory(user=UserFactory(email=f"tech{n:02d}@northwind.test"), partner=personas.partner)
    admin = personas.client(nora)
    first = admin.get(users_url(personas.partner)).content.decode()
    assert first.count('data-testid="user-row"') == 25 and "Page 1 of 2" in first
    found = admin.get(users_url(personas.partner), {"q": "tech07"}).content.decode()
    assert found.count('data-testid="user-row"') == 1 and "tech07@northwind.test" in found
    fragment = admin.get(users_url(personas.partner), {"q": "pat"}, HTTP_HX_REQUEST="true").content.decode()
    assert "pat@northwind.test" in fragment and "<html" not in fragment


def test_custom_roles_get_403_and_other_tenants_404(
    personas: Personas, nora: User, contoso: tuple[Partner, Account, User]
) -> None:
    other, _, olga = contoso
    theirs = olga.memberships.get()
    pat_id = personas.pat_membership.pk
    pages = [
        ("partner_users",),
        ("partner_user_new",),
        ("partner_user_edit", pat_id),
        ("partner_user_remove", pat_id),
    ]
    pat = personas.client(personas.pat)
    for name, *args in pages:
        assert pat.get(users_url(personas.partner, name, *args)).status_code == 403
    assert pat.post(users_url(personas.partner, "partner_user_resend", pat_id)).status_code == 403
    for user in (olga, personas.alice, personas.charlie):
        client = personas.client(user)
        for name, *args in pages:
            assert client.get(users_url(personas.partner, name, *args)).status_code == 404
        assert client.post(users_url(personas.partner, "partner_user_remove", pat_id)).status_code == 404
    # Nora's own partner URL with another partner's membership id: 404, nothing touched.
    admin = personas.client(nora)
    assert admin.get(users_url(personas.partner, "partner_user_edit", theirs.pk)).status_code == 404
    assert admin.post(users_url(personas.partner, "partner_user_remove", theirs.pk)).status_code == 404
    assert admin.post(users_url(personas.partner, "partner_user_resend", theirs.pk)).status_code == 404
    assert "olga@contoso.test" not in admin.get(users_url(personas.partner)).content.decode()
    assert Membership.objects.filter(pk=theirs.pk, partner=other).exists()


# -- the accessible-accounts picker: chosen accounts plus a searched page ---------------------------


def chosen_names(html: str) -> list[str]:
    return re.findall(r'for="chosen-\d+">([^<]+?) <span', html)


def result_names(html: str) -> list[str]:
    return re.findall(r'for="result-\d+">([^<]+?) <span', html)


def many_accounts(partner: Partner, count: int) -> list[Account]:
    Account.objects.bulk_create(
        Account(name=f"Customer {n:03d}", email=f"backup@customer{n:03d}.test", partner=partner)
        for n in range(count)
    )
    return list(Account.objects.filter(partner=partner, name__startswith="Customer").order_by("name"))


def search(client: Client, partner: Partner, query: str, page: int = 1) -> str:
    url = users_url(partner, "partner_user_accounts")
    response = client.get(url, {"q": query, "page": page}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def test_the_form_shows_the_chosen_accounts_and_one_page_not_every_account(
    personas: Personas, nora: User
) -> None:
    customers = many_accounts(personas.partner, 120)
    pat = personas.pat_membership
    pat.accounts.add(customers[100])
    admin = personas.client(nora)

    new = admin.get(users_url(personas.partner, "partner_user_new")).content.decode()
    assert chosen_names(new) == []
    assert result_names(new) == ["Acme"] + [f"Customer {n:03d}" for n in range(19)]
    assert "20 of 122 accounts" in new and 'data-testid="more-accounts"' in new

    # Pat's two accounts are chosen (ticked, posted as `accounts`) although one is far down the list.
    edit = admin.get(users_url(personas.partner, "partner_user_edit", pat.pk)).content.decode()
    assert chosen_names(edit) == ["Acme", "Customer 100"]
    assert len(result_names(edit)) == 20 and "Customer 050" not in edit
    assert edit.count('type="checkbox" name="accounts"') == 22
    assert f'name="accounts" value="{customers[100].pk}" id="chosen-{customers[100].pk}" checked' in edit
    # Acme is also on the first page: shown ticked there, but only its chosen box posts it.
    assert f'value="{personas.a.pk}" id="result-{personas.a.pk}" checked disabled' in edit

    # Saving with only the chosen boxes keeps both accounts.
    saved = {"role": "custom", "partner_ops": [perms.PARTNER_VIEW_DASHBOARD]}
    response = admin.post(
        users_url(personas.partner, "partner_user_edit", pat.pk),
        {**saved, "accounts": [personas.a.pk, customers[100].pk]},
    )
    assert response.status_code == 302
    assert set(pat.accounts.all()) == {personas.a, customers[100]}


def test_the_form_page_costs_the_same_queries_with_many_accounts(personas: Personas, nora: User) -> None:
    admin = personas.client(nora)
    pat = personas.pat_membership
    url = users_url(personas.partner, "partner_user_edit", pat.pk)
    admin.get(url)  # caches warmed
    with CaptureQueriesContext(connection) as few:
        assert admin.get(url).status_code == 200
    customers = many_accounts(personas.partner, 120)
    pat.accounts.add(*customers[:30])
    with CaptureQueriesContext(connection) as many:
        page = admin.get(url).content.decode()
    assert len(chosen_names(page)) == 31 and len(result_names(page)) == 20
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_search_finds_by_name_or_email_and_pages(personas: Personas, nora: User) -> None:
    many_accounts(personas.partner, 45)
    admin = personas.client(nora)
    assert result_names(search(admin, personas.partner, "customer 04")) == [
        f"Customer {n:03d}" for n in range(40, 45)
    ]
    by_email = search(admin, personas.partner, "@CUSTOMER007.")
    assert result_names(by_email) == ["Customer 007"] and "1 of 1 account<" in by_email
    assert "<html" not in by_email

    first = search(admin, personas.partner, "customer")
    assert len(result_names(first)) == 20 and "20 of 45 accounts" in first
    # "Show more" asks for the next page of the same search.
    more = re.search(r'hx-get="([^"]+)"[^>]*data-testid="more-accounts"', first)
    assert more is not None
    third = admin.get(more.group(1).replace("&amp;", "&").replace("page=2", "page=3")).content.decode()
    assert result_names(third) == [f"Customer {n:03d}" for n in range(40, 45)]
    assert "45 of 45 accounts" in third and "more-accounts" not in third
    assert "No account matches “zebra”" in search(admin, personas.partner, "zebra")

    # Without JavaScript the same link pages the form itself.
    second = admin.get(users_url(personas.partner, "partner_user_new"), {"q": "customer", "page": 2})
    assert result_names(second.content.decode())[0] == "Customer 020"


def test_the_search_never_leaves_the_partners_reach(
    personas: Personas, nora: User, contoso: tuple[Partner, Account, User]
) -> None:
    admin = personas.client(nora)
    # Another partner's account, searched by its exact name and its e-mail: nothing.
    assert result_names(search(admin, personas.partner, "Fabrikam")) == []
    assert result_names(search(admin, personas.partner, "it@fabrikam.test")) == []
    # An account whose partner access was removed is no longer offered.
    Account.objects.filter(pk=personas.b.pk).update(partner_access=False)
    assert result_names(search(admin, personas.partner, "")) == ["Acme"]
    # Custom users may not manage users; the customer's own users and other partners see nothing.
    url = users_url(personas.partner, "partner_user_accounts")
    assert personas.client(personas.pat).get(url).status_code == 403
    for user in (contoso[2], personas.alice):
        assert personas.client(user).get(url, {"q": "Acme"}).status_code == 404


def test_the_search_follows_the_partner_hierarchy(hierarchy: Hierarchy) -> None:
    alpha, globalnet = hierarchy.alpha, hierarchy.globalnet
    alan = hierarchy.client(hierarchy.alan)
    # A reseller's administrator: its own accounts only, never the sibling's or the parent's.
    assert result_names(search(alan, alpha, "")) == ["Alpha One", "Alpha Two"]
    for name in ("Beta One", "Globalnet Labs", "Solo One"):
        assert result_names(search(alan, alpha, name)) == []
    # The distributor: its whole tree in its own portal, the reseller's part in the reseller's.
    gina = hierarchy.client(hierarchy.gina)
    assert result_names(search(gina, globalnet, "one")) == ["Alpha One", "Beta One"]
    assert result_names(search(gina, alpha, "one")) == ["Alpha One"]
    # A sibling, a direct partner, a subset user and a customer's owner get no search at all.
    url = users_url(alpha, "partner_user_accounts")
    for user in (hierarchy.bea, hierarchy.sol, hierarchy.owners["Alpha One"]):
        assert hierarchy.client(user).get(url, {"q": "Alpha"}).status_code == 404
    assert hierarchy.client(hierarchy.sam).get(url, {"q": "Alpha"}).status_code == 403
    assert alan.post(url, {"q": "Alpha"}).status_code == 405


def test_accounts_found_far_down_the_list_are_granted_and_stay_chosen_after_an_error(
    personas: Personas, nora: User
) -> None:
    customers = many_accounts(personas.partner, 60)
    admin = personas.client(nora)
    url = users_url(personas.partner, "partner_user_new")
    picked = [customers[57].pk, customers[58].pk]
    # A mistake elsewhere in the form: the picked accounts are shown chosen again, not lost.
    again = admin.post(url, new_user(accounts=picked, email="not an address")).content.decode()
    assert chosen_names(again) == ["Customer 057", "Customer 058"]
    assert admin.post(url, new_user(accounts=picked)).status_code == 302
    gus = Membership.objects.get(user__email="gus@northwind.test")
    assert set(gus.accounts.all()) == {customers[57], customers[58]}
