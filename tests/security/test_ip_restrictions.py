"""Settings > Security > IP restrictions (A-IPRESTRICT): trusted IPv4 addresses and ranges, the
lock-out guard, "Access Denied" for everybody else, e-mails to the administrators and the audit."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from backstop.accounts.models import User
from backstop.audit.models import AuditEvent
from backstop.security.models import SecurityPolicy, TrustedAddress
from tests.conftest import PASSWORD, Personas
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.helpers import body_of, messages_to
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db

OFFICE = "203.0.113.7"


def at(address: str, client: Client) -> Client:
    """The same signed-in client, its requests now coming from `address`."""
    client.defaults["REMOTE_ADDR"] = address
    return client


def add(client: Client, account_id: int, **fields: str) -> object:
    data = {"mode": "list", "description": "", "addresses": "", "first": "", "last": "", **fields}
    return client.post(reverse("account_ip_new", args=[account_id]), data)


def restricted(account_id: int) -> bool:
    return SecurityPolicy.objects.filter(account_id=account_id, ip_restriction=True).exists()


def test_the_first_address_turns_the_restriction_on_mails_the_admins_and_is_audited(
    personas: Personas, outbox: Path
) -> None:
    second_admin = UserFactory(email="admin2@acme.test")
    MembershipFactory(user=second_admin, account=personas.a, role="admin")
    alice = at(OFFICE, personas.client(personas.alice))
    page = alice.get(reverse("account_ip", args=[personas.a.pk]))
    assert OFFICE in page.content.decode() and b'data-testid="ip-empty"' in page.content

    response = add(alice, personas.a.pk, addresses=f"{OFFICE}, 198.51.100.1", description="Office")
    assert response.status_code == 302
    assert restricted(personas.a.pk)
    entry = TrustedAddress.objects.get(account=personas.a)
    assert entry.address_list == [OFFICE, "198.51.100.1"] and entry.description == "Office"
    page = alice.get(reverse("account_ip", args=[personas.a.pk])).content.decode()
    assert f"{OFFICE}, 198.51.100.1" in page and 'data-testid="ip-state">On<' in page.replace("\n", "")

    for admin in ("alice@acme.test", "admin2@acme.test"):
        (mail,) = messages_to(outbox, admin)
        assert "IP restrictions changed" in mail["Subject"]
        assert (
            "Trusted address added: 203.0.113.7, 198.51.100.1 (Office); IP restrictions turned on"
            in body_of(mail)
        )
    assert not messages_to(outbox, "bob@acme.test")  # a custom user is not an administrator
    event = AuditEvent.objects.get(account=personas.a, activity="security_changed")
    assert "IP restrictions turned on" in event.description and event.ip == OFFICE


def test_saving_is_refused_when_it_would_lock_out_the_administrator(personas: Personas) -> None:
    alice = at(OFFICE, personas.client(personas.alice))
    response = add(alice, personas.a.pk, addresses="198.51.100.1")
    assert response.status_code == 200
    assert "Your current address 203.0.113.7 is not on the trusted list" in response.content.decode()
    assert not TrustedAddress.objects.exists() and not restricted(personas.a.pk)

    add(alice, personas.a.pk, addresses=OFFICE)
    (entry,) = TrustedAddress.objects.filter(account=personas.a)
    edited = alice.post(
        reverse("account_ip_edit", args=[personas.a.pk, entry.pk]),
        {"mode": "range", "first": "10.0.0.1", "last": "10.0.0.9", "description": ""},
    )
    assert "would lock you out" in edited.content.decode()
    entry.refresh_from_db()
    assert entry.address_list == [OFFICE]


def test_ranges_are_trusted_end_to_end_and_bad_input_is_refused_clearly(personas: Personas) -> None:
    alice = at("192.168.10.77", personas.client(personas.alice))
    for fields, message in [
        ({"addresses": "2001:db8::1"}, "IPv6 addresses are not supported"),
        ({"addresses": "192.168.10.300"}, "192.168.10.300 is not an IPv4 address"),
        ({"addresses": ""}, "Enter at least one IP address."),
        ({"mode": "range", "first": "192.168.10.9", "last": "192.168.10.1"}, "must end at or after"),
        ({"mode": "range", "first": "fe80::1", "last": "fe80::9"}, "IPv6 addresses are not supported"),
        ({"mode": "range", "first": "1.0.0.0", "last": "9.0.0.0"}, "too wide"),
    ]:
        response = add(alice, personas.a.pk, **fields)
        assert response.status_code == 200 and message in response.content.decode(), fields
    assert not TrustedAddress.objects.exists()

    assert (
        add(alice, personas.a.pk, mode="range", first="192.168.10.0", last="192.168.10.255").status_code
        == 302
    )
    assert alice.get(reverse("account_home", args=[personas.a.pk])).status_code == 200
    assert at("192.168.11.1", alice).get(reverse("account_home", args=[personas.a.pk])).status_code == 403


def test_requests_and_sign_ins_from_untrusted_addresses_get_access_denied(personas: Personas) -> None:
    alice = at(OFFICE, personas.client(personas.alice))
    add(alice, personas.a.pk, addresses=OFFICE)
    home = reverse("account_home", args=[personas.a.pk])
    assert alice.get(home).status_code == 200

    denied = at("198.51.100.50", alice).get(home)
    assert denied.status_code == 403
    assert b"Access Denied" in denied.content and b"198.51.100.50" in denied.content
    at("198.51.100.50", alice).get(reverse("account_settings", args=[personas.a.pk]))
    (event,) = AuditEvent.objects.filter(account=personas.a, activity="access_denied")  # once, not per page
    assert event.status == "failed" and "198.51.100.50" in event.description

    # Signing in from elsewhere ends on the same page, signed out.
    stranger = Client(REMOTE_ADDR="198.51.100.50")
    response = stranger.post(reverse("account_login"), {"login": personas.alice.email, "password": PASSWORD})
    assert response.status_code == 403 and b"Access Denied" in response.content
    assert "_auth_user_id" not in stranger.session
    office = Client(REMOTE_ADDR=OFFICE)
    assert (
        office.post(
            reverse("account_login"), {"login": personas.alice.email, "password": PASSWORD}
        ).status_code
        == 302
    )
    assert office.session["_auth_user_id"] == str(personas.alice.pk)


def test_another_account_is_not_affected_and_cannot_be_touched(personas: Personas) -> None:
    alice = at(OFFICE, personas.client(personas.alice))
    add(alice, personas.a.pk, addresses=OFFICE)
    entry = TrustedAddress.objects.get(account=personas.a)
    charlie = at("198.51.100.50", personas.client(personas.charlie))
    assert charlie.get(reverse("account_home", args=[personas.b.pk])).status_code == 200
    # Charlie cannot see or change A's list, not even by guessing ids through his own account.
    assert charlie.get(reverse("account_ip", args=[personas.a.pk])).status_code == 404
    assert charlie.post(reverse("account_ip_delete", args=[personas.b.pk, entry.pk])).status_code == 404
    assert charlie.get(reverse("account_ip_edit", args=[personas.b.pk, entry.pk])).status_code == 404
    assert TrustedAddress.objects.filter(pk=entry.pk).exists()
    # A custom user of A sees the page's policies but may not manage addresses.
    bob = at(OFFICE, personas.client(personas.bob))
    assert bob.get(reverse("account_security", args=[personas.a.pk])).status_code == 200
    assert bob.get(reverse("account_ip", args=[personas.a.pk])).status_code == 403
    assert add(bob, personas.a.pk, addresses=OFFICE).status_code == 403


def test_turning_off_and_deleting_the_last_entry(personas: Personas, outbox: Path) -> None:
    alice = at(OFFICE, personas.client(personas.alice))
    add(alice, personas.a.pk, addresses=OFFICE)
    toggle = reverse("account_ip_toggle", args=[personas.a.pk])
    alice.post(toggle, {})
    assert not restricted(personas.a.pk)
    assert at("198.51.100.50", alice).get(reverse("account_home", args=[personas.a.pk])).status_code == 200
    # Turning it back on from an address that is not on the list is refused.
    response = at("198.51.100.50", alice).post(toggle, {"enabled": "on"}, follow=True)
    assert "would lock you out" in response.content.decode() and not restricted(personas.a.pk)
    at(OFFICE, alice).post(toggle, {"enabled": "on"})
    assert restricted(personas.a.pk)

    entry = TrustedAddress.objects.get(account=personas.a)
    alice.post(reverse("account_ip_delete", args=[personas.a.pk, entry.pk]))
    assert not TrustedAddress.objects.exists() and not restricted(personas.a.pk)
    descriptions = list(
        AuditEvent.objects.filter(account=personas.a, activity="security_changed")
        .order_by("at", "pk")
        .values_list("description", flat=True)
    )
    assert descriptions[1:] == [
        "IP restrictions turned off",
        "IP restrictions turned on",
        "Trusted address removed: 203.0.113.7; IP restrictions turned off (no trusted address left)",
    ]
    assert len(messages_to(outbox, "alice@acme.test")) == 4


def test_a_forged_forwarded_header_is_ignored_unless_it_comes_through_a_trusted_proxy(
    personas: Personas, settings: object
) -> None:
    alice = at(OFFICE, personas.client(personas.alice))
    add(alice, personas.a.pk, addresses=OFFICE)
    home = reverse("account_home", args=[personas.a.pk])
    attacker = at("198.51.100.50", personas.client(personas.alice))
    assert attacker.get(home, HTTP_X_FORWARDED_FOR=OFFICE).status_code == 403

    settings.BACKSTOP_TRUSTED_PROXIES = ("10.0.0.0/8",)  # type: ignore[attr-defined]
    via_proxy = at("10.1.2.3", personas.client(personas.alice))
    assert via_proxy.get(home, HTTP_X_FORWARDED_FOR=f"1.2.3.4, {OFFICE}").status_code == 200
    assert via_proxy.get(home, HTTP_X_FORWARDED_FOR=f"{OFFICE}, 198.51.100.50").status_code == 403
    # Proxies that write ports, and our own proxy hops, are understood; a garbled header lets no one in.
    assert via_proxy.get(home, HTTP_X_FORWARDED_FOR=f"{OFFICE}:51234, 10.9.9.9").status_code == 200
    assert via_proxy.get(home, HTTP_X_FORWARDED_FOR="not-an-address").status_code == 403
    assert attacker.get(home, HTTP_X_FORWARDED_FOR=OFFICE).status_code == 403


def test_a_partner_restricts_its_own_users_including_inside_customer_accounts(personas: Personas) -> None:
    from backstop.tenancy.models import Membership

    admin = UserFactory(email="boss@northwind.test")
    MembershipFactory(user=admin, partner=personas.partner, role=Membership.Role.ADMIN)
    boss = at(OFFICE, personas.client(admin))
    url = reverse("partner_ip_new", args=[personas.partner.pk])
    data = {"mode": "list", "addresses": OFFICE, "description": "HQ", "first": "", "last": ""}
    assert boss.post(url, data).status_code == 302
    page = boss.get(reverse("partner_security", args=[personas.partner.pk])).content.decode()
    assert "Policies for all users" in page and "1 trusted entry" in page
    entry = TrustedAddress.objects.get(partner=personas.partner)
    edit = reverse("partner_ip_edit", args=[personas.partner.pk, entry.pk])
    assert boss.get(edit).status_code == 200
    assert boss.post(edit, {**data, "addresses": f"{OFFICE}, 198.51.100.9"}).status_code == 302
    entry.refresh_from_db()
    assert entry.address_list == [OFFICE, "198.51.100.9"]
    assert SecurityPolicy.objects.get(partner=personas.partner).ip_restriction
    # Pat (a custom partner user) may not manage the list.
    assert (
        at(OFFICE, personas.client(personas.pat))
        .get(reverse("partner_ip", args=[personas.partner.pk]))
        .status_code
        == 403
    )
    # From elsewhere Pat is refused on the portal and inside the customer account Pat may open.
    pat = at("198.51.100.50", personas.client(personas.pat))
    assert pat.get(reverse("partner_dashboard", args=[personas.partner.pk])).status_code == 403
    assert pat.get(reverse("account_home", args=[personas.a.pk])).status_code == 403
    assert at(OFFICE, pat).get(reverse("account_home", args=[personas.a.pk])).status_code == 200
    # The customer's own administrator is not bound by the partner's list.
    assert (
        at("198.51.100.50", personas.client(personas.alice))
        .get(reverse("account_home", args=[personas.a.pk]))
        .status_code
        == 200
    )


def test_an_export_link_names_no_account_in_its_url_yet_its_accounts_rules_apply(
    personas: Personas, settings: object
) -> None:
    from backstop.backups import downloads, jobs
    from backstop.backups.models import Job
    from backstop.tenancy.models import Membership

    # Alice is also the administrator of an unrestricted account of her own: that must not
    # open A's export to an untrusted address.
    own = AccountFactory(name="Alice's own")
    MembershipFactory(user=personas.alice, account=own, role=Membership.Role.ADMIN)
    job = jobs.create(Job.Kind.EXPORT, personas.a.pk, params={"label": "Mail"}, initiator=personas.alice)
    assert job is not None
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED, result={"file": "gone.zip"})
    link = downloads.link_for(job)
    alice = at(OFFICE, personas.client(personas.alice))
    add(alice, personas.a.pk, addresses=OFFICE)
    denied = at("198.51.100.50", alice).get(link)
    assert denied.status_code == 403 and b"Access Denied" in denied.content
    # From the office the link is served (here: the file is gone, which the page says).
    assert at(OFFICE, alice).get(link).status_code == 410
    # Enforced 2FA reaches the link too.
    SecurityPolicy.objects.filter(account=personas.a).update(require_mfa=True)
    assert at(OFFICE, alice).get(link)["Location"] == reverse("mfa_activate_totp")


def test_a_partner_user_who_cannot_reach_an_account_gets_its_404_not_its_rules(personas: Personas) -> None:
    # Pat may open A only; B restricts addresses. B's pages stay a plain 404 for Pat.
    charlie = at(OFFICE, personas.client(personas.charlie))
    add(charlie, personas.b.pk, addresses=OFFICE)
    pat = at("198.51.100.50", personas.client(personas.pat))
    assert pat.get(reverse("account_home", args=[personas.b.pk])).status_code == 404
    assert not AuditEvent.objects.filter(account=personas.b, activity="access_denied").exists()


def test_a_refused_sign_in_names_who_tried(personas: Personas) -> None:
    alice = at(OFFICE, personas.client(personas.alice))
    add(alice, personas.a.pk, addresses=OFFICE)
    Client(REMOTE_ADDR="198.51.100.50").post(
        reverse("account_login"), {"login": personas.alice.email, "password": PASSWORD}
    )
    event = AuditEvent.objects.get(account=personas.a, activity="access_denied")
    assert event.performed_by == personas.alice.email and event.user == personas.alice


def test_a_distributors_user_meets_the_rules_of_the_reseller_and_the_customer_below(
    hierarchy: Hierarchy,
) -> None:
    """Gina (Globalnet) working in Alpha IT's portal or in Alpha One's account is bound by the IP
    lists of Alpha IT and of Alpha One, as their own users are: going through the parent is no way round."""
    alpha_one = hierarchy.account("Alpha One")
    owner = at(OFFICE, hierarchy.client(User.objects.get(email="owner@alpha-one.test")))
    add(owner, alpha_one.pk, addresses=OFFICE)
    gina = at("198.51.100.50", hierarchy.client(hierarchy.gina))
    assert gina.get(reverse("account_home", args=[alpha_one.pk])).status_code == 403
    assert at(OFFICE, gina).get(reverse("account_home", args=[alpha_one.pk])).status_code == 200

    alan = at(OFFICE, hierarchy.client(hierarchy.alan))
    data = {"mode": "list", "addresses": OFFICE, "description": "HQ", "first": "", "last": ""}
    assert alan.post(reverse("partner_ip_new", args=[hierarchy.alpha.pk]), data).status_code == 302
    portal = reverse("partner_dashboard", args=[hierarchy.alpha.pk])
    assert at("198.51.100.50", gina).get(portal).status_code == 403
    assert at(OFFICE, gina).get(portal).status_code == 200
    # Globalnet's own portal is not Alpha IT's: its list does not apply there.
    assert (
        at("198.51.100.50", gina).get(reverse("partner_dashboard", args=[hierarchy.globalnet.pk])).status_code
        == 200
    )
