"""A restore job's run (A-RESTORE): the selection's item versions read from the account's
repository and written back through the target task's connector.

Where each item goes: the target folder (if one was given), then for a non-destructive restore
the new "Restored <date>" folder, then the item's path as it was backed up. In place (Replace,
Bypass) with no target folder, items go back where they were.

Progress is checkpointed (the path last done and the counts), so a run that stops — a worker
killed, the source throttling past its retries — resumes after the items already written, and a
cancel leaves what was done done with honest counts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from functools import partial
from typing import Any

from backstop.backups import jobs
from backstop.backups.models import Entity, Job, JobLog
from backstop.backups.recovery import Selected, Selection, resolve
from backstop.connectors.base import Connector, EntityInfo, RestoreItem, RestoreOptions, RestoreResult
from backstop.engine.repository import Repository, SnapshotInfo

CHECKPOINT_EVERY = 5.0  # seconds
LOG_LIMIT = 1000  # log lines about single items, then only the counts


def target_path(selected: Selected, target: dict[str, Any]) -> str:
    parts = [target.get("folder", ""), target.get("restored_folder", ""), selected.row.path]
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


class RestoreRun:
    def __init__(
        self, job: Job, target: Entity, connector: Connector, repo: Repository, control: jobs.Control
    ) -> None:
        self.job, self.target, self.connector, self.repo, self.control = job, target, connector, repo, control
        assert job.entity is not None
        self.source: Entity = job.entity
        self.target_params: dict[str, Any] = job.params["target"]
        self.selection = Selection.from_params(job.params["selection"])
        saved = job.checkpoint or {}
        # The last row done (path, id): a path can come more than once (versions picked apart).
        self.after: tuple[str, int] | None = (
            (saved["after"], int(saved["after_id"])) if saved.get("after") else None
        )
        self.counts: dict[str, int] = {
            k: int(saved.get(k, 0)) for k in ("restored", "skipped", "failed", "bytes")
        }
        self.logged = int(saved.get("logged", 0))
        self._last_save = time.monotonic()
        self.stopped = False
        self._snapshots: dict[str, SnapshotInfo] = {}

    def _items(self, pending: deque[Selected]) -> Iterator[RestoreItem]:
        for selected in resolve(self.source, self.selection, after=self.after):
            if self.control.should_stop:
                self.stopped = True
                return
            pending.append(selected)
            yield RestoreItem(
                selected.item,
                partial(self.repo.open_item, self._snapshot(selected.snapshot_id), selected.row.path),
                target_path(selected, self.target_params),
            )

    def _snapshot(self, snapshot_id: str) -> SnapshotInfo:
        # Looked up once per run: finding a snapshot by id lists the repository's snapshots.
        if snapshot_id not in self._snapshots:
            self._snapshots[snapshot_id] = self.repo.snapshot(snapshot_id)
        return self._snapshots[snapshot_id]

    def run(self) -> dict[str, Any]:
        mode = self.target_params.get("mode", "new")
        options = RestoreOptions(mode=mode)
        info = EntityInfo(self.target.key, self.target.name, self.target.email, self.target.kind)
        pending: deque[Selected] = deque()
        try:
            for outcome in self.connector.restore(info, self._items(pending), options):
                self._count(pending.popleft(), outcome)
        finally:
            self._save()  # what is done stays done, whatever stopped the run
        return self.result()

    def _count(self, selected: Selected, outcome: RestoreResult) -> None:
        self.after = (selected.row.path, selected.row.pk)
        if outcome.status == "restored":
            self.counts["restored"] += 1
            self.counts["bytes"] += selected.row.size
        else:
            self.counts[outcome.status] += 1
            self._log_item(selected, outcome.status, outcome.message)
        done = self.counts["restored"] + self.counts["skipped"]
        self.control.progress(done, self.counts["bytes"], self.counts["failed"])
        if time.monotonic() - self._last_save >= CHECKPOINT_EVERY:
            self._save()

    def _log_item(self, selected: Selected, status: str, message: str) -> None:
        if self.logged >= LOG_LIMIT:
            return
        self.logged += 1
        level = JobLog.Level.ERROR if status == "failed" else JobLog.Level.INFO
        verb = "Failed" if status == "failed" else "Skipped"
        jobs.add_log(self.job, f"{verb} {selected.row.path}: {message}", level)

    def _save(self) -> None:
        after = {"after": self.after[0], "after_id": self.after[1]} if self.after else {}
        jobs.save_checkpoint(self.job, {**after, "logged": self.logged, **self.counts})
        self._last_save = time.monotonic()

    @property
    def progress(self) -> dict[str, int]:
        """The final counts, as `jobs.finish` takes them."""
        return {
            "items_done": self.counts["restored"] + self.counts["skipped"],
            "bytes_done": self.counts["bytes"],
            "items_failed": self.counts["failed"],
        }

    def result(self) -> dict[str, Any]:
        return {
            "restored": self.counts["restored"],
            "skipped": self.counts["skipped"],
            "failed": self.counts["failed"],
            "items": self.counts["restored"],
            "bytes": self.counts["bytes"],
            "target": self.target.name,
            "folder": target_path_folder(self.target_params),
        }


def target_path_folder(target: dict[str, Any]) -> str:
    return "/".join(p for p in (target.get("folder", ""), target.get("restored_folder", "")) if p)
