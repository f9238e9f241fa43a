"""A finished backup refreshes the dashboards that show its account: the partner's and those of
the partners above it (their figures are cached for a minute otherwise)."""

from __future__ import annotations

import pytest

from backstop.backups import jobs
from backstop.backups.models import Job
from backstop.backups.signals import backup_finished
from backstop.tenancy import dashboard
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def test_a_finished_backup_refreshes_its_partners_dashboards(hierarchy: Hierarchy) -> None:
    partners = (hierarchy.alpha, hierarchy.globalnet, hierarchy.beta)
    before = [dashboard.generation(p) for p in partners]
    job = jobs.create(Job.Kind.EXPORT, hierarchy.account("Alpha One").pk, params={"label": "x"})
    assert job is not None

    backup_finished.send_robust(sender=Job, job=job, entity=None, status="succeeded", result=None, error="")

    after = [dashboard.generation(p) for p in partners]
    assert after[0] > before[0] and after[1] > before[1]  # Alpha IT and its distributor
    assert after[2] == before[2]  # the sibling's figures stay cached
