"""The partner hierarchy of any depth (P-TIERS): each level reaches its own subtree and nothing else."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Partner
from tests.factories import AccountFactory, MembershipFactory, PartnerFactory, UserFactory
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

ALPHA = {"Alpha One", "Alpha Two"}
BETA = {"Beta One", "Beta Two"}
GLOBALNET = {"Globalnet Labs"} | ALPHA | BETA
SOLO = {"Solo One", "Solo Two"}


def names(user: object, action: str = perms.VIEW) -> set[str]:
    return set(Account.objects.restrict(user, action).values_list("name", flat=True))  # type: ignore[arg-type]


def dashboard_names(h: Hierarchy, user: object, partner: Partner) -> set[str]:
    response = h.client(user).get(reverse("partner_dashboard", args=[partner.pk]))  # type: ignore[arg-type]
    assert response.status_code == 200
    return {name for name in GLOBALNET | SOLO if name in response.content.decode()}


def test_lineage_names_each_partners_place(hierarchy: Hierarchy) -> None:
    g, a, b, s = hierarchy.globalnet, hierarchy.alpha, hierarchy.beta, hierarchy.solo
    assert g.lineage == f"/{g.pk}/"
    assert a.lineage == f"/{g.pk}/{a.pk}/"
    assert b.lineage == f"/{g.pk}/{b.pk}/"
    assert s.lineage == f"/{s.pk}/"
    assert (g.depth, a.depth) == (0, 1)
    assert a.ancestor_ids() == [g.pk]
    assert a.is_within(g) and not g.is_within(a) and not a.is_within(b)
    assert set(g.subtree()) == {g, a, b}
    assert set(a.subtree()) == {a}


def test_each_persona_reaches_exactly_its_subtree(hierarchy: Hierarchy) -> None:
    h = hierarchy
    assert names(h.gina) == GLOBALNET
    assert names(h.alan) == ALPHA
    assert names(h.bea) == BETA
    assert names(h.sam) == {"Alpha One"}
    assert names(h.sol) == SOLO
    assert names(h.owners["Beta Two"]) == {"Beta Two"}
    assert h.names_under(h.globalnet) == GLOBALNET


def test_partner_restrict_includes_the_partners_below(hierarchy: Hierarchy) -> None:
    h = hierarchy
    dashboard = perms.PARTNER_VIEW_DASHBOARD
    assert set(Partner.objects.restrict(h.gina, dashboard)) == {h.globalnet, h.alpha, h.beta}
    assert set(Partner.objects.restrict(h.alan, dashboard)) == {h.alpha}
    assert set(Partner.objects.restrict(h.bea)) == {h.beta}
    assert Partner.objects.restrict(h.dora, dashboard).count() == 0
    assert set(Partner.objects.restrict(h.dora, perms.PARTNER_VIEW_AUDIT)) == {h.globalnet, h.alpha, h.beta}
    assert Partner.objects.restrict(h.owners["Alpha One"]).count() == 0


def test_distributor_dashboard_lists_its_resellers_accounts(hierarchy: Hierarchy) -> None:
    h = hierarchy
    assert dashboard_names(h, h.gina, h.globalnet) == GLOBALNET
    # In a reseller's portal, the distributor's user sees that reseller's accounts only.
    assert dashboard_names(h, h.gina, h.alpha) == ALPHA
    assert dashboard_names(h, h.gina, h.beta) == BETA


def test_reseller_never_sees_its_sibling_or_its_parent(hierarchy: Hierarchy) -> None:
    h = hierarchy
    assert dashboard_names(h, h.alan, h.alpha) == ALPHA
    alan = h.client(h.alan)
    for partner in (h.beta, h.globalnet, h.solo):  # the sibling's portal, the parent's, a stranger's
        assert alan.get(reverse("partner_dashboard", args=[partner.pk])).status_code == 404
        assert alan.get(reverse("partner_audit", args=[partner.pk])).status_code == 404
    for name in BETA | {"Globalnet Labs"} | SOLO:  # guessed account ids
        account = h.account(name)
        assert alan.get(reverse("account_home", args=[account.pk])).status_code == 404
        assert alan.get(reverse("account_settings", args=[account.pk])).status_code == 404


def test_subset_user_sees_only_its_accounts(hierarchy: Hierarchy) -> None:
    h = hierarchy
    assert dashboard_names(h, h.sam, h.alpha) == {"Alpha One"}
    sam = h.client(h.sam)
    assert sam.get(reverse("account_home", args=[h.account("Alpha One").pk])).status_code == 200
    for name in GLOBALNET - {"Alpha One"}:
        assert sam.get(reverse("account_home", args=[h.account(name).pk])).status_code == 404
    assert sam.get(reverse("partner_dashboard", args=[h.beta.pk])).status_code == 404


def test_distributor_user_without_the_dashboard(hierarchy: Hierarchy) -> None:
    h = hierarchy
    dora = h.client(h.dora)
    for partner in (h.globalnet, h.alpha):
        assert dora.get(reverse("partner_dashboard", args=[partner.pk])).status_code == 403
        assert dora.get(reverse("partner_audit", args=[partner.pk])).status_code == 200
    assert dora.get(reverse("partner_audit", args=[h.solo.pk])).status_code == 404


def test_reparenting_rewrites_the_lineage_below(hierarchy: Hierarchy) -> None:
    h = hierarchy
    # Globalnet gets a sub-distributor; Alpha IT (with a reseller of its own below) moves under it.
    sub = PartnerFactory(name="Globalnet North", kind=Partner.Kind.DISTRIBUTOR, parent=h.globalnet)
    h.alpha.kind = Partner.Kind.DISTRIBUTOR
    h.alpha.save()
    below = PartnerFactory(name="Alpha Local", kind=Partner.Kind.RESELLER, parent=h.alpha)
    AccountFactory(name="Local One", partner=below)
    h.alpha.parent = sub
    h.alpha.full_clean()
    h.alpha.save()
    below.refresh_from_db()
    g = h.globalnet.pk
    assert h.alpha.lineage == f"/{g}/{sub.pk}/{h.alpha.pk}/"
    assert below.lineage == f"/{g}/{sub.pk}/{h.alpha.pk}/{below.pk}/"
    assert names(h.gina) == GLOBALNET | {"Local One"}
    assert names(h.alan) == ALPHA | {"Local One"}
    assert names(h.bea) == BETA
    # Taken out of the distributor altogether: Globalnet loses the whole branch.
    h.alpha.parent = None
    h.alpha.save()
    below.refresh_from_db()
    assert below.lineage == f"/{h.alpha.pk}/{below.pk}/"
    assert names(h.gina) == {"Globalnet Labs"} | BETA


def test_a_deeper_tree_reaches_every_level(hierarchy: Hierarchy) -> None:
    h = hierarchy
    parent = h.globalnet
    chain = []
    for depth in range(4):
        parent = PartnerFactory(name=f"Level {depth}", kind=Partner.Kind.DISTRIBUTOR, parent=parent)
        chain.append(parent)
        AccountFactory(name=f"Deep {depth}", partner=parent)
    user = UserFactory()
    MembershipFactory(user=user, partner=chain[1])
    assert names(user) == {"Deep 1", "Deep 2", "Deep 3"}
    assert f"Deep {3}" in names(h.gina)


def test_cycles_and_direct_partners_with_a_parent_are_refused(hierarchy: Hierarchy) -> None:
    h = hierarchy
    h.globalnet.parent = h.alpha
    with pytest.raises(ValidationError, match="under itself"):
        h.globalnet.full_clean()
    with pytest.raises(ValidationError):
        h.globalnet.save()
    h.globalnet.refresh_from_db()
    h.globalnet.parent = h.globalnet
    with pytest.raises(ValidationError, match="under itself"):
        h.globalnet.clean()
    with pytest.raises(ValidationError, match="Only a reseller"):
        PartnerFactory.build(kind=Partner.Kind.DIRECT, parent=h.globalnet).clean()
    with pytest.raises(ValidationError, match="must be a distributor"):
        PartnerFactory.build(kind=Partner.Kind.RESELLER, parent=h.alpha).clean()


def test_partner_inserted_in_bulk_reaches_only_itself(db: None) -> None:
    """A partner row without a lineage (bulk insert, bypassing save) must never match everything."""
    top = PartnerFactory(name="Bulk Top", kind=Partner.Kind.DISTRIBUTOR)
    (bulk,) = Partner.objects.bulk_create([Partner(name="Bulk", email="b@example.test", parent=top)])
    AccountFactory(name="Bulk Account", partner=bulk)
    AccountFactory(name="Someone Else")
    user = UserFactory()
    MembershipFactory(user=user, partner=bulk)
    assert names(user) == {"Bulk Account"}


def test_the_migration_fills_the_lineage_of_existing_partners(hierarchy: Hierarchy) -> None:
    from importlib import import_module

    from django.apps import apps

    h = hierarchy
    migration = import_module("backstop.tenancy.migrations.0003_partner_lineage_filled")
    Partner.objects.update(lineage="")  # rows from before the lineage existed
    assert names(h.gina) == {"Globalnet Labs"}  # without a lineage a partner reaches only itself
    migration.fill_lineage(apps, None)
    h.alpha.refresh_from_db()
    assert h.alpha.lineage == f"/{h.globalnet.pk}/{h.alpha.pk}/"
    h.gina._membership_cache = None  # type: ignore[attr-defined]  # a new request
    assert names(h.gina) == GLOBALNET


def test_the_nearest_role_that_allows_the_page_is_used(hierarchy: Hierarchy) -> None:
    """Gina also has a limited role in Alpha IT: Alpha's portal uses it where it allows the page,
    and her Globalnet role where it does not; Beta IT's portal always uses the Globalnet role."""
    h = hierarchy
    MembershipFactory(
        user=h.gina,
        partner=h.alpha,
        role="custom",
        operations=[perms.PARTNER_VIEW_DASHBOARD],
        all_accounts=False,
    ).accounts.add(h.account("Alpha Two"))
    assert dashboard_names(h, h.gina, h.alpha) == {"Alpha Two"}  # the Alpha IT role, limited
    gina = h.client(h.gina)
    assert gina.get(reverse("partner_audit", args=[h.alpha.pk])).status_code == 200  # through Globalnet
    assert dashboard_names(h, h.gina, h.beta) == BETA


def test_signing_in_lands_on_ones_own_portal(hierarchy: Hierarchy) -> None:
    """A distributor's user lands on the distributor's portal (not on its first reseller by
    name); a reseller's user on its own."""
    h = hierarchy
    assert h.client(h.gina).get(reverse("home"))["Location"] == reverse(
        "partner_dashboard", args=[h.globalnet.pk]
    )
    assert h.client(h.alan).get(reverse("home"))["Location"] == reverse(
        "partner_dashboard", args=[h.alpha.pk]
    )
    assert h.client(h.bea).get(reverse("home"))["Location"] == reverse("partner_dashboard", args=[h.beta.pk])
