"""The usage report (P-DASH): the zipped CSV e-mailed to the partner user holds exactly the entities
of the accounts chosen, and never an account the user does not reach."""

from __future__ import annotations

import csv
import io
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from backstop.audit.models import AuditEvent
from backstop.backups.models import BackupTask, Entity
from backstop.tenancy import report_tasks, usage_report
from backstop.tenancy.models import Account
from tests.helpers import messages_to
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

NOW = timezone.now().replace(microsecond=0)


def seed(account: Account, service: str, specs: list[tuple[str, str, str, int]]) -> None:
    task = BackupTask.objects.create(account=account, service=service, name=f"{service} task")
    for name, status, kind, size in specs:
        Entity.objects.create(
            account=account,
            task=task,
            key=name,
            name=name,
            email=f"{name}@{account.pk}.test",
            status=status,
            kind=kind,
            size=size,
            last_backup_at=NOW if status != "not_active" else None,
        )


@pytest.fixture
def entities(hierarchy: Hierarchy) -> Hierarchy:
    h = hierarchy
    seed(
        h.accounts["Alpha One"],
        "exchange",
        [("ann", "active", "mailbox", 10), ("room", "paused", "shared_mailbox", 5)],
    )
    seed(h.accounts["Alpha One"], "box", [("ann-box", "archived", "user", 7)])
    seed(
        h.accounts["Alpha Two"],
        "google_workspace",
        [("cid", "not_active", "user", 0), ("dan", "scheduled", "user", 3)],
    )
    gone = BackupTask.objects.create(
        account=h.accounts["Alpha Two"], service="box", name="deleted", deleted_at=NOW
    )
    Entity.objects.create(account=h.accounts["Alpha Two"], task=gone, key="x", name="in a deleted task")
    seed(h.accounts["Beta One"], "box", [("beta-secret", "active", "user", 1)])
    seed(h.accounts["Globalnet Labs"], "imap", [("labs", "active", "mailbox", 2)])
    return h


def capture_tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The queue's messages, run at once (as a worker would) after the request's commit."""
    sent: list[tuple[Any, ...]] = []

    def run(*args: Any) -> None:
        sent.append(args)
        usage_report.produce(*args)

    monkeypatch.setattr(report_tasks, "usage_report", run)
    return sent


def report_rows(message: EmailMessage) -> list[dict[str, str]]:
    attachments = list(message.iter_attachments())
    assert len(attachments) == 1
    part = attachments[0]
    assert str(part.get_filename()).endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(part.get_content())) as archive:
        (name,) = archive.namelist()
        assert archive.getinfo(name).compress_type == zipfile.ZIP_DEFLATED
        text = archive.read(name).decode()
    return list(csv.DictReader(io.StringIO(text)))


def post_report(
    h: Hierarchy, user: Any, partner: Any, data: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> Any:
    url = reverse("partner_usage_report", args=[partner.pk])
    with django_capture_on_commit_callbacks(execute=True):
        return h.client(user).post(url, data, follow=True)


def test_report_of_three_accounts_is_exactly_their_entities(
    entities: Hierarchy,
    monkeypatch: pytest.MonkeyPatch,
    outbox: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    h = entities
    capture_tasks(monkeypatch)
    chosen = [h.accounts[n].pk for n in ("Alpha One", "Alpha Two", "Globalnet Labs")]
    response = post_report(h, h.gina, h.globalnet, {"ids": chosen}, django_capture_on_commit_callbacks)
    assert "The usage report of 3 selected accounts is being prepared" in response.content.decode()
    (message,) = messages_to(outbox, "gina@globalnet.test")
    rows = report_rows(message)
    got = {
        (r["Account name"], r["Service"], r["Entity"], r["Status"], r["License"], r["Size (bytes)"])
        for r in rows
    }
    assert got == {
        ("Alpha One", "Microsoft Exchange", "ann", "Active", "Licensed", "10"),
        ("Alpha One", "Microsoft Exchange", "room", "Inactive", "Unlicensed", "5"),
        ("Alpha One", "Box", "ann-box", "Archived", "", "7"),
        ("Alpha Two", "Google Workspace", "cid", "Inactive", "", "0"),
        ("Alpha Two", "Google Workspace", "dan", "Active", "", "3"),
        ("Globalnet Labs", "IMAP", "labs", "Active", "", "2"),
    }
    assert len(rows) == 6
    ann = next(r for r in rows if r["Entity"] == "ann")
    assert ann["Entity e-mail"] == f"ann@{h.accounts['Alpha One'].pk}.test"
    assert ann["Last backup (UTC)"] == NOW.strftime("%Y-%m-%d %H:%M")
    assert AuditEvent.objects.filter(partner=h.globalnet, activity="export_requested").exists()


def test_report_of_the_filters_and_of_a_limited_user(
    entities: Hierarchy,
    monkeypatch: pytest.MonkeyPatch,
    outbox: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    h = entities
    capture_tasks(monkeypatch)
    # Sam reaches only Alpha One: no selection means every account Sam sees; guessed ids are ignored.
    post_report(h, h.sam, h.alpha, {}, django_capture_on_commit_callbacks)
    post_report(
        h,
        h.sam,
        h.alpha,
        {"ids": [h.accounts["Alpha Two"].pk, h.accounts["Beta One"].pk]},
        django_capture_on_commit_callbacks,
    )
    messages = messages_to(outbox, "sam@alpha.test")
    assert len(messages) == 1
    assert {r["Account name"] for r in report_rows(messages[0])} == {"Alpha One"}
    # Alan, with a search: only what the filter shows.
    post_report(h, h.alan, h.alpha, {"q": "two"}, django_capture_on_commit_callbacks)
    (alan,) = messages_to(outbox, "alan@alpha.test")
    assert {r["Account name"] for r in report_rows(alan)} == {"Alpha Two"}


def test_report_is_404_for_other_tenants(entities: Hierarchy, monkeypatch: pytest.MonkeyPatch) -> None:
    h = entities
    sent = capture_tasks(monkeypatch)
    url = reverse("partner_usage_report", args=[h.alpha.pk])
    beta_one = h.accounts["Beta One"].pk
    assert h.client(h.bea).post(url, {"ids": [beta_one]}).status_code == 404
    assert h.client(h.sol).post(url, {}).status_code == 404
    assert h.client(h.owners["Alpha One"]).post(url, {}).status_code == 404
    assert h.client(h.dora).post(url, {}).status_code == 403
    assert sent == []


def test_a_role_lost_before_the_job_runs_sends_nothing(entities: Hierarchy, outbox: Path) -> None:
    h = entities
    h.memberships["alan"].delete()
    outcome = usage_report.produce(h.alpha.pk, h.alan.pk, [], {})
    assert outcome.sent is False
    assert not outbox.exists() or messages_to(outbox, "alan@alpha.test") == []
