"""restrict(user, action) is the one gate to tenant data: prove what each persona reaches."""

from __future__ import annotations

from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Partner
from tests.conftest import Personas


def test_each_persona_sees_only_their_accounts(personas: Personas) -> None:
    def names(user: object, action: str = perms.VIEW) -> set[str]:
        return set(Account.objects.restrict(user, action).values_list("name", flat=True))  # type: ignore[arg-type]

    assert names(personas.alice) == {"Acme"}
    assert names(personas.bob) == {"Acme"}
    assert names(personas.charlie) == {"Globex"}
    assert names(personas.pat) == {"Acme"}


def test_permissions_narrow_what_custom_users_reach(personas: Personas) -> None:
    assert Account.objects.restrict(personas.bob, perms.VIEW_SETTINGS).count() == 1
    assert Account.objects.restrict(personas.bob, perms.RESTORE).count() == 0
    assert Account.objects.restrict(personas.bob, perms.MANAGE_USERS).count() == 0
    assert Account.objects.restrict(personas.alice, perms.MANAGE_USERS).count() == 1


def test_partner_member_with_all_accounts_reaches_every_partner_account(personas: Personas) -> None:
    personas.pat_membership.all_accounts = True
    personas.pat_membership.save()
    assert set(Account.objects.restrict(personas.pat).values_list("name", flat=True)) == {
        "Acme",
        "Globex",
    }


def test_removing_partner_access_hides_the_account_from_the_partner(personas: Personas) -> None:
    Account.objects.filter(pk=personas.a.pk).update(partner_access=False)
    assert Account.objects.restrict(personas.pat).count() == 0
    assert Account.objects.restrict(personas.alice).count() == 1


def test_anonymous_and_inactive_users_reach_nothing(personas: Personas) -> None:
    from django.contrib.auth.models import AnonymousUser

    assert Account.objects.restrict(AnonymousUser()).count() == 0
    personas.alice.is_active = False
    personas.alice.save()
    assert Account.objects.restrict(personas.alice).count() == 0


def test_partner_restrict(personas: Personas) -> None:
    assert list(Partner.objects.restrict(personas.pat, perms.PARTNER_VIEW_DASHBOARD)) == [personas.partner]
    assert Partner.objects.restrict(personas.pat, perms.PARTNER_ADD_ACCOUNTS).count() == 0
    assert Partner.objects.restrict(personas.alice).count() == 0


def test_action_and_service_must_come_from_the_same_membership(personas: Personas) -> None:
    """Bob restores Box only in Acme; as a partner member he sees every service but may not
    restore. He must not be able to restore Exchange anywhere."""
    from backstop.tenancy.models import Membership

    bob = personas.bob_membership
    bob.operations = [perms.RESTORE]
    bob.all_services, bob.services = False, ["box"]
    bob.save()
    Membership.objects.create(
        user=personas.bob, partner=personas.partner, role="custom", operations=[perms.VIEW_SETTINGS]
    )
    assert list(Account.objects.restrict(personas.bob, perms.RESTORE, service="box")) == [personas.a]
    assert Account.objects.restrict(personas.bob, perms.RESTORE, service="exchange").count() == 0
    from backstop.tenancy.scoping import account_access

    access = account_access(personas.bob, personas.a)
    assert access is not None
    assert access.can(perms.RESTORE, service="box")
    assert not access.can(perms.RESTORE, service="exchange")


def test_tenant_rows_are_restricted_through_their_account(personas: Personas) -> None:
    """Memberships are tenant rows: TenantQuerySet.restrict filters them through `account`."""
    from backstop.tenancy.models import Membership
    from backstop.tenancy.scoping import forget_memberships

    def emails(user: object) -> set[str]:
        rows = Membership.objects.restrict(user, perms.MANAGE_USERS)  # type: ignore[arg-type]
        return set(rows.values_list("user__email", flat=True))

    assert emails(personas.alice) == {"alice@acme.test", "bob@acme.test"}
    assert emails(personas.charlie) == {"charlie@globex.test"}
    assert emails(personas.bob) == set()
    assert emails(personas.pat) == set()
    personas.pat_membership.role = Membership.Role.ADMIN
    personas.pat_membership.save()
    forget_memberships(personas.pat)  # a request reads them afresh; this test's user object does not
    assert emails(personas.pat) == {"alice@acme.test", "bob@acme.test"}  # Acme only: his subset
