"""Every billing page and endpoint against other tenants: a 404, never a hint; a role without the
billing permission: 403; a customer billed through its partner has no billing pages (404); a bill is
found by its number *and* its payer, so another payer's number is a 404.

The people: the personas (partner P with accounts A and B; Alice admin of A, Bob custom of A
without billing, Charlie admin of B, Pat a user of P who may open A only and has no billing
permission), Dora and Dave (admin, and custom without billing) of the direct customer D, Ed of the
direct customer E, Paula (admin of P), Lena (P's billing, limited to A) and Quentin (admin of
another partner Q). Every listed URL name is checked; a new billing URL fails the last test until
it is listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backstop.accounts.models import User
from backstop.audit.models import AuditEvent
from backstop.billing.models import BillingProfile, Invoice, Payment
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from tests.billing.test_statement_pages import bill, signed_in
from tests.conftest import Personas
from tests.factories import AccountFactory, MembershipFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db

# Customer pages: (url name, takes an invoice number).
CUSTOMER_PAGES = [
    "billing_account_status",
    "billing_account_subscribe",
    "billing_account_payment",
    "billing_account_unpaid",
    "billing_account_history",
]
CUSTOMER_INVOICE_PAGES = ["billing_account_invoice_pdf", "billing_account_receipt_pdf", "billing_account_pay"]
CUSTOMER_INVOICE_POSTS = ["billing_account_email_invoice", "billing_account_pay"]
PARTNER_PAGES = [
    "billing_partner_status",
    "billing_partner_onboarding",
    "billing_partner_payment",
    "billing_partner_history",
    "billing_partner_unpaid",
]
PARTNER_INVOICE_PAGES = [
    "billing_partner_invoice_pdf",
    "billing_partner_receipt_pdf",
    "billing_partner_invoice_csv",
    "billing_partner_pay",
]
PARTNER_INVOICE_POSTS = ["billing_partner_email_invoice", "billing_partner_pay"]
PARTNER_ACCOUNT_PAGES = ["billing_partner_account"]
POSTS = {"action": "card", "next": "/"}


@dataclass
class World:
    p: Personas
    d: Account
    e: Account
    q: Partner
    q_account: Account
    hidden: Account  # P's account whose partner access support took away
    dora: User
    dave: User
    ed: User
    paula: User
    lena: User
    quentin: User
    d_bill: Invoice
    e_bill: Invoice
    p_bill: Invoice
    q_bill: Invoice

    def client(self, user: User) -> Client:
        return signed_in(user)


@pytest.fixture
def world(personas: Personas, settings: Any) -> World:
    settings.BACKSTOP_PAYMENT_GATEWAY = "sandbox"
    d = AccountFactory(name="Direct Ltd", partner=None)
    e = AccountFactory(name="Elsewhere Inc", partner=None)
    dora, dave, ed = UserFactory(email="dora@d.test"), UserFactory(email="dave@d.test"), UserFactory()
    MembershipFactory(user=dora, account=d, role=Membership.Role.ADMIN)
    MembershipFactory(
        user=dave,
        account=d,
        role=Membership.Role.CUSTOM,
        operations=[perms.VIEW_SETTINGS, perms.VIEW_SUPPORT],
    )
    MembershipFactory(user=ed, account=e, role=Membership.Role.ADMIN)
    paula, lena, quentin = UserFactory(), UserFactory(), UserFactory()
    MembershipFactory(user=paula, partner=personas.partner, role=Membership.Role.ADMIN)
    lena_role = MembershipFactory(
        user=lena,
        partner=personas.partner,
        role=Membership.Role.CUSTOM,
        operations=[perms.PARTNER_VIEW_DASHBOARD, perms.PARTNER_VIEW_BILLING],
        all_accounts=False,
    )
    lena_role.accounts.add(personas.a)
    q = PartnerFactory(name="Contoso")
    q_account = AccountFactory(name="Contoso customer", partner=q)
    MembershipFactory(user=quentin, partner=q, role=Membership.Role.ADMIN)
    hidden = AccountFactory(name="Hidden", partner=personas.partner, partner_access=False)
    for partner in (personas.partner, q):
        BillingProfile.objects.create(partner=partner, onboarded_at=timezone.now())
    paid = Invoice.Status.PAID
    earlier = timezone.now().date() - timedelta(days=40)
    return World(
        p=personas,
        d=d,
        e=e,
        q=q,
        q_account=q_account,
        hidden=hidden,
        dora=dora,
        dave=dave,
        ed=ed,
        paula=paula,
        lena=lena,
        quentin=quentin,
        d_bill=bill(d, state=paid, issued=earlier),
        e_bill=bill(e, state=paid, issued=earlier),
        p_bill=bill(
            personas.partner,
            [(personas.a, 1_000), (personas.b, 2_000)],
            consolidated=True,
            state=paid,
            issued=earlier,
        ),
        q_bill=bill(q, [(q_account, 1_000)], consolidated=True, state=paid, issued=earlier),
    )


def _status(client: Client, url: str, method: str = "get") -> int:
    response = client.post(url, POSTS) if method == "post" else client.get(url)
    return response.status_code


def _nothing_happened() -> None:
    assert not Payment.objects.exists()
    assert not AuditEvent.objects.filter(activity="billing_changed").exists()
    assert not Invoice.objects.filter(emailed_at__isnull=False).exists()


# -- customers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CUSTOMER_PAGES)
def test_customer_pages_by_persona(world: World, name: str) -> None:
    own = reverse(name, args=[world.d.pk])
    assert _status(world.client(world.dora), own) == 200
    assert _status(world.client(world.dave), own) == 403
    assert _status(world.client(world.ed), own) == 404
    assert _status(world.client(world.paula), own) == 404
    # A customer of a partner has no billing pages, even its administrator.
    partner_customer = reverse(name, args=[world.p.a.pk])
    assert _status(world.client(world.p.alice), partner_customer) == 404
    assert _status(world.client(world.p.charlie), partner_customer) == 404  # not even reachable
    assert _status(world.client(world.p.charlie), reverse(name, args=[world.p.b.pk])) == 404
    assert _status(world.client(world.p.pat), partner_customer) == 403  # reaches A, may not bill


@pytest.mark.parametrize("name", CUSTOMER_INVOICE_PAGES)
def test_customer_invoices_by_number_and_payer(world: World, name: str) -> None:
    own = reverse(name, args=[world.d.pk, world.d_bill.number])
    assert _status(world.client(world.dora), own) == 200
    assert _status(world.client(world.dave), own) == 403
    assert _status(world.client(world.ed), own) == 404
    # Another payer's number through one's own account: not found.
    for number in (world.e_bill.number, world.p_bill.number, world.q_bill.number):
        assert _status(world.client(world.dora), reverse(name, args=[world.d.pk, number])) == 404
    assert _status(world.client(world.ed), reverse(name, args=[world.e.pk, world.d_bill.number])) == 404
    # A partner's bill, through the customer's pages of an account it covers.
    assert (
        _status(world.client(world.p.alice), reverse(name, args=[world.p.a.pk, world.p_bill.number])) == 404
    )


@pytest.mark.parametrize("name", CUSTOMER_INVOICE_POSTS)
def test_customer_invoice_posts_refuse_other_tenants_and_roles(world: World, name: str) -> None:
    assert (
        _status(world.client(world.ed), reverse(name, args=[world.d.pk, world.d_bill.number]), "post") == 404
    )
    assert (
        _status(world.client(world.ed), reverse(name, args=[world.e.pk, world.d_bill.number]), "post") == 404
    )
    assert (
        _status(world.client(world.dave), reverse(name, args=[world.d.pk, world.d_bill.number]), "post")
        == 403
    )
    assert (
        _status(world.client(world.dora), reverse(name, args=[world.d.pk, world.e_bill.number]), "post")
        == 404
    )
    url = reverse(name, args=[world.p.a.pk, world.p_bill.number])
    assert _status(world.client(world.p.alice), url, "post") == 404
    _nothing_happened()
    # The owner is answered (the bill is paid: nothing to charge, nothing to e-mail).
    assert (
        _status(world.client(world.dora), reverse(name, args=[world.d.pk, world.d_bill.number]), "post")
        == 302
    )
    _nothing_happened()


# -- partners -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PARTNER_PAGES)
def test_partner_pages_by_persona(world: World, name: str) -> None:
    own = reverse(name, args=[world.p.partner.pk])
    assert _status(world.client(world.paula), own) in (200, 302)  # onboarding done: to Payment details
    assert _status(world.client(world.lena), own) in (200, 302)
    assert _status(world.client(world.p.pat), own) == 403
    for outsider in (world.quentin, world.p.alice, world.p.charlie, world.dora):
        assert _status(world.client(outsider), own) == 404
    # Quentin's own partner id works for him only.
    assert _status(world.client(world.paula), reverse(name, args=[world.q.pk])) == 404


def test_partner_drill_down_is_limited_to_the_role_s_accounts(world: World) -> None:
    def url(account: Account, partner: Partner | None = None) -> str:
        return reverse("billing_partner_account", args=[(partner or world.p.partner).pk, account.pk])

    paula, lena = world.client(world.paula), world.client(world.lena)
    assert _status(paula, url(world.p.a)) == 200 and _status(paula, url(world.p.b)) == 200
    assert _status(lena, url(world.p.a)) == 200
    assert _status(lena, url(world.p.b)) == 404  # outside her reach
    assert _status(paula, url(world.hidden)) == 404  # the partner's access was taken away
    assert _status(paula, url(world.q_account)) == 404  # another partner's account
    assert _status(paula, url(world.d)) == 404  # a direct customer
    assert _status(world.client(world.quentin), url(world.p.a)) == 404
    assert _status(world.client(world.quentin), url(world.q_account, world.q)) == 200
    assert _status(world.client(world.p.pat), url(world.p.a)) == 403
    assert _status(world.client(world.p.alice), url(world.p.a)) == 404
    # The status table lists what the role reaches, nothing more.
    html = lena.get(reverse("billing_partner_status", args=[world.p.partner.pk])).content.decode()
    assert world.p.a.name in html and world.p.b.name not in html and world.hidden.name not in html


@pytest.mark.parametrize("name", PARTNER_INVOICE_PAGES)
def test_partner_invoices_by_number_and_payer(world: World, name: str) -> None:
    own = reverse(name, args=[world.p.partner.pk, world.p_bill.number])
    assert _status(world.client(world.paula), own) == 200
    assert _status(world.client(world.lena), own) == 200  # the bills are the partner's own
    assert _status(world.client(world.p.pat), own) == 403
    for outsider in (world.quentin, world.p.alice, world.dora):
        assert _status(world.client(outsider), own) == 404
    for number in (world.q_bill.number, world.d_bill.number):
        assert _status(world.client(world.paula), reverse(name, args=[world.p.partner.pk, number])) == 404
    assert _status(world.client(world.quentin), reverse(name, args=[world.q.pk, world.p_bill.number])) == 404


@pytest.mark.parametrize("name", PARTNER_INVOICE_POSTS)
def test_partner_invoice_posts_refuse_other_tenants_and_roles(world: World, name: str) -> None:
    own = reverse(name, args=[world.p.partner.pk, world.p_bill.number])
    assert _status(world.client(world.quentin), own, "post") == 404
    assert _status(world.client(world.p.pat), own, "post") == 403
    assert _status(world.client(world.p.alice), own, "post") == 404
    url = reverse(name, args=[world.q.pk, world.p_bill.number])
    assert _status(world.client(world.quentin), url, "post") == 404
    url = reverse(name, args=[world.p.partner.pk, world.q_bill.number])
    assert _status(world.client(world.paula), url, "post") == 404
    _nothing_happened()
    assert _status(world.client(world.paula), own, "post") == 302
    _nothing_happened()


# -- everyone ------------------------------------------------------------------------------------


def _every_url(world: World) -> list[str]:
    urls = [reverse(name, args=[world.d.pk]) for name in CUSTOMER_PAGES]
    urls += [reverse(name, args=[world.d.pk, world.d_bill.number]) for name in CUSTOMER_INVOICE_PAGES]
    urls += [reverse(name, args=[world.p.partner.pk]) for name in PARTNER_PAGES]
    urls += [reverse(name, args=[world.p.partner.pk, world.p_bill.number]) for name in PARTNER_INVOICE_PAGES]
    urls += [reverse(name, args=[world.p.partner.pk, world.p.a.pk]) for name in PARTNER_ACCOUNT_PAGES]
    return urls


def test_anonymous_visitors_are_sent_to_sign_in(world: World, client: Client) -> None:
    for url in _every_url(world):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login")), url
    posts = [reverse(name, args=[world.d.pk, world.d_bill.number]) for name in CUSTOMER_INVOICE_POSTS]
    posts += [reverse(name, args=[world.p.partner.pk, world.p_bill.number]) for name in PARTNER_INVOICE_POSTS]
    for url in posts:
        response = client.post(url, POSTS)
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login")), url
    _nothing_happened()


def test_every_billing_page_is_in_the_isolation_lists() -> None:
    """A new page under /a/<id>/billing/ or /p/<id>/billing/ must be listed above, so it is tested."""
    from backstop.billing.partner_urls import urlpatterns as partner_patterns
    from backstop.billing.urls import urlpatterns as customer_patterns

    customer = set(CUSTOMER_PAGES) | set(CUSTOMER_INVOICE_PAGES) | set(CUSTOMER_INVOICE_POSTS)
    partner = set(PARTNER_PAGES) | set(PARTNER_INVOICE_PAGES) | set(PARTNER_INVOICE_POSTS)
    assert {pattern.name for pattern in customer_patterns} == customer
    assert {pattern.name for pattern in partner_patterns} == partner | set(PARTNER_ACCOUNT_PAGES)
