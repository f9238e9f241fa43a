"""`forget`: which snapshots a retention policy keeps, per entity, and removing the rest.

Forgetting removes manifests only; the bytes go at the next prune.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .repository import Repository, SnapshotInfo


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Keep snapshots taken within N days, months or years of now, and/or the last N of each
    entity. A snapshot any rule keeps is kept. With no rule at all, everything is kept."""

    within_days: int | None = None
    within_months: int | None = None
    within_years: int | None = None
    keep_last: int | None = None

    @property
    def keeps_everything(self) -> bool:
        return all(
            v is None for v in (self.within_days, self.within_months, self.within_years, self.keep_last)
        )

    def cutoff(self, now: datetime) -> datetime | None:
        cutoffs = []
        if self.within_days is not None:
            cutoffs.append(now - timedelta(days=self.within_days))
        if self.within_months is not None:
            cutoffs.append(_months_before(now, self.within_months))
        if self.within_years is not None:
            cutoffs.append(_months_before(now, 12 * self.within_years))
        return min(cutoffs) if cutoffs else None


def _months_before(moment: datetime, months: int) -> datetime:
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    day = min(
        moment.day,
        [
            31,
            29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ][month],
    )
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(slots=True)
class ForgetResult:
    kept: list[SnapshotInfo] = field(default_factory=list)
    removed: list[SnapshotInfo] = field(default_factory=list)


def forget(
    repo: Repository,
    policy: RetentionPolicy,
    entity: str | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> ForgetResult:
    now = now or datetime.now(UTC)
    result = ForgetResult()
    by_entity: dict[str, list[SnapshotInfo]] = defaultdict(list)
    for snap in repo.snapshots(entity):
        by_entity[snap.entity].append(snap)
    cutoff = policy.cutoff(now)
    for snaps in by_entity.values():
        newest_first = sorted(snaps, key=lambda s: s.time, reverse=True)
        for position, snap in enumerate(newest_first):
            keep = (
                policy.keeps_everything
                or (cutoff is not None and snap.time >= cutoff)
                or (policy.keep_last is not None and position < policy.keep_last)
            )
            (result.kept if keep else result.removed).append(snap)
    if not dry_run and result.removed:
        from .prune import note_forget

        note_forget(repo)  # before deleting: a prune must see it while the deletion can matter
        for snap in result.removed:
            repo.store.delete(snap.key)
    return result
