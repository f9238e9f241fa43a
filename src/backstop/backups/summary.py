"""Each account's backup status and stored size (`AccountBackupSummary`), kept where they change.

The status reads the last result of every live entity of the account (archived and deleted
entities, and those of deleted tasks, left out): none (no result yet), successful (all succeeded),
failed (all failed), partially failed (anything else). The size is what the last snapshots of the
account's kept entities hold (archived ones too: their backups are still stored). `refresh`
recounts one account's entities (an indexed read of that account only) and is called by whatever
changes them: a backup that ends, discovery archiving or bringing back entities, deleting entities
or a task, the purge. A partner's dashboard then reads one row per account, however many entities
its customers have.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from backstop.backups.models import AccountBackupSummary, Entity, Job

State = AccountBackupSummary.State


def live_entities(accounts: list[int]) -> QuerySet[Entity]:
    """The entities a backup status counts: not deleted, not in a deleted task."""
    return Entity.objects.filter(account__in=accounts, deleted_at__isnull=True, task__deleted_at__isnull=True)


def _counts(accounts: list[int]) -> Any:
    live = ~Q(status=Entity.Status.ARCHIVED)
    return (
        live_entities(accounts)
        .order_by()
        .values("account_id")
        .annotate(
            total=Sum("size"),
            ok=Count("pk", filter=live & Q(last_result=Job.Status.SUCCEEDED)),
            part=Count("pk", filter=live & Q(last_result=Job.Status.PARTIAL)),
            bad=Count("pk", filter=live & Q(last_result=Job.Status.FAILED)),
        )
    )


def state_of(ok: int, part: int, bad: int) -> str:
    if not (ok or part or bad):
        return State.NONE
    if not part and not bad:
        return State.SUCCESSFUL
    if not ok and not part:
        return State.FAILED
    return State.PARTIAL


def refresh(account_ids: Iterable[int]) -> None:
    """Recounts these accounts' summaries. The row is locked first, so two backups of one account
    that end together cannot leave the older count behind."""
    pks = sorted(set(account_ids))
    if not pks:
        return
    now = timezone.now()
    with transaction.atomic():
        AccountBackupSummary.objects.bulk_create(
            [AccountBackupSummary(account_id=pk) for pk in pks], ignore_conflicts=True
        )
        # Locked in id order, so two refreshes of several accounts never wait on each other in turn.
        locked = AccountBackupSummary.objects.select_for_update().filter(account_id__in=pks).order_by("pk")
        rows = {row.pk: row for row in locked}
        counted = {row["account_id"]: row for row in _counts(pks)}
        for pk, summary in rows.items():
            row = counted.get(pk)
            summary.state = state_of(row["ok"], row["part"], row["bad"]) if row else State.NONE
            summary.size = int(row["total"] or 0) if row else 0
            summary.updated_at = now
        AccountBackupSummary.objects.bulk_update(list(rows.values()), ["state", "size", "updated_at"])


def refresh_all(batch: int = 500) -> int:
    """Every account's summary, recounted in batches: a repair, should one ever drift (`backstop
    manage shell -c "from backstop.backups import summary; summary.refresh_all()"`). The migration
    that added them counts them the same way, in its own copy."""
    from backstop.tenancy.models import Account

    pks = list(Account.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), batch):
        refresh(pks[start : start + batch])
    return len(pks)
