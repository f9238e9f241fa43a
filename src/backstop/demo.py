"""Demo data for `backstop demo`: a partner with three customers, a standalone customer, and a
user of each kind, all signed up and verified with one known password.

Idempotent: running it again finds what is there (by name and e-mail) and resets the demo
users' passwords to the printed one, so the printed credentials always work.
"""

from __future__ import annotations

from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from backstop.accounts.models import User
from backstop.regions import region_label
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.services import open_customer_account

PASSWORD = "backstop-demo-2026"


@dataclass(frozen=True, slots=True)
class Person:
    email: str
    first_name: str
    last_name: str


@dataclass(frozen=True, slots=True)
class Login:
    """One line of the printed sign-in table."""

    email: str
    role: str
    where: str


PARTNER_NAME = "Northwind IT"
PARTNER_ADMIN = Person("nadia@northwind.example", "Nadia", "Novak")
# (account name, region, administrator); the first one also gets the custom-role user.
PARTNER_CUSTOMERS = (
    ("Acme Corp", "us-east", Person("alice@acme.example", "Alice", "Adams")),
    ("Globex", "eu-frankfurt", Person("gina@globex.example", "Gina", "Grant")),
    ("Initech", "ap-sydney", Person("ian@initech.example", "Ian", "Irwin")),
)
STANDALONE = ("Umbrella Ltd", "uk-london", Person("sam@umbrella.example", "Sam", "Stone"))
CUSTOM_USER = Person("bob@acme.example", "Bob", "Baker")
CUSTOM_OPERATIONS = [
    perms.VIEW_SETTINGS,
    perms.VIEW_BACKUPS,
    perms.VIEW_TASKS,
    perms.PREVIEW_DATA,
    perms.RESTORE,
]


def _user(person: Person, password: str) -> User:
    user = User.objects.filter(email=person.email).first()
    if user is None:
        user = User(email=person.email, first_name=person.first_name, last_name=person.last_name)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    # allauth's mandatory verification: without this the demo users could not sign in.
    EmailAddress.objects.update_or_create(
        user=user, email=person.email, defaults={"verified": True, "primary": True}
    )
    return user


def _customer(name: str, region: str, admin: User, partner: Partner | None) -> Account:
    account = Account.objects.filter(name=name, partner=partner).first()
    if account is None:
        return open_customer_account(owner=admin, region=region, name=name, partner=partner)
    Membership.objects.get_or_create(user=admin, account=account, defaults={"role": Membership.Role.ADMIN})
    return account


def _where(account: Account) -> str:
    return f"{account.name} ({region_label(account.region)})"


def seed(password: str = PASSWORD) -> list[Login]:
    """Creates what is missing of the demo data; returns who can sign in, and to what."""
    logins: list[Login] = []
    with transaction.atomic():
        partner, _ = Partner.objects.get_or_create(
            name=PARTNER_NAME,
            parent=None,
            defaults={"kind": Partner.Kind.DIRECT, "email": PARTNER_ADMIN.email},
        )
        partner_admin = _user(PARTNER_ADMIN, password)
        Membership.objects.get_or_create(
            user=partner_admin, partner=partner, defaults={"role": Membership.Role.ADMIN}
        )
        names = ", ".join(name for name, _, _ in PARTNER_CUSTOMERS)
        logins.append(Login(PARTNER_ADMIN.email, "Partner administrator", f"{partner} ({names})"))

        accounts = []
        for name, region, person in PARTNER_CUSTOMERS:
            account = _customer(name, region, _user(person, password), partner)
            accounts.append(account)
            logins.append(Login(person.email, "Administrator", _where(account)))

        acme = accounts[0]
        Membership.objects.get_or_create(
            user=_user(CUSTOM_USER, password),
            account=acme,
            defaults={"role": Membership.Role.CUSTOM, "operations": CUSTOM_OPERATIONS},
        )
        logins.append(Login(CUSTOM_USER.email, "Custom role (view, restore)", _where(acme)))

        name, region, person = STANDALONE
        account = _customer(name, region, _user(person, password), None)
        logins.append(Login(person.email, "Administrator, no partner", _where(account)))
        _billing(acme, accounts[1], account)
    return logins


def _billing(annual: Account, trial: Account, direct: Account) -> None:
    """Billing to look at: Acme subscribed annually through the partner, Globex still in its
    trial, the direct customer monthly. The partner is not onboarded, so its administrator's
    first sign-in goes through the billing onboarding."""
    from backstop.billing import subscriptions

    subscriptions.subscribe(annual, "annual")
    subscriptions.subscription_of(trial)
    subscriptions.subscribe(direct, "monthly")


def demo_accounts() -> list[Account]:
    """The demo customer accounts, in the order of the sign-in table."""
    names = [name for name, _, _ in PARTNER_CUSTOMERS] + [STANDALONE[0]]
    found = {a.name: a for a in Account.objects.filter(name__in=names)}
    return [found[name] for name in names if name in found]
