"""The partner's usage report (P-DASH "Export Usage Report"): every backed-up entity of the chosen
accounts as CSV, zipped and e-mailed to the partner user who asked.

Produced by a queue task (`report_tasks.usage_report`): the scope is worked out again when it
runs, from the user's partner role at that moment (`scoping.reach_of`), so an account the role no
longer reaches is not reported. Rows are read with `.iterator()` and written straight into the
compressed zip member, so memory stays flat whatever the number of entities; only the finished
zip (a few MB for 200,000 entities) is read back to attach it.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse

from backstop.backups.models import Entity
from backstop.billing.subscriptions import today
from backstop.notify import mailer
from backstop.tenancy import dashboard
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.permissions import SERVICES
from backstop.web.csvexport import cell

log = logging.getLogger(__name__)

HEADER = (
    "Account name",
    "Account e-mail",
    "Service",
    "Entity",
    "Entity e-mail",
    "Status",
    "License",
    "Size (bytes)",
    "Last backup (UTC)",
)
SERVICE_LABELS = {s.code: s.label for s in SERVICES}
ACTIVE = {Entity.Status.SCHEDULED, Entity.Status.IN_PROCESS, Entity.Status.ACTIVE}
# Exchange mailboxes without a licence (shared, resource or unlicensed users), by Entity.kind; any
# other Exchange mailbox is licensed. The Exchange connector names its entities' kinds so.
UNLICENSED_KINDS = frozenset({"unlicensed_mailbox", "shared_mailbox", "resource_mailbox"})
CHUNK = 2000


def entity_status(status: str) -> str:
    """Active (protected), Archived, or Inactive (not active, paused, backed up in another task)."""
    if status in ACTIVE:
        return "Active"
    if status == Entity.Status.ARCHIVED:
        return "Archived"
    return "Inactive"


def license_of(service: str, kind: str) -> str:
    if service != "exchange":
        return ""
    return "Unlicensed" if kind in UNLICENSED_KINDS else "Licensed"


def entities_of(accounts: QuerySet[Account]) -> QuerySet[Any]:
    """The backed-up entities (of live tasks, not deleted) of `accounts`, as tuples for the CSV."""
    return (
        Entity.objects.filter(
            account__in=accounts.values("pk"), deleted_at__isnull=True, task__deleted_at__isnull=True
        )
        .order_by("account__name", "account_id", "task__service", "name", "pk")
        .values_list(
            "account__name",
            "account__email",
            "task__service",
            "name",
            "email",
            "status",
            "kind",
            "size",
            "last_backup_at",
        )
    )


def csv_rows(accounts: QuerySet[Account]) -> Iterator[tuple[Any, ...]]:
    yield HEADER
    for name, email, service, entity, entity_email, status, kind, size, last in entities_of(
        accounts
    ).iterator(chunk_size=CHUNK):
        yield (
            name,
            email,
            SERVICE_LABELS.get(service, service),
            entity,
            entity_email,
            entity_status(status),
            license_of(service, kind),
            size,
            last.strftime("%Y-%m-%d %H:%M") if isinstance(last, datetime) else "",
        )


def write_zip(accounts: QuerySet[Account], path: Path, member: str) -> int:
    """Writes the CSV into a deflated zip at `path`, row by row; returns the entities written."""
    count = -1
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive,
        archive.open(member, "w", force_zip64=True) as raw,
        io.TextIOWrapper(raw, encoding="utf-8", newline="") as text,
    ):
        writer = csv.writer(text)
        for row in csv_rows(accounts):
            writer.writerow([cell(value) for value in row])
            count += 1
    return count


@dataclass(frozen=True)
class Outcome:
    accounts: int
    entities: int
    sent: bool


def scope(
    partner_id: int, user_id: int, account_ids: list[int], filters: Mapping[str, str]
) -> tuple[Partner, Membership, QuerySet[Account]]:
    """The accounts the report covers, read again from the user's role now."""
    from backstop.accounts.models import User
    from backstop.tenancy.views.decorators import partner_membership

    user = User.objects.filter(pk=user_id).first()
    partner, membership = partner_membership(user, partner_id, perms.PARTNER_VIEW_DASHBOARD)
    accounts = dashboard.reached(membership)
    if account_ids:
        accounts = accounts.filter(pk__in=account_ids)
    else:
        accounts = dashboard.Filters.parse(filters).apply(accounts, partner, today())
    return partner, membership, accounts


def produce(
    partner_id: int,
    user_id: int,
    account_ids: list[int],
    filters: Mapping[str, str],
    folder: Path | None = None,
) -> Outcome:
    """Builds the report and e-mails it to the user; nothing when the user lost the access."""
    try:
        partner, membership, accounts = scope(partner_id, user_id, account_ids, filters)
    except (Http404, PermissionDenied):
        log.warning("usage report of partner %s for user %s dropped: no access any more", partner_id, user_id)
        return Outcome(0, 0, False)
    user = membership.user
    stamp = today().isoformat()
    member = f"usage-report-{partner.code}-{stamp}.csv"
    base = folder or Path(settings.BACKSTOP_DATA_DIR)
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="usage-report-", dir=base) as tmp:
        path = Path(tmp) / f"usage-report-{partner.code}-{stamp}.zip"
        entities = write_zip(accounts, path, member)
        count = accounts.count()
        context = {
            "partner": partner,
            "accounts": count,
            "entities": entities,
            "filename": path.name,
            "dashboard_url": mailer.absolute(reverse("partner_dashboard", args=[partner.pk])),
        }
        sent = mailer.send(
            [(user.email, user.display_name)],
            f"Usage report of {partner.name}: {count} account{'' if count == 1 else 's'}",
            "tenancy/dashboard/email_usage_report",
            context,
            attachments=[(path.name, path.read_bytes(), "application/zip")],
        )
    log.info("usage report of partner %s: %d accounts, %d entities", partner.pk, count, entities)
    return Outcome(count, entities, bool(sent))
