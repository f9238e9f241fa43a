"""Lookups every task page shares: a task is found within the open account, through `restrict`,
and only when the role reaches its service (a user limited to other services gets a 404)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.http import Http404, HttpRequest

from backstop.backups.connections import ServiceInfo, service_info
from backstop.backups.models import BackupTask, Entity
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountAccess, TenantQuerySet

S = Entity.Status

# Bootstrap colour of each entity status badge.
STATUS_STYLES: dict[str, str] = {
    S.NOT_ACTIVE: "secondary",
    S.SCHEDULED: "info",
    S.IN_PROCESS: "primary",
    S.ACTIVE: "success",
    S.PAUSED: "warning",
    S.OTHER_TASK: "light",
    S.ARCHIVED: "dark",
}
SERVICE_ICONS: dict[str, str] = {
    "box": "box-seam",
    "imap": "envelope-at",
    "exchange": "envelope",
    "teams": "microsoft-teams",
    "sharepoint": "diagram-3",
    "onedrive": "cloud",
    "google_account": "google",
    "salesforce": "cloud-fill",
    "dropbox": "dropbox",
    "google_workspace": "google",
    "google_shared_drives": "hdd-network",
}


def tasks_of(request: HttpRequest, access: AccountAccess, action: str = perms.VIEW_TASKS) -> list[BackupTask]:
    """The account's live tasks whose service the role may `action`."""
    rows = BackupTask.objects.restrict(request.user, action).filter(
        account=access.account, deleted_at__isnull=True
    )
    return [task for task in rows if access.can(action, task.service)]


def get_task(request: HttpRequest, access: AccountAccess, task_id: int, action: str) -> BackupTask:
    """The task, 404 when not in this account or its service is out of the role's reach, 403
    when the role may see it but not `action` it."""
    task = (
        BackupTask.objects.restrict(request.user, perms.VIEW_TASKS)
        .filter(account=access.account, deleted_at__isnull=True, pk=task_id)
        .first()
    )
    if task is None or not access.can(perms.VIEW_TASKS, task.service):
        raise Http404("No such backup task")
    if not access.can(action, task.service):
        raise PermissionDenied(f"Your role does not allow: {perms.label_of(action)}")
    return task


def entities_of(request: HttpRequest, task: BackupTask) -> TenantQuerySet:
    return Entity.objects.restrict(request.user, perms.VIEW_TASKS).filter(task=task, deleted_at__isnull=True)


def info_of(task: BackupTask) -> ServiceInfo:
    try:
        return service_info(task.service)
    except KeyError:  # pragma: no cover - a service removed from the list
        return ServiceInfo(task.service, task.service, "entities", "", False)


@dataclass(frozen=True, slots=True)
class StatusCount:
    code: str
    label: str
    count: int
    style: str


@dataclass
class TaskCard:
    task: BackupTask
    info: ServiceInfo
    icon: str
    statuses: list[StatusCount]
    total: int
    size: int
    last_backup: object
    can_modify: bool
    can_delete: bool


def status_counts(task_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {}
    rows = (
        Entity.objects.filter(task_id__in=task_ids, deleted_at__isnull=True)
        .values("task_id", "status")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        counts.setdefault(row["task_id"], {})[row["status"]] = row["n"]
    return counts


def ordered_counts(counts: dict[str, int], keep_empty: bool = False) -> list[StatusCount]:
    return [
        StatusCount(code, label, counts.get(code, 0), STATUS_STYLES[code])
        for code, label in S.choices
        if keep_empty or counts.get(code)
    ]


ENTITY_PAGE_SIZE = 25


@dataclass
class EntityTable:
    """A page of entities filtered by the request's search (`q`) and status, with the status
    counts of all of them for the filter pills."""

    page: Page[Entity]
    query: str
    status: str
    counts: dict[str, int]
    filters: list[StatusCount]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def entity_table(request: HttpRequest, base: QuerySet[Entity]) -> EntityTable:
    query = request.GET.get("q", "").strip()[:200]
    status = request.GET.get("status", "")
    status = status if status in S.values else ""
    counts: dict[str, int] = dict(base.order_by().values_list("status").annotate(n=Count("pk")))
    rows = base
    if query:
        rows = rows.filter(Q(name__icontains=query) | Q(email__icontains=query))
    if status:
        rows = rows.filter(status=status)
    page = Paginator(rows.order_by("name", "pk"), ENTITY_PAGE_SIZE).get_page(request.GET.get("page"))
    filters = [StatusCount("", "All", sum(counts.values()), "secondary")]
    filters += [f for f in ordered_counts(counts, keep_empty=True) if f.count or f.code == status]
    return EntityTable(page, query, status, counts, filters)


def home_context(request: HttpRequest, access: AccountAccess) -> dict[str, object]:
    """What the account homepage shows of backups: the task cards and whether to offer adding."""
    if not access.can(perms.VIEW_TASKS):
        return {"show_tasks": False}
    return {
        "show_tasks": True,
        "task_cards": task_cards(request, access),
        "can_add_task": access.can(perms.ACTIVATE_TASKS),
    }


def task_cards(request: HttpRequest, access: AccountAccess) -> list[TaskCard]:
    """One card per task the role may see: connection, entities by status, last backup, size."""
    tasks = tasks_of(request, access)
    ids = [task.pk for task in tasks]
    counts = status_counts(ids)
    totals = {
        row["task_id"]: row
        for row in Entity.objects.filter(task_id__in=ids, deleted_at__isnull=True)
        .values("task_id")
        .annotate(size=Sum("size"), last=Max("last_backup_at"))
    }
    cards = []
    for task in tasks:
        by_status = counts.get(task.pk, {})
        total: dict[str, Any] = dict(totals.get(task.pk, {}))
        cards.append(
            TaskCard(
                task=task,
                info=info_of(task),
                icon=SERVICE_ICONS.get(task.service, "cloud"),
                statuses=ordered_counts(by_status),
                total=sum(by_status.values()),
                size=total.get("size") or 0,
                last_backup=total.get("last"),
                can_modify=access.can(perms.MODIFY_TASKS, task.service),
                can_delete=access.can(perms.DELETE_TASKS, task.service),
            )
        )
    return cards


def short(error: Exception) -> str:
    text = str(error)
    return text if len(text) < 240 else text[:237] + "…"


def discover_with_message(request: HttpRequest, task: BackupTask) -> dict[str, int] | None:
    """Discovery after connecting or on request; a failure is told, never raised."""
    from django.contrib import messages

    from backstop.backups import services
    from backstop.connectors.errors import ConnectorError

    try:
        counts = services.discover(task)
    except ConnectorError as error:
        what = info_of(task).entity_label or "entities"
        messages.warning(request, f"Listing the {what} failed: {short(error)}. Try “Discover now” later.")
        return None
    return counts
