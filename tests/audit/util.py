"""Rows and readers the audit and activity tests share."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

from django.http import HttpResponse
from django.utils import timezone

from backstop.audit.models import AuditEvent
from backstop.backups.models import ActivityEvent, BackupTask
from backstop.tenancy.models import Account, Partner

HTMX = {"HTTP_HX_REQUEST": "true"}
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
EDGE = CHROME + " Edg/131.0.2903.86"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)


def audit(
    description: str,
    *,
    account: Account | None = None,
    partner: Partner | None = None,
    activity: str = "settings_changed",
    status: str = AuditEvent.Status.SUCCEEDED,
    at: datetime | None = None,
    performed_by: str = "alice@acme.test",
    **fields: Any,
) -> AuditEvent:
    return AuditEvent.objects.create(
        account=account,
        partner=partner,
        activity=activity,
        status=status,
        at=at or timezone.now(),
        performed_by=performed_by,
        description=description,
        **fields,
    )


def days_ago(days: int, hour: int = 12) -> datetime:
    moment = timezone.localtime() - timedelta(days=days)
    return moment.replace(hour=hour, minute=0, second=0, microsecond=0)


def activity(
    task: BackupTask,
    item: str,
    *,
    kind: str = "backup",
    status: str = ActivityEvent.Status.SUCCEEDED,
    at: datetime | None = None,
    **fields: Any,
) -> ActivityEvent:
    return ActivityEvent.objects.create(
        account=task.account,
        activity=kind,
        service=task.service,
        sub_service={"box": "Files", "imap": "Mail"}.get(task.service, ""),
        status=status,
        task=task,
        task_name=task.name,
        item=item,
        at=at or timezone.now(),
        **fields,
    )


def csv_of(response: HttpResponse) -> list[dict[str, str]]:
    """The rows of a streamed CSV download, keyed by the header."""
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming  # type: ignore[attr-defined]
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(text)))


def page_of(response: HttpResponse) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()
