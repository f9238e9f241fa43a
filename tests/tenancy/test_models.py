"""Rules the tenancy models keep on their own."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Membership, Partner
from tests.factories import AccountFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_reseller_may_sit_under_a_distributor_only() -> None:
    distributor = PartnerFactory(kind=Partner.Kind.DISTRIBUTOR)
    PartnerFactory.build(kind=Partner.Kind.RESELLER, parent=distributor).clean()
    with pytest.raises(ValidationError, match="must be a distributor"):
        PartnerFactory.build(kind=Partner.Kind.RESELLER, parent=PartnerFactory()).clean()
    with pytest.raises(ValidationError, match="Only a reseller"):
        PartnerFactory.build(kind=Partner.Kind.DIRECT, parent=distributor).clean()


def test_a_membership_names_exactly_one_tenant() -> None:
    user = UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=user, account=AccountFactory(), partner=PartnerFactory())


def test_one_role_per_user_and_account() -> None:
    user, account = UserFactory(), AccountFactory()
    Membership.objects.create(user=user, account=account)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=user, account=account, role=Membership.Role.ADMIN)


def test_admin_only_operations_cannot_be_granted_by_ticks() -> None:
    membership = Membership(role=Membership.Role.CUSTOM, operations=[perms.MANAGE_USERS, perms.RESTORE])
    assert membership.allows(perms.RESTORE)
    assert not membership.allows(perms.MANAGE_USERS)
    assert Membership(role=Membership.Role.ADMIN).allows(perms.MANAGE_USERS)


def test_partner_codes_are_stable_and_readable() -> None:
    partner = PartnerFactory()
    assert partner.code == f"P{partner.pk:06d}"
