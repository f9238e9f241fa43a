"""A partner user working inside a customer account, and the partner's access taken away (P-TIERS).

Working inside: a banner says who is working where for which partner, with the way back to the
portal; the visit is audited as "Account accessed" in the account's audit and the partner's.
Taking the access away: an operator in the admin, or the customer's administrator from Settings
when the account allows it; then the account is gone from every partner page and URL, and the
customer still opens it.
"""

from __future__ import annotations

import html
import re

from django.test import Client
from django.urls import reverse

from backstop.accounts.models import User
from backstop.audit.models import AuditEvent
from backstop.tenancy.models import Account
from tests.factories import UserFactory
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture


def text_of(content: bytes) -> str:
    """The page as a user reads it: tags dropped, entities decoded, white space collapsed; the
    link targets and test ids stay readable as `[href]` and `{testid}`."""
    markup = content.decode()
    markup = re.sub(r'<a [^>]*href="([^"]*)"[^>]*>', r" [\1] ", markup)
    markup = re.sub(r'<[^>]*data-testid="([^"]*)"[^>]*>', r" {\1} ", markup)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split()).replace(" .", ".")


def page(h: Hierarchy, user: User, url: str, client: Client | None = None) -> str:
    response = (client or h.client(user)).get(url)
    assert response.status_code == 200, (url, response.status_code)
    return text_of(response.content)


def home(account: Account) -> str:
    return reverse("account_home", args=[account.pk])


# Working inside an account as a partner user.


def test_banner_names_the_account_the_user_and_the_partner(hierarchy: Hierarchy) -> None:
    h = hierarchy
    alpha_one = h.account("Alpha One")
    text = page(h, h.alan, home(alpha_one))
    assert f"You are working in Alpha One as {h.alan.display_name} (alan@alpha.test) of Alpha IT." in text
    back = reverse("partner_dashboard", args=[h.alpha.pk])
    assert f"[{back}] Back to Alpha IT portal" in text
    # The banner is on every page of the account, not only the homepage.
    assert "You are working in Alpha One" in page(h, h.alan, reverse("account_settings", args=[alpha_one.pk]))
    # The way back leads to the portal the account is listed in.
    assert "Alpha One" in page(h, h.alan, back)


def test_distributor_user_in_a_resellers_account_goes_back_to_that_resellers_portal(
    hierarchy: Hierarchy,
) -> None:
    h = hierarchy
    text = page(h, h.gina, home(h.account("Beta Two")))
    assert f"You are working in Beta Two as {h.gina.display_name} (gina@globalnet.test) of Globalnet." in text
    back = reverse("partner_dashboard", args=[h.beta.pk])
    assert f"[{back}] Back to Beta IT portal" in text
    portal = page(h, h.gina, back)
    assert "Beta Two" in portal and "Alpha One" not in portal
    assert "Back to Globalnet" in portal  # and from the reseller's portal, back to its own


def test_no_banner_for_the_customers_own_users(hierarchy: Hierarchy) -> None:
    h = hierarchy
    account = h.account("Alpha One")
    assert "You are working in" not in page(h, h.owners["Alpha One"], home(account))
    # A partner user who is also a member of the account is at home there too.
    from tests.factories import MembershipFactory

    MembershipFactory(user=h.alan, account=account)
    assert "You are working in" not in page(h, h.alan, home(account))


def test_no_way_back_for_a_role_without_the_dashboard(hierarchy: Hierarchy) -> None:
    h = hierarchy
    text = page(h, h.dora, home(h.account("Alpha Two")))
    assert f"You are working in Alpha Two as {h.dora.display_name}" in text
    assert "partner-visit-back" not in text
    assert "Back to" not in text


def test_only_accounts_the_user_may_access(hierarchy: Hierarchy) -> None:
    h = hierarchy
    sam = h.client(h.sam)
    assert sam.get(home(h.account("Alpha One"))).status_code == 200
    assert sam.get(home(h.account("Alpha Two"))).status_code == 404
    assert h.client(h.alan).get(home(h.account("Beta One"))).status_code == 404
    assert h.client(h.sol).get(home(h.account("Alpha One"))).status_code == 404


def test_account_accessed_is_in_the_accounts_audit_and_the_partners(hierarchy: Hierarchy) -> None:
    h = hierarchy
    account = h.account("Alpha One")
    alan = h.client(h.alan)
    page(h, h.alan, home(account), alan)
    page(h, h.alan, reverse("account_settings", args=[account.pk]), alan)  # once per visit, not per page
    events = AuditEvent.objects.filter(activity="account_accessed")
    assert events.count() == 1
    assert (events[0].account, events[0].partner, events[0].user) == (account, h.alpha, h.alan)

    visit = "Accessed account Alpha One (backup@alpha-one.test) from the partner portal of Alpha IT"
    only = "?activity=account_accessed"
    owner_view = page(h, h.owners["Alpha One"], reverse("account_audit", args=[account.pk]) + only)
    assert visit in owner_view and "alan@alpha.test" in owner_view
    partner_view = page(h, h.alan, reverse("partner_audit", args=[h.alpha.pk]) + only)
    assert visit in partner_view and "alan@alpha.test" in partner_view
    distributor_view = page(h, h.gina, reverse("partner_audit", args=[h.globalnet.pk]) + only)
    assert visit in distributor_view
    # The sibling reseller and another customer never see it.
    assert "Accessed account" not in page(h, h.bea, reverse("partner_audit", args=[h.beta.pk]) + only)
    other = reverse("account_audit", args=[h.account("Alpha Two").pk]) + only
    assert "Accessed account" not in page(h, h.owners["Alpha Two"], other)


def test_a_distributor_users_visit_is_in_the_resellers_audit_too(hierarchy: Hierarchy) -> None:
    h = hierarchy
    page(h, h.gina, home(h.account("Beta One")))
    assert "gina@globalnet.test" in page(h, h.bea, reverse("partner_audit", args=[h.beta.pk]))
    assert "gina@globalnet.test" in page(h, h.gina, reverse("partner_audit", args=[h.globalnet.pk]))
    assert "gina@globalnet.test" not in page(h, h.alan, reverse("partner_audit", args=[h.alpha.pk]))


# Taking the partner's access away.


def assert_gone_for_partners(h: Hierarchy, account: Account) -> None:
    for user in (h.alan, h.gina, h.sam):
        client = h.client(user)
        assert client.get(home(account)).status_code == 404
        assert client.get(reverse("account_settings", args=[account.pk])).status_code == 404
    assert account.name not in page(h, h.alan, reverse("partner_dashboard", args=[h.alpha.pk]))
    assert account.name not in page(h, h.gina, reverse("partner_dashboard", args=[h.globalnet.pk]))
    assert account.name not in page(h, h.gina, reverse("partner_dashboard", args=[h.alpha.pk]))
    # The customer still opens it.
    text = page(h, h.owners[account.name], reverse("account_settings", args=[account.pk]))
    assert "Alpha IT no longer has access to this account" in text


def test_operator_removes_the_partners_access_in_the_admin(hierarchy: Hierarchy) -> None:
    h = hierarchy
    account = h.account("Alpha One")
    operator = UserFactory(email="ops@backstop.test", is_staff=True, is_superuser=True)
    ops = h.client(operator)
    change = reverse("admin:tenancy_account_change", args=[account.pk])
    form = ops.get(change).content.decode()
    assert 'name="partner_access"' in form and 'name="customer_may_remove_partner"' in form
    response = ops.post(
        reverse("admin:tenancy_account_changelist"),
        {"action": "remove_partner_access", "_selected_action": [account.pk]},
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert not account.partner_access
    assert_gone_for_partners(h, account)
    in_account = AuditEvent.objects.get(account=account, activity="permissions_changed")
    assert "Partner access removed by support (ops@backstop.test)" in in_account.description
    in_partner = AuditEvent.objects.get(account=None, partner=h.alpha, activity="permissions_changed")
    assert "Access to customer account Alpha One" in in_partner.description
    # The partner still reads that in its own audit, though the account is gone from its reach.
    assert "Access to customer account Alpha One" in page(
        h, h.alan, reverse("partner_audit", args=[h.alpha.pk])
    )


def test_operator_toggles_the_access_on_the_change_form(hierarchy: Hierarchy) -> None:
    h = hierarchy
    account = h.account("Beta One")
    operator = UserFactory(email="ops@backstop.test", is_staff=True, is_superuser=True)
    ops = h.client(operator)
    data = {
        "name": account.name,
        "email": account.email,
        "pending_email": "",
        "region": account.region,
        "trial_ends_on": account.trial_ends_on.isoformat() if account.trial_ends_on else "",
        "partner": h.beta.pk,
        "customer_may_remove_partner": "on",
        "removal_requested_at_0": "",
        "removal_requested_at_1": "",
        "removal_requested_by": "",
    }
    response = ops.post(reverse("admin:tenancy_account_change", args=[account.pk]), data)  # access unticked
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert not account.partner_access and account.customer_may_remove_partner
    assert h.client(h.bea).get(home(account)).status_code == 404
    assert (
        AuditEvent.objects.filter(partner=h.beta, account=None, activity="permissions_changed").count() == 1
    )
    ops.post(reverse("admin:tenancy_account_change", args=[account.pk]), {**data, "partner_access": "on"})
    assert h.client(h.bea).get(home(account)).status_code == 200
    restored = AuditEvent.objects.filter(account=account, activity="permissions_changed").first()
    assert restored is not None and "Partner access restored" in restored.description


def test_customer_admin_removes_the_partners_access_when_allowed(hierarchy: Hierarchy) -> None:
    h = hierarchy
    account = h.account("Alpha One")
    owner = h.client(h.owners["Alpha One"])
    settings_url = reverse("account_settings", args=[account.pk])
    remove = {"action": "remove_partner_access", "confirm": "yes", "approve_partner_removal": "on"}

    # Not allowed on this account: no button, and the action is refused.
    text = page(h, h.owners["Alpha One"], settings_url)
    assert "managed by Alpha IT" in text and "remove-partner-access" not in text
    assert owner.post(settings_url, remove).status_code == 403

    Account.objects.filter(pk=account.pk).update(customer_may_remove_partner=True)
    assert "remove-partner-access" in page(h, h.owners["Alpha One"], settings_url)
    # Partner users never get the button, and may not take their own partner's access away.
    assert "remove-partner-access" not in page(h, h.alan, settings_url)
    assert h.client(h.alan).post(settings_url, remove).status_code == 403
    assert h.client(h.gina).post(settings_url, remove).status_code == 403
    # Without the confirmation nothing changes.
    owner.post(settings_url, {"action": "remove_partner_access", "confirm": "yes"})
    account.refresh_from_db()
    assert account.partner_access

    response = owner.post(settings_url, remove)
    assert response.status_code == 302
    account.refresh_from_db()
    assert not account.partner_access
    assert_gone_for_partners(h, account)
    in_account = AuditEvent.objects.get(account=account, activity="permissions_changed")
    assert in_account.user == h.owners["Alpha One"]
    assert "removed by the customer's administrator" in in_account.description
    assert AuditEvent.objects.filter(account=None, partner=h.alpha, activity="permissions_changed").exists()
    # The other accounts of the partner are untouched.
    assert h.client(h.alan).get(home(h.account("Alpha Two"))).status_code == 200


def test_a_customer_custom_user_may_not_remove_the_partner(hierarchy: Hierarchy) -> None:
    from backstop.tenancy import permissions as perms
    from tests.factories import MembershipFactory

    h = hierarchy
    account = h.account("Alpha Two")
    Account.objects.filter(pk=account.pk).update(customer_may_remove_partner=True)
    clerk = UserFactory(email="clerk@alpha-two.test")
    MembershipFactory(user=clerk, account=account, role="custom", operations=[perms.VIEW_SETTINGS])
    settings_url = reverse("account_settings", args=[account.pk])
    assert "remove-partner-access" not in page(h, clerk, settings_url)
    remove = {"action": "remove_partner_access", "confirm": "yes", "approve_partner_removal": "on"}
    assert h.client(clerk).post(settings_url, remove).status_code == 403
    # Another customer's administrator cannot even find the account.
    assert h.client(h.owners["Beta One"]).post(settings_url, remove).status_code == 404
    account.refresh_from_db()
    assert account.partner_access
