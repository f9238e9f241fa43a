"""The billing banner under the page header: who sees it, what it says, and what it costs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backstop.billing import payments, subscriptions
from backstop.billing.models import BillingProfile
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Membership
from tests.billing.test_payment_pages import Direct, direct, open_invoice, signed_in
from tests.conftest import Personas
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
__all__ = ["direct"]  # the fixture

BANNER = 'data-testid="billing-banner"'


def home(client: Client, account_pk: int) -> str:
    response = client.get(reverse("account_home", args=[account_pk]))
    assert response.status_code == 200
    return str(response.content.decode())


def banner_of(text: str) -> str:
    start = text.find(BANNER)
    return text[text.rfind("<div", 0, start) : text.find("</div>", start)] if start >= 0 else ""


def test_a_failed_charge_shows_a_red_banner_until_the_bill_is_paid(direct: Direct) -> None:
    invoice = open_invoice(direct.account, charge_failed_at=timezone.now())
    banner = banner_of(home(direct.client, direct.account.pk))
    assert "alert-danger" in banner and "we could not charge your card" in banner
    assert reverse("billing_account_unpaid", args=[direct.account.pk]) in banner

    payments.mark_paid(invoice, "Visa ****4242")
    assert BANNER not in home(direct.client, direct.account.pk)


def test_a_due_bill_is_a_warning_and_an_overdue_one_is_red(direct: Direct) -> None:
    invoice = open_invoice(direct.account)
    banner = banner_of(home(direct.client, direct.account.pk))
    assert "alert-warning" in banner and "waiting for payment" in banner
    invoice.due_date = subscriptions.today() - timedelta(days=1)
    invoice.save()
    banner = banner_of(home(direct.client, direct.account.pk))
    assert "alert-danger" in banner and "overdue" in banner


def test_the_users_switch_hides_the_banner_for_that_user_only(direct: Direct) -> None:
    open_invoice(direct.account, charge_failed_at=timezone.now())
    colleague = UserFactory()
    MembershipFactory(user=colleague, account=direct.account, role=Membership.Role.ADMIN)
    direct.admin.show_billing_banners = False
    direct.admin.save()
    assert BANNER not in home(direct.client, direct.account.pk)
    assert BANNER in home(signed_in(colleague), direct.account.pk)


def test_only_users_who_may_view_billing_see_it(direct: Direct) -> None:
    open_invoice(direct.account, charge_failed_at=timezone.now())
    eve = UserFactory()
    membership = MembershipFactory(
        user=eve, account=direct.account, role=Membership.Role.CUSTOM, operations=[perms.VIEW_SETTINGS]
    )
    assert BANNER not in home(signed_in(eve), direct.account.pk)
    membership.operations = [perms.VIEW_BILLING]
    membership.save()
    assert BANNER in home(signed_in(eve), direct.account.pk)


def test_pages_without_an_account_in_the_url_show_the_open_accounts_banner(direct: Direct) -> None:
    open_invoice(direct.account, charge_failed_at=timezone.now())
    home(direct.client, direct.account.pk)  # opens the account in the session
    response = direct.client.get(reverse("account_change_password"))
    assert BANNER in response.content.decode()


def test_the_banner_costs_one_query(direct: Direct) -> None:
    open_invoice(direct.account, charge_failed_at=timezone.now())
    home(direct.client, direct.account.pk)  # the session settles

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            home(direct.client, direct.account.pk)
        return len(queries)

    direct.admin.show_billing_banners = False
    direct.admin.save()
    without = count()
    direct.admin.show_billing_banners = True
    direct.admin.save()
    assert count() == without + 1


def test_htmx_fragments_do_not_look_for_bills(personas: Personas) -> None:
    partner = personas.partner
    BillingProfile.objects.create(partner=partner, onboarded_at=timezone.now())
    open_invoice(partner, charge_failed_at=timezone.now())
    admin = UserFactory()
    MembershipFactory(user=admin, partner=partner, role=Membership.Role.ADMIN)
    client = signed_in(admin)
    url = reverse("partner_dashboard", args=[partner.pk])
    assert BANNER in client.get(url).content.decode()
    with CaptureQueriesContext(connection) as queries:
        fragment = client.get(url, {"q": "Ac"}, HTTP_HX_REQUEST="true")
    assert BANNER not in fragment.content.decode()
    assert not [q for q in queries.captured_queries if "billing_invoice" in q["sql"]]


def test_customers_of_a_partner_never_see_billing_banners(personas: Personas) -> None:
    open_invoice(personas.partner, charge_failed_at=timezone.now())
    assert BANNER not in home(personas.client(personas.alice), personas.a.pk)


def test_partner_banners_need_the_billing_notices_permission(personas: Personas) -> None:
    open_invoice(personas.partner, charge_failed_at=timezone.now())
    pat = personas.client(personas.pat)
    dashboard = reverse("partner_dashboard", args=[personas.partner.pk])
    assert BANNER not in pat.get(dashboard).content.decode()
    personas.pat_membership.operations = [perms.PARTNER_VIEW_DASHBOARD, perms.PARTNER_BILLING_NOTICES]
    personas.pat_membership.save()
    banner = banner_of(pat.get(dashboard).content.decode())
    assert "alert-danger" in banner
    assert reverse("billing_partner_unpaid", args=[personas.partner.pk]) in banner
    # Inside a customer account the partner's notices stay out: that page is the customer's.
    assert BANNER not in home(pat, personas.a.pk)


def test_signed_out_pages_have_no_banner(client: Any) -> None:
    response = client.get(reverse("account_login"))
    assert response.status_code == 200 and BANNER not in response.content.decode()
