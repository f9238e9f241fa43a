"""The summary report (A-NOTIFY): for each account whose period ended, an e-mail to the summary
recipients with a task overview or the failure details, and the per-entity CSV attached or
behind a signed download link.

Periods are whole UTC days, weeks from Monday, or months from the 1st. A report is due when
`last_sent_at` is before the start of the current period, and it covers the period that just
ended; so a scheduler that was down catches up with one report at its next run, and a second
run in the same period finds nothing due. The claim is one conditional UPDATE of
`last_sent_at`: two runs at once cannot both send.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from backstop.backups.models import BackupTask, Entity, Job
from backstop.notify import mailer
from backstop.notify.models import ReportSettings
from backstop.notify.recipients import SUMMARY, addresses
from backstop.tenancy.models import Account
from backstop.web import csvexport

log = logging.getLogger(__name__)

LINK_SALT = "backstop.notify.report-download"
LINK_DAYS = 30  # a monthly report's link outlives the next report
FINISHED = (Job.Status.SUCCEEDED, Job.Status.PARTIAL, Job.Status.FAILED)
TROUBLE = (Job.Status.PARTIAL, Job.Status.FAILED)
F = ReportSettings.Frequency

CSV_HEADER = (
    "Task",
    "Service",
    "Entity",
    "E-mail",
    "Entity status",
    "Result in period",
    "Backups in period",
    "Last backup",
    "Items",
    "Size (bytes)",
    "Error",
)


# -- periods ---------------------------------------------------------------------------------


def period_start(now: datetime, frequency: str) -> datetime:
    """The start of the period `now` is in (UTC midnight; Monday; the 1st)."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if frequency == F.WEEKLY:
        return day - timedelta(days=day.weekday())
    if frequency == F.MONTHLY:
        return day.replace(day=1)
    return day


def previous_start(start: datetime, frequency: str) -> datetime:
    if frequency == F.WEEKLY:
        return start - timedelta(days=7)
    if frequency == F.MONTHLY:
        return (start - timedelta(days=1)).replace(day=1)
    return start - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    @classmethod
    def ended_before(cls, now: datetime, frequency: str) -> Period:
        """The last whole period before `now`."""
        end = period_start(now, frequency)
        return cls(previous_start(end, frequency), end)

    def label(self) -> str:
        last = self.end - timedelta(days=1)
        if last.date() == self.start.date():
            return f"{self.start:%d %b %Y}"
        return f"{self.start:%d %b %Y} to {last:%d %b %Y}"


# -- the report's content -------------------------------------------------------------------


@dataclass
class EntityLine:
    entity: Entity
    result: str = ""  # the last finished job's status in the period, "" for none
    runs: int = 0
    error: str = ""

    @property
    def result_label(self) -> str:
        return Job.Status(self.result).label if self.result else "No backup"


@dataclass
class TaskLine:
    task: BackupTask
    entities: list[EntityLine] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for line in self.entities if line.result == status)

    @property
    def succeeded(self) -> int:
        return self.count(Job.Status.SUCCEEDED)

    @property
    def partial(self) -> int:
        return self.count(Job.Status.PARTIAL)

    @property
    def failed(self) -> int:
        return self.count(Job.Status.FAILED)

    @property
    def last_backup(self) -> datetime | None:
        return max((e.entity.last_backup_at for e in self.entities if e.entity.last_backup_at), default=None)

    @property
    def size(self) -> int:
        return sum(line.entity.size for line in self.entities)


@dataclass
class Report:
    account: Account
    period: Period
    tasks: list[TaskLine]

    @property
    def lines(self) -> Iterator[EntityLine]:
        for task in self.tasks:
            yield from task.entities

    @property
    def entity_count(self) -> int:
        return sum(len(task.entities) for task in self.tasks)

    @property
    def failures(self) -> list[EntityLine]:
        return [line for line in self.lines if line.result in TROUBLE]

    @property
    def all_clear(self) -> bool:
        return not self.failures

    def csv_rows(self) -> Iterator[tuple[Any, ...]]:
        yield CSV_HEADER
        for task in self.tasks:
            for line in task.entities:
                entity = line.entity
                yield (
                    task.task.name,
                    task.task.get_service_display(),
                    entity.name,
                    entity.email,
                    entity.get_status_display(),
                    line.result_label,
                    line.runs,
                    entity.last_backup_at,
                    entity.items,
                    entity.size,
                    line.error,
                )

    def csv_filename(self) -> str:
        return f"backstop-report-{self.account.pk}-{self.period.start:%Y%m%d}-{self.period.end:%Y%m%d}.csv"


def job_error(job: Job) -> str:
    """What went wrong in one job, in a line."""
    if job.error:
        return job.error
    failed = (job.result or {}).get("failed") or []
    if not failed:
        return ""
    names = ", ".join(str(f.get("path") or f.get("name")) for f in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    first = failed[0].get("error", "")
    return f"{len(failed)} item(s) could not be backed up: {names}{more}" + (f" ({first})" if first else "")


def build(account: Account, period: Period, services: Collection[str] | None = None) -> Report:
    """The account's report over `period`: every entity being backed up, and every entity that
    had a backup in the period, with its last result; only `services` when given (a role that
    sees some services only)."""
    jobs = (
        Job.objects.filter(
            account=account,
            kind=Job.Kind.BACKUP,
            status__in=FINISHED,
            ended_at__gte=period.start,
            ended_at__lt=period.end,
        )
        .order_by("ended_at", "pk")
        .only("entity_id", "status", "error", "result", "ended_at")
    )
    last: dict[int, Job] = {}
    runs: dict[int, int] = defaultdict(int)
    for job in jobs.iterator():
        if job.entity_id is not None:
            last[job.entity_id] = job
            runs[job.entity_id] += 1
    idle = (Entity.Status.NOT_ACTIVE, Entity.Status.ARCHIVED)
    entities = (
        Entity.objects.filter(account=account, deleted_at__isnull=True, task__deleted_at__isnull=True)
        .filter(~Q(status__in=idle) | Q(pk__in=list(last)))
        .filter(Q() if services is None else Q(task__service__in=services))
        .select_related("task")
        .order_by("task__created_at", "task_id", "name", "pk")
    )
    tasks: dict[int, TaskLine] = {}
    for task in BackupTask.objects.filter(account=account, deleted_at__isnull=True).order_by(
        "created_at", "pk"
    ):
        tasks[task.pk] = TaskLine(task)
    for entity in entities:
        latest = last.get(entity.pk)
        line = EntityLine(entity, runs=runs[entity.pk])
        if latest is not None:
            line.result = latest.status
            line.error = job_error(latest) if latest.status in TROUBLE else ""
        tasks[entity.task_id].entities.append(line)
    return Report(account, period, list(tasks.values()))


# -- download links ---------------------------------------------------------------------------


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=LINK_SALT)


def link_token(account: Account, period: Period) -> str:
    value = f"{account.pk}:{int(period.start.timestamp())}:{int(period.end.timestamp())}"
    return _signer().sign(value)


def read_token(token: str) -> tuple[int, Period]:
    """(account id, period) of a link; raises `signing.BadSignature` (or `SignatureExpired`)."""
    value = _signer().unsign(token, max_age=timedelta(days=LINK_DAYS))
    try:
        account_id, start, end = (int(part) for part in value.split(":"))
    except ValueError:
        raise signing.BadSignature("malformed report link") from None
    return account_id, Period(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))


def link_for(account: Account, period: Period) -> str:
    return mailer.absolute(reverse("notify_report_download", args=[account.pk, link_token(account, period)]))


# -- sending ----------------------------------------------------------------------------------


def settings_of(account: Account) -> ReportSettings:
    found: ReportSettings | None = ReportSettings.objects.filter(account=account).first()
    return found or ReportSettings(account=account)


def send(account: Account, report_settings: ReportSettings, period: Period) -> int:
    """Sends the report of `period` to the account's summary recipients; returns the number of
    messages (0 when "only on failure" and the period was clean)."""
    report = build(account, period)
    if report_settings.only_on_failure and report.all_clear:
        return 0
    kind = "failure details" if report_settings.format == ReportSettings.Format.FAILURES else "overview"
    status = f"{len(report.failures)} with failures" if report.failures else "all backups succeeded"
    subject = f"Backup report for {account.name}, {period.label()}: {status}"
    link = ""
    attachments: list[tuple[str, str, str]] = []
    if report_settings.delivery == ReportSettings.Delivery.LINK:
        link = link_for(account, period)
    else:
        attachments.append((report.csv_filename(), csvexport.text(report.csv_rows()), "text/csv"))
    context = {
        "account": account,
        "report": report,
        "settings": report_settings,
        "kind": kind,
        "failures_only": report_settings.format == ReportSettings.Format.FAILURES,
        "link": link,
        "link_days": LINK_DAYS,
        "home_url": mailer.absolute(reverse("account_home", args=[account.pk])),
        "settings_url": mailer.absolute(reverse("account_notifications", args=[account.pk])),
    }
    return mailer.send(
        addresses(account, SUMMARY), subject, "notify/email/summary_report", context, attachments
    )


def _claim(report_settings: ReportSettings, now: datetime) -> bool:
    """Marks the period as reported; False when another run did it first."""
    previous = report_settings.last_sent_at
    claimed = ReportSettings.objects.filter(pk=report_settings.pk, last_sent_at=previous)
    if previous is None:
        claimed = ReportSettings.objects.filter(pk=report_settings.pk, last_sent_at__isnull=True)
    if not claimed.update(last_sent_at=now):
        return False
    report_settings.last_sent_at = now
    return True


def _unclaim(report_settings: ReportSettings, previous: datetime | None, now: datetime) -> None:
    ReportSettings.objects.filter(pk=report_settings.pk, last_sent_at=now).update(last_sent_at=previous)


def due_accounts(now: datetime) -> Iterator[tuple[Account, ReportSettings]]:
    """Accounts with backup tasks whose report period ended since their last report."""
    live_tasks = BackupTask.objects.filter(account=OuterRef("pk"), deleted_at__isnull=True)
    # Never reported: the first report covers the first whole period after the account opened.
    due = Q(report_settings__isnull=True, created_at__lt=period_start(now, F.DAILY))
    for frequency in F.values:
        start = period_start(now, frequency)
        due |= Q(report_settings__frequency=frequency, report_settings__last_sent_at__lt=start)
        due |= Q(
            report_settings__frequency=frequency,
            report_settings__last_sent_at__isnull=True,
            created_at__lt=start,
        )
    accounts = (
        Account.objects.filter(Exists(live_tasks), removal_requested_at__isnull=True)
        .filter(due)
        .order_by("pk")
    )
    existing = {s.account_id: s for s in ReportSettings.objects.filter(account__in=accounts)}
    for account in accounts:
        report_settings = existing.get(account.pk) or ReportSettings(account=account)
        start = period_start(now, report_settings.frequency)
        if (report_settings.last_sent_at or account.created_at) < start:
            yield account, report_settings


def send_due(now: datetime | None = None) -> int:
    """Sends every report that is due; returns how many accounts were reported on."""
    now = now or timezone.now()
    done = 0
    for account, report_settings in due_accounts(now):
        if report_settings.pk is None:  # the defaults, saved so that the claim has a row
            try:
                with transaction.atomic():
                    report_settings.save()
            except IntegrityError:
                continue  # another run made the row at the same moment, and reports
        previous = report_settings.last_sent_at
        if not _claim(report_settings, now):
            continue
        try:
            send(account, report_settings, Period.ended_before(now, report_settings.frequency))
        except Exception:
            log.exception(
                "the summary report of account %s could not be sent; tried again next run", account.pk
            )
            _unclaim(report_settings, previous, now)
            continue
        done += 1
    return done
