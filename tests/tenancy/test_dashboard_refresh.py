"""The dashboard never lags behind: backup status and size are read from each account's summary
(kept where backups end and where data is purged), and the billing figures it keeps for a minute
are read again as soon as a bill of the partner's subtree is issued, paid or fails."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from backstop.backups import summary
from backstop.backups.models import AccountBackupSummary, BackupTask, Entity
from backstop.billing import cycle, payments
from backstop.billing.models import Invoice, Subscription
from backstop.billing.signals import bill_changed
from backstop.tenancy import dashboard
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)


def backup_count(html: str, code: str) -> int:
    found = re.search(rf'data-testid="count-backup-{code}".*?data-testid="count">(\d+)<', html, re.S)
    assert found, code
    return int(found.group(1))


def test_a_finished_backup_shows_on_the_next_view(hierarchy: Hierarchy) -> None:
    h = hierarchy
    url = reverse("partner_dashboard", args=[h.alpha.pk])
    client = h.client(h.alan)
    before = client.get(url).content.decode()
    account = h.account("Alpha One")
    task = BackupTask.objects.create(account=account, service="box", name="Box")
    Entity.objects.create(account=account, task=task, key="u1", name="u1", status="active")
    Entity.objects.filter(task=task).update(last_result="succeeded", size=42)
    summary.refresh([account.pk])  # what the runner does as the job ends

    after = client.get(url).content.decode()
    assert backup_count(after, "ok") == backup_count(before, "ok") + 1
    assert backup_count(after, "none") == backup_count(before, "none") - 1


def test_a_changed_bill_refreshes_its_partners_billing_figures(hierarchy: Hierarchy) -> None:
    partners = (hierarchy.alpha, hierarchy.globalnet, hierarchy.beta)
    before = [dashboard.generation(p) for p in partners]

    bill_changed.send_robust(Invoice, invoice=Invoice(partner=hierarchy.alpha))

    after = [dashboard.generation(p) for p in partners]
    assert after[0] > before[0] and after[1] > before[1]  # Alpha IT and its distributor
    assert after[2] == before[2]  # the sibling's figures stay cached


def billing_count(html: str, code: str) -> int:
    found = re.search(rf'data-testid="count-billing-{code}".*?data-testid="count">(\d+)<', html, re.S)
    assert found, code
    return int(found.group(1))


def test_a_paid_bill_shows_on_the_next_view(hierarchy: Hierarchy) -> None:
    """The billing figures are cached; paying the bill (as a webhook or the card charge does)
    makes the next view read them again, with no minute to wait."""
    from tests.tenancy.test_dashboard import bill

    h = hierarchy
    url = reverse("partner_dashboard", args=[h.alpha.pk])
    client = h.client(h.alan)
    invoice = bill(h.alpha, h.account("Alpha One"), 5000)
    bill_changed.send_robust(Invoice, invoice=invoice)  # as cycle.issue does when it creates one
    before = client.get(url).content.decode()
    assert (billing_count(before, "due"), billing_count(before, "current")) == (1, 0)

    assert payments.mark_paid(invoice, "test")

    after = client.get(url).content.decode()
    assert (billing_count(after, "due"), billing_count(after, "current")) == (0, 1)


def test_a_purged_trial_shows_no_backup(hierarchy: Hierarchy) -> None:
    """The daily run purges an expired trial's data: its backup status and size go with it."""
    h = hierarchy
    account = h.account("Alpha Two")
    task = BackupTask.objects.create(account=account, service="box", name="Box")
    Entity.objects.create(account=account, task=task, key="u1", name="u1", status="active", size=9)
    Entity.objects.filter(task=task).update(last_result="succeeded")
    summary.refresh([account.pk])
    sub = Subscription.objects.create(account=account, state=Subscription.State.EXPIRED)

    assert cycle.purge_trial(sub)

    row = AccountBackupSummary.objects.get(account=account)
    assert (row.state, row.size) == (AccountBackupSummary.State.NONE, 0)


def test_a_strange_reseller_id_lists_nothing_instead_of_failing(hierarchy: Hierarchy) -> None:
    h = hierarchy
    client = h.client(h.gina)
    for odd in ("²", "١٢", "9" * 40, "-1", "1e3"):
        response = client.get(reverse("partner_dashboard", args=[h.globalnet.pk]), {"reseller": odd})
        assert response.status_code == 200, odd
