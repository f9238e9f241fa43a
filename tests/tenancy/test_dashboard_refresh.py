"""The dashboard never lags behind: backup status and size are read from each account's summary
(kept where backups end), and the billing figures it keeps for a minute are read again as soon as a
bill of the partner's subtree is issued, paid or fails."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from backstop.backups import summary
from backstop.backups.models import BackupTask, Entity
from backstop.billing.models import Invoice
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
