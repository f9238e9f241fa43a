"""Smart alerts: a backup run whose change is abnormal for its own entity.

Every successful run leaves its counts in `EntityRunStats` (measured by the pipeline: items
before, added, changed, removed, renamed, rewritten, and the compressibility of the new content
it downloaded). When the run is done (`backup_finished`), `detect` compares it with the entity's
last `HISTORY_RUNS` runs that did not alert themselves, and a run that matches a rule below makes
one `SmartAlert` (its kinds, most serious first), a warning line in the job's log, and an e-mail
to the account's smart-alert recipients (the account's own address when it has none) naming the
last clean snapshot: the newest snapshot before the run that no unacknowledged alert flags.

The rules (a first backup has no history and never alerts):

- Mass deletion: removed ≥ max(50, 30 % of the items before the run), and above the entity's
  usual removals: more than mean + 4 standard deviations of its past runs' removals.
- Mass modification: items whose content changed ≥ max(50, 30 % of the items before), and more
  than mean + 4 standard deviations of its past runs' such changes.
- Rename storm: items moved or renamed with their content unchanged ≥ max(50, 30 % of the items
  before), and more than mean + 4 standard deviations of its past runs' renames.
- Encryption, either of:
  - rewritten in place: at least 20 items whose new content does not compress (zstd level 1
    keeps more than 95 % of a 64 KiB sample) while their previous version did, making at least
    half of the items whose content changed, more than mean + 4 standard deviations of the past
    runs' such items;
  - encrypted copies: at least 20 new contents that do not compress, at least half of all the
    new content measured, with at least as many items removed as half of them (the originals),
    while no more than 20 % of the content measured in the entity's past runs was incompressible.
  Either needs a history that shows compressible content: at least 20 measured contents of past
  runs that compressed. Encryption explains the mass modification it causes: that kind is not
  listed beside it.

The absolute minimums (50 items, 20 encrypted items) keep small entities quiet: a folder of three
files losing two is not an alert. Receivers of the signal never raise: an alert that could not be
made is logged, and the backup stays as it finished.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from statistics import fmean, pstdev
from typing import Any

from django.db.models import Q
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from backstop.backups.models import Entity, EntityRunStats, Job, JobLog, SmartAlert, Snapshot
from backstop.backups.signals import backup_finished
from backstop.tenancy import permissions as perms

log = logging.getLogger(__name__)

HISTORY_RUNS = 10  # past runs an entity is measured against
MIN_ITEMS = 50  # mass deletion, modification, renames: at least this many items…
MIN_SHARE = 0.30  # …and at least this share of the items before the run
SIGMAS = 4.0  # and above mean + SIGMAS standard deviations of the entity's past runs
MIN_ENCRYPTED = 20  # encryption: at least this many items turned incompressible
ENCRYPTED_SHARE = 0.5  # …making at least this share of the items whose content changed
COPIES_PAST_SHARE = 0.2  # encrypted copies: the past's incompressible share of measured content

K = SmartAlert.Kind


@dataclass(frozen=True, slots=True)
class RunStats:
    """One run's counts, as `detect` reads them."""

    items_before: int = 0
    items: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    renamed: int = 0
    rewritten: int = 0
    sampled: int = 0
    sample_bytes: int = 0
    sample_compressed: int = 0
    incompressible: int = 0
    turned_incompressible: int = 0

    @classmethod
    def of(cls, row: Any) -> RunStats:
        """From anything with these attributes: an `EntityRunStats` row, a `RunResult`."""
        return cls(**{f.name: int(getattr(row, f.name, 0) or 0) for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    detail: str


def _abnormal(value: int, past: Sequence[int]) -> bool:
    return value > fmean(past) + SIGMAS * pstdev(past)


def _mass(value: int, items_before: int) -> bool:
    return value >= max(MIN_ITEMS, MIN_SHARE * items_before)


def detect(run: RunStats, history: Sequence[RunStats]) -> list[Finding]:
    """What is abnormal in `run` for an entity whose past runs were `history` (newest first)."""
    if not history:
        return []
    before = run.items_before
    found: list[Finding] = []
    measured_ok = sum(h.sampled - h.incompressible for h in history)
    if measured_ok >= MIN_ENCRYPTED:
        turned = run.turned_incompressible
        if (
            turned >= MIN_ENCRYPTED
            and turned >= ENCRYPTED_SHARE * run.rewritten
            and _abnormal(turned, [h.turned_incompressible for h in history])
        ):
            found.append(
                Finding(
                    K.ENCRYPTION,
                    f"{turned} of the {run.rewritten} items whose content changed no longer compress, "
                    "though their previous versions did: their new content looks encrypted, a sign "
                    "of ransomware.",
                )
            )
        else:
            past_sampled = sum(h.sampled for h in history)
            past_share = sum(h.incompressible for h in history) / past_sampled
            fresh = run.incompressible
            if (
                fresh >= MIN_ENCRYPTED
                and fresh >= ENCRYPTED_SHARE * run.sampled
                and run.removed >= ENCRYPTED_SHARE * fresh
                and past_share <= COPIES_PAST_SHARE
            ):
                found.append(
                    Finding(
                        K.ENCRYPTION,
                        f"{fresh} new items do not compress while this entity's content usually does, "
                        f"and {run.removed} items were removed: encrypted copies replacing the "
                        "originals, a sign of ransomware.",
                    )
                )
    encrypted = bool(found)
    if _mass(run.removed, before) and _abnormal(run.removed, [h.removed for h in history]):
        found.append(
            Finding(
                K.MASS_DELETION,
                f"{run.removed} of {before} items were removed, far more than usual for this entity "
                f"({_usual([h.removed for h in history])}).",
            )
        )
    if (
        not encrypted
        and _mass(run.rewritten, before)
        and _abnormal(run.rewritten, [h.rewritten for h in history])
    ):
        found.append(
            Finding(
                K.MASS_MODIFICATION,
                f"The content of {run.rewritten} of {before} items changed, far more than usual for "
                f"this entity ({_usual([h.rewritten for h in history])}).",
            )
        )
    if _mass(run.renamed, before) and _abnormal(run.renamed, [h.renamed for h in history]):
        found.append(
            Finding(
                K.RENAME_STORM,
                f"{run.renamed} of {before} items were renamed or moved, far more than usual "
                f"for this entity ({_usual([h.renamed for h in history])}).",
            )
        )
    return found


def _usual(past: Sequence[int]) -> str:
    mean = fmean(past)
    return f"about {mean:.0f} per backup" if mean >= 1 else "usually none"


# -- the hook


@receiver(backup_finished, dispatch_uid="backups.smart_alerts")
def on_backup_finished(
    sender: Any, *, job: Job, entity: Entity, result: Any = None, **kwargs: Any
) -> SmartAlert | None:
    """Receiver of `backup_finished`: records the run and alerts on an anomaly."""
    if result is None or not getattr(result, "snapshot_id", ""):
        return None  # failed or canceled: nothing was committed
    try:
        return check_run(job, entity, result)
    except Exception:
        log.exception("smart alert check of job %s failed", job.pk)
        return None


def check_run(job: Job, entity: Entity, result: Any) -> SmartAlert | None:
    snapshot = Snapshot.objects.filter(entity=entity, snapshot_id=result.snapshot_id).first()
    history = [
        RunStats.of(row)
        for row in EntityRunStats.objects.filter(
            account_id=entity.account_id, entity=entity, alerted=False
        ).order_by("-at", "-pk")[:HISTORY_RUNS]
    ]
    run = replace(RunStats.of(result), items_before=max(0, result.items - result.added + result.removed))
    stats = EntityRunStats.objects.create(
        account_id=entity.account_id, entity=entity, job=job, snapshot=snapshot, **_as_dict(run)
    )
    findings = detect(run, history)
    if not findings:
        return None
    stats.alerted = True
    stats.save(update_fields=["alerted"])
    alert = SmartAlert.objects.create(
        account_id=entity.account_id,
        task_id=entity.task_id,
        entity=entity,
        job=job,
        kinds=[f.kind for f in findings],
        detail=" ".join(f.detail for f in findings),
        snapshot=snapshot,
        clean_snapshot=clean_snapshot(entity, snapshot),
    )
    clean = alert.clean_snapshot
    JobLog.objects.create(
        account_id=job.account_id,
        job=job,
        level=JobLog.Level.WARNING,
        text=f"Smart alert: {alert.label}. {alert.detail} "
        + (
            f"Last clean snapshot: {clean.snapshot_id[:12]} of {clean.time:%Y-%m-%d %H:%M} UTC."
            if clean
            else "There is no earlier snapshot."
        ),
    )
    send_alert(alert)
    return alert


def _as_dict(run: RunStats) -> dict[str, int]:
    return {f.name: getattr(run, f.name) for f in fields(run)}


def clean_snapshot(entity: Entity, snapshot: Snapshot | None) -> Snapshot | None:
    """The newest snapshot of the entity before `snapshot` that no alert flags. Acknowledging an
    alert hides its badge; it does not make its snapshot clean."""
    rows = Snapshot.objects.filter(account_id=entity.account_id, entity=entity)
    if snapshot is not None:
        rows = rows.filter(Q(time__lt=snapshot.time) | Q(time=snapshot.time, pk__lt=snapshot.pk))
    flagged = SmartAlert.objects.filter(
        account_id=entity.account_id, entity=entity, snapshot__isnull=False
    ).values("snapshot_id")
    return rows.exclude(pk__in=flagged).order_by("-time", "-pk").first()


def recipients(alert: SmartAlert) -> list[tuple[str, str]]:
    from backstop.notify.recipients import SMART_ALERTS, addresses

    account = alert.account
    found = addresses(account, SMART_ALERTS)
    if not found and account.email:
        return [(account.email, account.name)]
    return found


def send_alert(alert: SmartAlert) -> int:
    """E-mails the alert, one message per recipient; returns how many went out."""
    from backstop.notify import mailer

    entity, clean = alert.entity, alert.clean_snapshot
    context = {
        "alert": alert,
        "entity": entity,
        "task": entity.task,
        "clean": clean,
        "recovery_url": mailer.absolute(reverse("recovery_entity", args=[alert.account_id, entity.pk])),
        "browse_url": (
            mailer.absolute(reverse("recovery_browse", args=[alert.account_id, entity.pk, clean.pk]))
            if clean
            else ""
        ),
        "task_url": mailer.absolute(reverse("backup_task", args=[alert.account_id, entity.task_id])),
    }
    name = " ".join(entity.name.split())  # no line breaks in a header
    subject = f"Smart alert: {SmartAlert.Kind(alert.kind).label.lower()} in {name}"
    try:
        return mailer.send(recipients(alert), subject, "backups/email/smart_alert", context)
    except Exception:
        log.exception("no smart alert e-mail of alert %s could be sent", alert.pk)
        return 0


def acknowledge(alert: SmartAlert, user: Any) -> None:
    SmartAlert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=user
    )


def open_alerts(user: Any, entity_ids: Sequence[int]) -> dict[int, SmartAlert]:
    """The newest unacknowledged alert of each entity the user may see (for the entity table)."""
    found: dict[int, SmartAlert] = {}
    rows = (
        SmartAlert.objects.restrict(user, perms.VIEW_TASKS)
        .filter(entity_id__in=list(entity_ids), acknowledged_at__isnull=True)
        .select_related("clean_snapshot")
        .order_by("-created_at", "-pk")
    )
    for alert in rows:
        found.setdefault(alert.entity_id, alert)
    return found
