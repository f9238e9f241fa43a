"""Every account and partner page, for every persona: 404 out of reach, 403 when the role forbids.

Charlie (account B) must never learn that A's objects exist; Bob (custom user of A) gets 403 where
his ticked operations stop; Pat (partner user limited to A) is kept out of B."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import Personas

# (url name, needs a membership id, what Bob may do: 200/302 allowed or 403)
ACCOUNT_PAGES = [
    ("account_home", False, 200),
    ("account_support", False, 200),
    ("account_settings", False, 200),
    ("account_users", False, 403),
    ("account_user_new", False, 403),
    ("account_user_edit", True, 403),
    ("account_user_remove", True, 403),
]
ACCOUNT_POSTS = [
    ("account_remove", False),
    ("account_remove_cancel", False),
    ("account_user_resend", True),
    ("account_user_remove", True),
    ("account_user_edit", True),
    ("account_user_new", False),
    ("account_settings", False),
]


def _url(personas: Personas, name: str, with_member: bool) -> str:
    args: list[int] = [personas.a.pk]
    if with_member:
        args.append(personas.bob_membership.pk)
    return reverse(name, args=args)


@pytest.mark.parametrize(("name", "with_member", "bob_status"), ACCOUNT_PAGES)
def test_account_pages_by_persona(personas: Personas, name: str, with_member: bool, bob_status: int) -> None:
    url = _url(personas, name, with_member)
    assert personas.client(personas.alice).get(url).status_code == 200
    assert personas.client(personas.bob).get(url).status_code == bob_status
    assert personas.client(personas.charlie).get(url).status_code == 404


@pytest.mark.parametrize(("name", "with_member"), ACCOUNT_POSTS)
def test_account_forms_refuse_other_tenants_and_non_admins(
    personas: Personas, name: str, with_member: bool
) -> None:
    url = _url(personas, name, with_member)
    payload = {
        "approve": "on",
        "confirm": "yes",
        "name": "Hijacked",
        "email": "x@evil.test",
        "role": "admin",
    }
    assert personas.client(personas.charlie).post(url, payload).status_code == 404
    assert personas.client(personas.bob).post(url, payload).status_code == 403
    personas.a.refresh_from_db()
    personas.bob_membership.refresh_from_db()
    assert personas.a.name == "Acme"
    assert personas.a.removal_requested_at is None
    assert personas.bob_membership.role == "custom"


def test_membership_of_another_account_is_404_even_for_an_admin(personas: Personas) -> None:
    charlie_membership = personas.charlie.memberships.get()
    url = reverse("account_user_edit", args=[personas.a.pk, charlie_membership.pk])
    assert personas.client(personas.alice).get(url).status_code == 404
    url = reverse("account_user_remove", args=[personas.a.pk, charlie_membership.pk])
    assert personas.client(personas.alice).post(url).status_code == 404
    assert personas.charlie.memberships.exists()


def test_partner_user_reaches_only_accessible_accounts(personas: Personas) -> None:
    pat = personas.client(personas.pat)
    assert pat.get(reverse("account_home", args=[personas.a.pk])).status_code == 200
    assert pat.get(reverse("account_home", args=[personas.b.pk])).status_code == 404
    assert pat.get(reverse("account_users", args=[personas.a.pk])).status_code == 403
    page = pat.get(reverse("partner_dashboard", args=[personas.partner.pk]))
    assert page.status_code == 200
    assert b"Acme" in page.content
    assert b"Globex" not in page.content


def test_partner_dashboard_lists_only_what_the_partner_role_reaches(personas: Personas) -> None:
    """Pat is also a direct member of Globex, and support took Northwind's access to Acme away:
    the partner dashboard shows neither, though Pat may still open Globex as a customer."""
    from backstop.tenancy.models import Account, Membership

    Membership.objects.create(user=personas.pat, account=personas.b, role="admin")
    Account.objects.filter(pk=personas.a.pk).update(partner_access=False)
    page = personas.client(personas.pat).get(reverse("partner_dashboard", args=[personas.partner.pk]))
    assert b"Acme" not in page.content
    assert b"Globex" not in page.content
    assert personas.client(personas.pat).get(reverse("account_home", args=[personas.b.pk])).status_code == 200
    assert personas.client(personas.pat).get(reverse("account_home", args=[personas.a.pk])).status_code == 404


def test_every_account_page_is_in_the_isolation_lists() -> None:
    """A new page under /a/<id>/ must be added to the lists above, so that it is tested."""
    from backstop.tenancy.urls import urlpatterns

    listed = (
        {name for name, *_ in ACCOUNT_PAGES} | {name for name, _ in ACCOUNT_POSTS} | {"account_email_confirm"}
    )
    assert {pattern.name for pattern in urlpatterns} == listed


def test_email_change_link_is_404_for_other_tenants_and_403_for_custom_users(personas: Personas) -> None:
    url = reverse("account_email_confirm", args=[personas.a.pk, "any-token"])
    assert personas.client(personas.charlie).get(url).status_code == 404
    assert personas.client(personas.bob).get(url).status_code == 403


def test_partner_dashboard_is_404_for_customers(personas: Personas) -> None:
    url = reverse("partner_dashboard", args=[personas.partner.pk])
    for user in (personas.alice, personas.bob, personas.charlie):
        assert personas.client(user).get(url).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(personas: Personas, client: object) -> None:
    for name, with_member, _ in ACCOUNT_PAGES:
        response = client.get(_url(personas, name, with_member))  # type: ignore[attr-defined]
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


def test_menu_shows_only_what_the_role_allows(personas: Personas) -> None:
    home = reverse("account_home", args=[personas.a.pk])
    alice_page = personas.client(personas.alice).get(home).content.decode()
    bob_page = personas.client(personas.bob).get(home).content.decode()
    users_url = reverse("account_users", args=[personas.a.pk])
    assert users_url in alice_page
    assert users_url not in bob_page
    assert reverse("account_settings", args=[personas.a.pk]) in bob_page


def test_live_search_fragments_are_not_cached_as_pages(personas: Personas) -> None:
    response = personas.client(personas.alice).get(reverse("account_users", args=[personas.a.pk]))
    assert "HX-Request" in response["Vary"]
