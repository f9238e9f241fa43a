"""Shared fixtures: the tenant personas every isolation test uses (after healthchecks' hc/test.py).

- Alice: administrator of account A.
- Bob: custom user of account A who may view settings and support, nothing else.
- Charlie: administrator of account B, another tenant.
- Pat: user of partner P, which manages A and B; Pat may open A only.
"""

from __future__ import annotations

import os
import tempfile

# Tests never touch ./var: settings read this when Django starts, after this file is imported.
os.environ.setdefault("BACKSTOP_DATA_DIR", tempfile.mkdtemp(prefix="backstop-test-"))

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client

from backstop.accounts.models import User
from backstop.regions import REGIONS
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from tests.factories import PASSWORD, AccountFactory, MembershipFactory, PartnerFactory, UserFactory


@dataclass
class Personas:
    partner: Partner
    a: Account
    b: Account
    alice: User
    bob: User
    charlie: User
    pat: User
    bob_membership: Membership
    pat_membership: Membership

    def client(self, user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client


@pytest.fixture
def personas(db: None) -> Personas:
    partner = PartnerFactory(name="Northwind IT")
    a = AccountFactory(name="Acme", partner=partner)
    b = AccountFactory(name="Globex", partner=partner)
    alice = UserFactory(email="alice@acme.test", first_name="Alice")
    bob = UserFactory(email="bob@acme.test", first_name="Bob")
    charlie = UserFactory(email="charlie@globex.test", first_name="Charlie")
    pat = UserFactory(email="pat@northwind.test", first_name="Pat")
    MembershipFactory(user=alice, account=a, role=Membership.Role.ADMIN)
    bob_membership = MembershipFactory(
        user=bob,
        account=a,
        role=Membership.Role.CUSTOM,
        operations=[perms.VIEW_SETTINGS, perms.VIEW_SUPPORT],
    )
    MembershipFactory(user=charlie, account=b, role=Membership.Role.ADMIN)
    pat_membership = MembershipFactory(
        user=pat,
        partner=partner,
        role=Membership.Role.CUSTOM,
        operations=[perms.PARTNER_VIEW_DASHBOARD, perms.VIEW_SETTINGS, perms.VIEW_SUPPORT],
        all_accounts=False,
    )
    pat_membership.accounts.add(a)
    return Personas(partner, a, b, alice, bob, charlie, pat, bob_membership, pat_membership)


@pytest.fixture(autouse=True)
def _isolated_settings(settings: object, tmp_path: Path) -> None:
    """Each test gets its own outbox, an empty cache (rate limits start afresh), and a
    fast password hasher (the real one is slow on purpose)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]
    settings.MAILERS = {  # type: ignore[attr-defined]
        "default": {
            "BACKEND": "backstop.mail.OutboxBackend",
            "OPTIONS": {"folder": str(tmp_path / "outbox")},
        }
    }
    # Backup repositories of this test only. (pytest-django loads the settings before this file
    # sets BACKSTOP_DATA_DIR, so the configured default would be ./var.)
    settings.BACKSTOP_DATA_DIR = tmp_path / "data"  # type: ignore[attr-defined]
    settings.BACKSTOP_STORAGE = {  # type: ignore[attr-defined]
        region.code: (tmp_path / "storage" / region.code).as_uri() for region in REGIONS
    }
    if "RedisCache" in settings.CACHES["default"]["BACKEND"]:  # type: ignore[attr-defined]
        # Scale-out run: rate limits really go through Redis; each test starts with them empty.
        from django.core.cache import cache

        cache.clear()
    else:
        settings.CACHES = {  # type: ignore[attr-defined]
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": str(tmp_path)}
        }


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


__all__ = ["PASSWORD", "Personas"]


@pytest.fixture(autouse=True)
def _price_list(request: pytest.FixtureRequest) -> None:
    """Transactional tests (the browser ones) empty every table when they end, the price list the
    migration seeded too: put it back so the next one bills like a fresh install."""
    if not {"transactional_db", "live_server"} & set(request.fixturenames):
        return
    request.getfixturevalue("transactional_db")
    from backstop.billing.models import Price, TaxRate
    from backstop.billing.prices import default_prices

    if not Price.objects.exists():
        Price.objects.bulk_create(default_prices())
        TaxRate.objects.get_or_create(country="IL", name="VAT", defaults={"percent": "18.00"})
