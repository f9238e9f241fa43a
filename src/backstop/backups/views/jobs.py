"""The Jobs page (A-JOBS): the account's restores and exports of the last seven days.

Tiles count the jobs by outcome and filter the list when clicked; the filter form (initiator,
activity, service, status, task, a search on the name, newest or oldest first) lives in the query
string, so a filtered list can be bookmarked and works without JavaScript. With htmx the table
and its pager are one fragment swapped in place (the tiles come with it, out of band), and it
polls itself every three seconds while a job is pending or running.

A job is reached only through `restrict`, within the open account, and only when the role sees
its task's service: any other id is a 404, for the log, the cancel and the results alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from backstop.accounts.models import User
from backstop.backups.downloads import is_available, link_for
from backstop.backups.forms_recovery import DESTINATIONS
from backstop.backups.jobs import request_cancel
from backstop.backups.models import BackupTask, Job, JobLog
from backstop.backups.views.common import SERVICE_ICONS
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountAccess
from backstop.tenancy.views.decorators import account_view, is_htmx
from backstop.web import csvexport

WINDOW = timedelta(days=7)
PAGE_SIZE = 20
LOG_LINES = 1000  # View Log shows the latest lines; the results CSV has them all
KINDS = (Job.Kind.RESTORE, Job.Kind.EXPORT)
JS = Job.Status
OPEN = (JS.PENDING, JS.RUNNING)
SERVICE_LABELS = {service.code: service.label for service in perms.SERVICES}

# The status filter: single statuses and the groups the tiles stand for.
STATUS_FILTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "open": ("Pending or in progress", OPEN),
    "pending": ("Pending", (JS.PENDING,)),
    "running": ("In progress", (JS.RUNNING,)),
    "succeeded": ("Succeeded", (JS.SUCCEEDED,)),
    "problem": ("Partially succeeded or failed", (JS.PARTIAL, JS.FAILED)),
    "partial": ("Partially succeeded", (JS.PARTIAL,)),
    "failed": ("Failed", (JS.FAILED,)),
    "canceled": ("Canceled", (JS.CANCELED,)),
}
# (status filter, label, Bootstrap colour, icon). Canceled jobs get a tile of their own: a person
# stopped them, so they are neither a success nor a fault to look into.
TILES: tuple[tuple[str, str, str, str], ...] = (
    ("open", "In progress", "primary", "arrow-repeat"),
    ("succeeded", "Succeeded", "success", "check-circle"),
    ("problem", "Partially succeeded or failed", "danger", "exclamation-triangle"),
    ("canceled", "Canceled", "secondary", "slash-circle"),
)
STATUS_STYLES: dict[str, str] = {
    JS.PENDING: "info",
    JS.RUNNING: "primary",
    JS.SUCCEEDED: "success",
    JS.PARTIAL: "warning",
    JS.FAILED: "danger",
    JS.CANCELED: "secondary",
}
KIND_ICONS: dict[str, str] = {Job.Kind.RESTORE: "arrow-counterclockwise", Job.Kind.EXPORT: "cloud-download"}
RESTORE_MODES = {"new": "Non-destructive", "replace": "Replace", "bypass": "Bypass"}
RESTORE_MODE_HINTS = {
    "new": "Restored into a folder beside the live data",
    "replace": "In place: existing items were overwritten",
    "bypass": "In place: existing items were left alone",
}
# Export destination kind -> icon (the labels are the export form's).
DESTINATION_ICONS: dict[str, str] = {
    "download": "file-earmark-zip",
    "s3": "bucket",
    "s3_compatible": "bucket",
    "azure": "microsoft",
    "gcs": "google",
}
DESTINATION_LABELS = dict(DESTINATIONS)
SORTS = {"newest": ("-created_at", "-pk"), "oldest": ("created_at", "pk")}


# -- filters ------------------------------------------------------------------------------------


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 12 else None


@dataclass(frozen=True, slots=True)
class Filters:
    initiator: int | None = None
    activity: str = ""
    service: str = ""
    status: str = ""
    task: int | None = None
    q: str = ""
    sort: str = "newest"

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Filters:
        activity = str(data.get("activity") or "")
        service = str(data.get("service") or "")
        status = str(data.get("status") or "")
        sort = str(data.get("sort") or "")
        return cls(
            initiator=_int(data.get("initiator")),
            activity=activity if activity in KINDS else "",
            service=service if service in SERVICE_LABELS else "",
            status=status if status in STATUS_FILTERS else "",
            task=_int(data.get("task")),
            q=str(data.get("q") or "").strip()[:200],
            sort=sort if sort in SORTS else "newest",
        )

    def pairs(self) -> list[tuple[str, str]]:
        """The filters that are set, for a query string (newest first is the default)."""
        values = (
            ("initiator", self.initiator or ""),
            ("activity", self.activity),
            ("service", self.service),
            ("status", self.status),
            ("task", self.task or ""),
            ("q", self.q),
            ("sort", "" if self.sort == "newest" else self.sort),
        )
        return [(key, str(value)) for key, value in values if value]

    def query(self) -> str:
        return urlencode(self.pairs())

    @property
    def any(self) -> bool:
        return bool(self.pairs())

    def apply(self, rows: QuerySet[Job], with_status: bool = True) -> QuerySet[Job]:
        if self.initiator:
            rows = rows.filter(initiator_id=self.initiator)
        if self.activity:
            rows = rows.filter(kind=self.activity)
        if self.service:
            rows = rows.filter(task__service=self.service)
        if self.task:
            rows = rows.filter(task_id=self.task)
        if self.q:
            rows = rows.filter(
                Q(params__label__icontains=self.q)
                | Q(entity__name__icontains=self.q)
                | Q(entity__email__icontains=self.q)
            )
        if with_status and self.status:
            rows = rows.filter(status__in=STATUS_FILTERS[self.status][1])
        return rows


# -- what the user may see and do -----------------------------------------------------------------


def visible_services(access: AccountAccess) -> list[str]:
    return [code for code in SERVICE_LABELS if access.can(perms.VIEW_TASKS, code)]


def visible_jobs(request: HttpRequest, access: AccountAccess) -> QuerySet[Job]:
    """Every restore and export of the open account whose task's service the role sees."""
    return Job.objects.restrict(request.user, perms.VIEW_TASKS).filter(
        account=access.account, kind__in=KINDS, task__service__in=visible_services(access)
    )


def recent(rows: QuerySet[Job], now: datetime | None = None) -> QuerySet[Job]:
    """The jobs of the last seven days, and any older one still pending or running."""
    since = (now or timezone.now()) - WINDOW
    return rows.filter(Q(created_at__gte=since) | Q(status__in=OPEN))


def get_job(request: HttpRequest, access: AccountAccess, job_id: int) -> Job:
    job = (
        visible_jobs(request, access).select_related("task", "entity", "initiator").filter(pk=job_id).first()
    )
    if job is None:
        raise Http404("No such job")
    return job


def may_cancel(access: AccountAccess, job: Job) -> bool:
    """Whoever may start this kind of job on the service may stop it, and so may a role that
    cancels tasks."""
    if job.task is None:
        return False
    needed = perms.RESTORE if job.kind == Job.Kind.RESTORE else perms.EXPORT
    service = job.task.service
    return access.can(needed, service) or access.can(perms.CANCEL_TASKS, service)


def download_link(access: AccountAccess, job: Job) -> str:
    """The link to a finished download export's zip while it is kept, for a role that may export;
    '' otherwise (the row then offers the results CSV)."""
    if job.kind != Job.Kind.EXPORT or job.status not in (JS.SUCCEEDED, JS.PARTIAL):
        return ""
    if (job.params.get("destination") or {}).get("kind", "download") != "download":
        return ""
    if job.task is None or not access.can(perms.EXPORT, job.task.service):
        return ""  # the download page would refuse them
    return link_for(job) if is_available(job) else ""


# -- rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Destination:
    icon: str
    label: str
    detail: str = ""
    mode: str = ""
    mode_hint: str = ""


def destination_of(job: Job) -> Destination:
    if job.kind == Job.Kind.RESTORE:
        target = job.params.get("target") or {}
        name = target.get("entity_name") or (job.entity.name if job.entity else "") or "Original location"
        mode = str(target.get("mode") or "")
        return Destination(
            "person",
            name,
            detail=str(target.get("folder") or ""),
            mode=RESTORE_MODES.get(mode, mode.capitalize()),
            mode_hint=RESTORE_MODE_HINTS.get(mode, ""),
        )
    where = job.params.get("destination") or {}
    kind = str(where.get("kind") or "download")
    label, icon = DESTINATION_LABELS.get(kind, kind), DESTINATION_ICONS.get(kind, "cloud-arrow-up")
    if kind == "download":
        return Destination(icon, label)
    container = str(where.get("bucket") or where.get("container") or "")
    prefix = str(where.get("prefix") or "").strip("/")
    return Destination(icon, label, detail="/".join(part for part in (container, prefix) if part))


def _when(value: Any) -> datetime | None:
    """An ISO date or date-time from the job's parameters."""
    if not value:
        return None
    text = str(value)
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            moment = datetime(day.year, day.month, day.day) if day else None  # noqa: DTZ001
    except ValueError:
        return None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment


def _total(job: Job, key: str) -> int | None:
    value = job.params.get(key)
    return int(value) if isinstance(value, int | float) and value >= 0 else None


@dataclass(frozen=True, slots=True)
class JobRow:
    job: Job
    name: str
    kind_icon: str
    service: str
    service_icon: str
    account: str
    account_detail: str
    backup_date: datetime | None
    destination: Destination
    items_total: int | None
    bytes_total: int | None
    percent: int | None
    style: str
    can_cancel: bool
    download_url: str

    @property
    def is_open(self) -> bool:
        return self.job.status in OPEN


def name_of(job: Job) -> str:
    return str(job.params.get("label") or (job.task.name if job.task else "") or job)


def row_of(access: AccountAccess, job: Job) -> JobRow:
    service = job.task.service if job.task else ""
    items_total, bytes_total = _total(job, "items_total"), _total(job, "bytes_total")
    percent = None
    if job.status == JS.RUNNING:
        if bytes_total:
            percent = min(100, round(job.bytes_done * 100 / bytes_total))
        elif items_total:
            percent = min(100, round((job.items_done + job.items_failed) * 100 / items_total))
    entity = job.entity
    return JobRow(
        job=job,
        name=name_of(job),
        kind_icon=KIND_ICONS.get(job.kind, "gear"),
        service=SERVICE_LABELS.get(service, service),
        service_icon=SERVICE_ICONS.get(service, "cloud"),
        account=entity.name if entity else str(job.params.get("entity_name") or ""),
        account_detail=entity.email if entity and entity.email != entity.name else "",
        backup_date=_when(job.params.get("backup_date")),
        destination=destination_of(job),
        items_total=items_total,
        bytes_total=bytes_total,
        percent=percent,
        style=STATUS_STYLES.get(job.status, "secondary"),
        can_cancel=job.status in OPEN and may_cancel(access, job),
        download_url=download_link(access, job),
    )


# -- the page -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tile:
    code: str
    label: str
    style: str
    icon: str
    count: int
    active: bool
    query: str


def results_context(
    request: HttpRequest, access: AccountAccess, filters: Filters, page_number: str | None = None
) -> dict[str, Any]:
    """The fragment htmx swaps and polls: tiles, table, pager."""
    base = recent(visible_jobs(request, access))
    unfiltered_status = filters.apply(base, with_status=False)
    by_status: dict[str, int] = {
        row["status"]: row["n"]
        for row in unfiltered_status.order_by().values("status").annotate(n=Count("pk"))
    }
    tiles = []
    for code, label, style, icon in TILES:
        active = filters.status == code
        # A click on the active tile takes its filter off again.
        query = replace(filters, status="" if active else code).query()
        count = sum(by_status.get(status, 0) for status in STATUS_FILTERS[code][1])
        tiles.append(Tile(code, label, style, icon, count, active, query))
    rows = filters.apply(base).select_related("task", "entity", "initiator").order_by(*SORTS[filters.sort])
    page = Paginator(rows, PAGE_SIZE).get_page(page_number)
    query = filters.query()
    return {
        "account": access.account,
        "filters": filters,
        "tiles": tiles,
        "page": page,
        "rows": [row_of(access, job) for job in page],
        "polling": any(by_status.get(status) for status in OPEN),
        "pager_query": query,
        "table_query": urlencode([*filters.pairs(), ("page", str(page.number))]),
        "window_days": WINDOW.days,
    }


def form_context(request: HttpRequest, access: AccountAccess) -> dict[str, Any]:
    """The choices of the filter form: only what this role can see."""
    base = recent(visible_jobs(request, access))
    services = visible_services(access)
    live = BackupTask.objects.restrict(request.user, perms.VIEW_TASKS).filter(
        account=access.account, service__in=services
    )
    tasks = live.filter(Q(deleted_at__isnull=True) | Q(pk__in=base.values("task_id"))).order_by("name", "pk")
    initiators = User.objects.filter(pk__in=base.values("initiator_id")).order_by("email")
    used = sorted({task.service for task in tasks}, key=lambda code: SERVICE_LABELS[code])
    return {
        "initiator_choices": [(user.pk, user.email) for user in initiators],
        "activity_choices": [(kind.value, kind.label) for kind in KINDS],
        "service_choices": [(code, SERVICE_LABELS[code]) for code in used],
        "status_choices": [(code, label) for code, (label, _) in STATUS_FILTERS.items()],
        "task_choices": [
            (task.pk, task.name, SERVICE_LABELS.get(task.service, task.service)) for task in tasks
        ],
        "sort_choices": [("newest", "Newest first"), ("oldest", "Oldest first")],
    }


@vary_on_headers("HX-Request")
@account_view(perms.VIEW_TASKS)
def jobs_page(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    filters = Filters.parse(request.GET)
    context = results_context(request, access, filters, request.GET.get("page"))
    if is_htmx(request):  # the tiles come along out of band
        return render(request, "backups/partials/jobs_results.html", {**context, "oob": True})
    context.update(form_context(request, access), access=access)
    return render(request, "backups/jobs.html", context)


@vary_on_headers("HX-Request")
@account_view(perms.VIEW_TASKS)
def job_log(request: HttpRequest, access: AccountAccess, job_id: int) -> HttpResponse:
    job = get_job(request, access, job_id)
    total = job.log_lines.count()
    lines = list(reversed(job.log_lines.order_by("-at", "-pk")[:LOG_LINES]))
    context = {
        "account": access.account,
        "access": access,
        "row": row_of(access, job),
        "job": job,
        "lines": lines,
        "line_total": total,
        "cut": total > len(lines),
        "back_query": Filters.parse(request.GET).query(),
        "nav_section": "account_jobs",
    }
    template = "backups/partials/jobs_log.html" if is_htmx(request) else "backups/jobs_log.html"
    return render(request, template, context)


@account_view(perms.VIEW_TASKS)
@require_POST
def job_cancel(request: HttpRequest, access: AccountAccess, job_id: int) -> HttpResponse:
    job = get_job(request, access, job_id)
    if not may_cancel(access, job):
        raise PermissionDenied("Your role may not cancel this job")
    if job.status in OPEN:
        request_cancel(job)
        job.refresh_from_db(fields=["status"])
        done = "was canceled" if job.status == JS.CANCELED else "stops after the item it is working on"
        text = f"The {job.get_kind_display().lower()} “{name_of(job)}” {done}."
    else:
        text = f"The {job.get_kind_display().lower()} “{name_of(job)}” had already ended."
    # The filters and page the list was showing come back with the form.
    shown = QueryDict(request.POST.get("query", ""))
    filters = Filters.parse(shown)
    page = shown.get("page", "")
    if is_htmx(request):
        context = {**results_context(request, access, filters, page), "notice": text, "oob": True}
        return render(request, "backups/partials/jobs_results.html", context)
    messages.info(request, text)
    query = urlencode([*filters.pairs(), *([("page", page)] if page.isdigit() else [])])
    url = reverse("account_jobs", args=[access.account.pk])
    return redirect(f"{url}?{query}" if query else url)


# -- results CSV --------------------------------------------------------------------------------


def results_rows(access: AccountAccess, job: Job) -> Iterator[list[Any]]:
    row = row_of(access, job)
    where = row.destination
    destination = " · ".join(part for part in (where.label, where.detail, where.mode) if part)
    summary = [
        ("Job", f"{job.get_kind_display()} #{job.pk}"),
        ("Name", row.name),
        ("Service", row.service),
        ("Task", job.task.name if job.task else ""),
        ("Account", row.account),
        ("Initiator", job.initiator.email if job.initiator else ""),
        ("Status", job.get_status_display()),
        ("Requested", job.created_at),
        ("Started", job.started_at),
        ("Ended", job.ended_at),
        ("Backup date", row.backup_date),
        ("Destination", destination),
        ("Items done", job.items_done),
        ("Items failed", job.items_failed),
        ("Items total", "" if row.items_total is None else row.items_total),
        ("Bytes done", job.bytes_done),
        ("Bytes total", "" if row.bytes_total is None else row.bytes_total),
        ("Error", job.error),
    ]
    for key, value in summary:
        yield [key, value]
    yield []
    yield ["Time", "Level", "Message"]
    lines = JobLog.objects.filter(account_id=job.account_id, job=job).order_by("at", "pk")
    for line in lines.iterator(chunk_size=500):
        yield [line.at, line.level, line.text]


@account_view(perms.VIEW_TASKS)
def job_results(request: HttpRequest, access: AccountAccess, job_id: int) -> HttpResponse:
    """The job's summary and every log line as CSV, streamed."""
    job = get_job(request, access, job_id)
    return csvexport.response(f"{job.kind}-{job.pk}-results.csv", results_rows(access, job))
