"""The partner hierarchy personas (P-TIERS), for every partner portal test.

Use it in a test module with one import (the fixture is registered under the name `hierarchy`):

    from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

    def test_something(hierarchy: Hierarchy) -> None: ...

The tree (every account on a 14-day trial, every user verified with tests.factories.PASSWORD,
every partner's billing set up so the dashboard opens):

    Globalnet (distributor)                 gina@globalnet.test   Administrator
    |                                       dora@globalnet.test   Custom: security audit and partner
    |                                                             settings, NO dashboard
    |-- account "Globalnet Labs"            (the distributor's own customer)
    |-- Alpha IT (reseller)                 alan@alpha.test       Administrator
    |   |                                   sam@alpha.test        Custom: dashboard, add and subscribe
    |   |                                                         accounts, audit; account operations
    |   |                                                         view settings and tasks; ONLY "Alpha One"
    |   |-- account "Alpha One"             owner@alpha-one.test  the customer's own administrator
    |   `-- account "Alpha Two"             owner@alpha-two.test
    `-- Beta IT (reseller)                  bea@beta.test         Administrator
        |-- account "Beta One"              owner@beta-one.test
        `-- account "Beta Two"              owner@beta-two.test

    Solo Services (direct partner)          sol@solo.test         Administrator
    |-- account "Solo One"                  owner@solo-one.test
    `-- account "Solo Two"                  owner@solo-two.test

What each one must reach: Gina every account under Globalnet (its own, Alpha's and Beta's) and
the portals of Alpha IT and Beta IT; Alan and Bea only their own reseller's accounts (never the
sibling's, never Globalnet Labs, never the parent's portal); Sam only Alpha One; Dora no
dashboard (403) but the audit; Sol only Solo's; a customer owner only their own account.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.utils import timezone

from backstop.accounts.models import User
from backstop.billing.models import BillingProfile
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from tests.factories import AccountFactory, MembershipFactory, PartnerFactory, UserFactory

SAM_OPERATIONS = [
    perms.PARTNER_VIEW_DASHBOARD,
    perms.PARTNER_ADD_ACCOUNTS,
    perms.PARTNER_SUBSCRIBE,
    perms.PARTNER_VIEW_AUDIT,
    perms.VIEW_SETTINGS,
    perms.VIEW_TASKS,
    perms.VIEW_SUPPORT,
]
DORA_OPERATIONS = [perms.PARTNER_VIEW_AUDIT, perms.PARTNER_VIEW_SETTINGS]


@dataclass
class Hierarchy:
    globalnet: Partner
    alpha: Partner
    beta: Partner
    solo: Partner
    gina: User  # Globalnet administrator
    dora: User  # Globalnet custom user without the dashboard
    alan: User  # Alpha IT administrator
    sam: User  # Alpha IT custom user limited to Alpha One
    bea: User  # Beta IT administrator
    sol: User  # Solo Services administrator
    accounts: dict[str, Account]  # by name
    owners: dict[str, User]  # the customer's own administrator, by account name
    memberships: dict[str, Membership] = field(default_factory=dict)  # by user first name (lower case)

    def account(self, name: str) -> Account:
        return self.accounts[name]

    def names_under(self, partner: Partner) -> set[str]:
        """The names of the accounts a full-access role of `partner` reaches (its subtree)."""
        return {a.name for a in self.accounts.values() if a.partner and a.partner.is_within(partner)}

    def client(self, user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    def limited_user(self, operation: str, *accounts: str) -> User:
        """Lena, a custom role of Globalnet with one partner operation and only these accounts."""
        lena = UserFactory(email="lena@globalnet.test")
        role = MembershipFactory(
            user=lena,
            partner=self.globalnet,
            role=Membership.Role.CUSTOM,
            operations=[operation],
            all_accounts=False,
        )
        role.accounts.add(*(self.account(name) for name in accounts))
        return lena


def _partner_admin(partner: Partner, email: str, first_name: str) -> tuple[User, Membership]:
    user = UserFactory(email=email, first_name=first_name)
    return user, MembershipFactory(user=user, partner=partner, role=Membership.Role.ADMIN)


def build_hierarchy() -> Hierarchy:
    reseller, distributor = Partner.Kind.RESELLER, Partner.Kind.DISTRIBUTOR
    globalnet = PartnerFactory(name="Globalnet", kind=distributor, email="billing@globalnet.test")
    alpha = PartnerFactory(name="Alpha IT", kind=reseller, parent=globalnet, email="billing@alpha.test")
    beta = PartnerFactory(name="Beta IT", kind=reseller, parent=globalnet, email="billing@beta.test")
    solo = PartnerFactory(name="Solo Services", kind=Partner.Kind.DIRECT, email="billing@solo.test")

    accounts: dict[str, Account] = {}
    owners: dict[str, User] = {}
    for partner, names in (
        (globalnet, ["Globalnet Labs"]),
        (alpha, ["Alpha One", "Alpha Two"]),
        (beta, ["Beta One", "Beta Two"]),
        (solo, ["Solo One", "Solo Two"]),
    ):
        for name in names:
            slug = name.lower().replace(" ", "-")
            account = AccountFactory(name=name, email=f"backup@{slug}.test", partner=partner)
            owner = UserFactory(email=f"owner@{slug}.test", first_name="Owner")
            MembershipFactory(user=owner, account=account, role=Membership.Role.ADMIN)
            accounts[name], owners[name] = account, owner

    gina, gina_m = _partner_admin(globalnet, "gina@globalnet.test", "Gina")
    alan, alan_m = _partner_admin(alpha, "alan@alpha.test", "Alan")
    bea, bea_m = _partner_admin(beta, "bea@beta.test", "Bea")
    sol, sol_m = _partner_admin(solo, "sol@solo.test", "Sol")
    dora = UserFactory(email="dora@globalnet.test", first_name="Dora")
    dora_m = MembershipFactory(
        user=dora, partner=globalnet, role=Membership.Role.CUSTOM, operations=list(DORA_OPERATIONS)
    )
    sam = UserFactory(email="sam@alpha.test", first_name="Sam")
    sam_m = MembershipFactory(
        user=sam,
        partner=alpha,
        role=Membership.Role.CUSTOM,
        operations=list(SAM_OPERATIONS),
        all_accounts=False,
    )
    sam_m.accounts.add(accounts["Alpha One"])
    for partner in (globalnet, alpha, beta, solo):
        # Billing is set up (else the dashboard leads to the billing onboarding first).
        BillingProfile.objects.create(partner=partner, email=partner.email, onboarded_at=timezone.now())
        partner.refresh_from_db()  # the lineage is written after the first save
    for account in accounts.values():
        account.refresh_from_db()
    memberships = {"gina": gina_m, "dora": dora_m, "alan": alan_m, "sam": sam_m, "bea": bea_m, "sol": sol_m}
    return Hierarchy(
        globalnet, alpha, beta, solo, gina, dora, alan, sam, bea, sol, accounts, owners, memberships
    )


@pytest.fixture(name="hierarchy")
def hierarchy_fixture(db: None) -> Hierarchy:
    return build_hierarchy()


__all__ = ["Hierarchy", "build_hierarchy", "hierarchy_fixture"]
