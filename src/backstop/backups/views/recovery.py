"""The Recovery pages (A-RECOVER), under /a/<account_id>/recovery/.

- the home: the tasks whose service the role may recover, and per task its entities that have
  been backed up (status filter, search, paging, refreshed in place with htmx);
- an entity: its snapshots between two days, or a search over its items across snapshots;
- a snapshot's folder as it was then, with checkboxes: what is ticked goes to the restore or
  export form (`recovery_action`).

Browsing needs Restore, Export or Preview on the task's service. Every row is read through
`restrict` within the open account: another tenant's entity, snapshot or catalog row is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Max, Sum
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.vary import vary_on_headers

from backstop.backups import recovery
from backstop.backups.forms_recovery import RangeForm, SearchForm
from backstop.backups.models import BackupTask, CatalogItem, Entity, Snapshot
from backstop.backups.views.common import SERVICE_ICONS, STATUS_STYLES, entity_table, info_of, tasks_of
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountAccess
from backstop.tenancy.views.decorators import account_view, is_htmx

RECOVER = (perms.RESTORE, perms.EXPORT, perms.PREVIEW_DATA)
SNAPSHOT_PAGE = 20

EXTENSION_ICONS: dict[str, str] = {
    **dict.fromkeys(("pdf",), "file-earmark-pdf"),
    **dict.fromkeys(("doc", "docx", "odt", "rtf"), "file-earmark-word"),
    **dict.fromkeys(("xls", "xlsx", "ods", "csv"), "file-earmark-spreadsheet"),
    **dict.fromkeys(("ppt", "pptx", "odp", "key"), "file-earmark-slides"),
    **dict.fromkeys(
        ("png", "jpg", "jpeg", "gif", "svg", "webp", "heic", "bmp", "tif", "tiff"), "file-earmark-image"
    ),
    **dict.fromkeys(("zip", "gz", "tgz", "tar", "7z", "rar", "bz2", "xz"), "file-earmark-zip"),
    **dict.fromkeys(("txt", "md", "log"), "file-earmark-text"),
    **dict.fromkeys(("mp4", "mov", "avi", "mkv", "webm"), "file-earmark-play"),
    **dict.fromkeys(("mp3", "wav", "flac", "ogg", "m4a"), "file-earmark-music"),
    **dict.fromkeys(
        ("py", "js", "ts", "html", "css", "json", "xml", "yml", "yaml", "sh", "java", "c", "go"),
        "file-earmark-code",
    ),
    **dict.fromkeys(("eml", "msg"), "envelope"),
}


# -- lookups -------------------------------------------------------------------------------------


def can_recover(
    access: AccountAccess, service: str | None = None, actions: tuple[str, ...] = RECOVER
) -> bool:
    return any(access.can(action, service) for action in actions)


def recovery_tasks(request: HttpRequest, access: AccountAccess) -> list[BackupTask]:
    """The account's live tasks whose service the role may restore, export or preview."""
    found: dict[int, BackupTask] = {}
    for action in RECOVER:
        for task in tasks_of(request, access, action):
            found.setdefault(task.pk, task)
    return sorted(found.values(), key=lambda task: (task.created_at, task.pk))


def get_entity(
    request: HttpRequest, access: AccountAccess, entity_id: int, actions: tuple[str, ...] = RECOVER
) -> Entity:
    """The entity, within the open account: 404 when it is not there or its service is out of
    the role's reach, 403 when the role may browse it but not do `actions`."""
    entity = (
        Entity.objects.restrict(request.user, perms.VIEW)
        .select_related("task")
        .filter(account=access.account, pk=entity_id, deleted_at__isnull=True, task__deleted_at__isnull=True)
        .first()
    )
    if entity is None:
        raise Http404("No such backup")
    service = entity.task.service
    if not can_recover(access, service, actions):
        if can_recover(access, service) or access.can(perms.VIEW_TASKS, service):
            labels = " or ".join(perms.label_of(action) for action in actions)
            raise PermissionDenied(f"Your role does not allow: {labels}")
        raise Http404("No such backup")
    return entity


def get_snapshot(request: HttpRequest, access: AccountAccess, entity: Entity, snapshot_id: int) -> Snapshot:
    snapshot = (
        Snapshot.objects.restrict(request.user, perms.VIEW)
        .filter(account=access.account, entity=entity, pk=snapshot_id)
        .first()
    )
    if snapshot is None:
        raise Http404("No such snapshot")
    return snapshot


def _ids(values: list[str]) -> list[int]:
    ids = []
    for value in values:
        if not value.isdigit():
            raise Http404("No such item")
        ids.append(int(value))
    return list(dict.fromkeys(ids))


def selection_from(
    request: HttpRequest, access: AccountAccess, entity: Entity, data: QueryDict
) -> tuple[recovery.Selection, Snapshot | None]:
    """The selection carried by a form (snapshot, folder[], item[]), every id checked to belong
    to `entity` (else 404). A folder "/" or "" is the whole snapshot."""
    snapshot = None
    raw = data.get("snapshot", "")
    if raw:
        if not raw.isdigit():
            raise Http404("No such snapshot")
        snapshot = get_snapshot(request, access, entity, int(raw))
    folders = tuple(dict.fromkeys(recovery.clean_folder(folder) for folder in data.getlist("folder")))
    if "" in folders:
        folders = ("",)
    if folders and snapshot is None:
        raise Http404("Folders are picked in a snapshot")
    items = _ids(data.getlist("item"))
    if items:
        found = (
            CatalogItem.objects.restrict(request.user, perms.VIEW)
            .filter(account=access.account, entity=entity, pk__in=items)
            .count()
        )
        if found != len(items):
            raise Http404("No such item")
    selection = recovery.Selection(entity.pk, snapshot.pk if snapshot else None, folders, tuple(items))
    return selection, snapshot


def selection_query(selection: recovery.Selection) -> str:
    pairs: list[tuple[str, Any]] = []
    if selection.snapshot_id:
        pairs.append(("snapshot", selection.snapshot_id))
    pairs += [("folder", folder or "/") for folder in selection.folders]
    pairs += [("item", item) for item in selection.items]
    return urlencode(pairs)


# -- what the pages show -------------------------------------------------------------------------


def is_mail(task: BackupTask) -> bool:
    return task.service == "imap"


def labels_of(task: BackupTask) -> dict[str, str]:
    """Column and field names that fit the service: mail has senders and subjects."""
    if is_mail(task):
        return {
            "author": "Sender",
            "name": "Subject",
            "item": "message",
            "items": "messages",
            "date": "Received",
        }
    return {"author": "Author", "name": "Name", "item": "file", "items": "files", "date": "Modified"}


def icon_of(row: CatalogItem) -> str:
    if row.kind == "message":
        return "envelope"
    if row.kind == "file_version":
        return "clock-history"
    _, dot, ext = row.name.rpartition(".")
    return EXTENSION_ICONS.get(ext.lower(), "file-earmark") if dot else "file-earmark"


def entity_header(access: AccountAccess, entity: Entity) -> dict[str, Any]:
    task = entity.task
    service = task.service
    return {
        "access": access,
        "account": access.account,
        "entity": entity,
        "task": task,
        "info": info_of(task),
        "icon": SERVICE_ICONS.get(service, "cloud"),
        "status_style": STATUS_STYLES.get(entity.status, "secondary"),
        "labels": labels_of(task),
        "can_restore": access.can(perms.RESTORE, service),
        "can_export": access.can(perms.EXPORT, service),
    }


def day_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Aware datetimes from the start of `start` to the end of `end` (both days included)."""
    zone = timezone.get_current_timezone()
    low = datetime.combine(start, time.min, tzinfo=zone) if start else None
    high = (
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone) - timedelta(microseconds=1)
        if end
        else None
    )
    return low, high


@dataclass
class ListingPage:
    """A folder listing's page, shaped like Django's Page for the shared pager template."""

    number: int
    pages: int
    total: int
    size: int

    @property
    def paginator(self) -> ListingPage:
        return self

    @property
    def count(self) -> int:
        return self.total

    @property
    def num_pages(self) -> int:
        return self.pages

    def has_previous(self) -> bool:
        return self.number > 1

    def has_next(self) -> bool:
        return self.number < self.pages

    def previous_page_number(self) -> int:
        return self.number - 1

    def next_page_number(self) -> int:
        return self.number + 1

    def start_index(self) -> int:
        return (self.number - 1) * self.size + 1 if self.total else 0

    def end_index(self) -> int:
        return min(self.number * self.size, self.total)


# -- the home ------------------------------------------------------------------------------------


def _require_recover(access: AccountAccess) -> None:
    if not can_recover(access):
        raise PermissionDenied("Your role does not allow restoring, exporting or previewing backups")


@vary_on_headers("HX-Request")
@account_view(perms.VIEW)
def home(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    _require_recover(access)
    tasks = recovery_tasks(request, access)
    ids = [task.pk for task in tasks]
    backed_up = Entity.objects.restrict(request.user, perms.VIEW).filter(
        account=access.account, task_id__in=ids, deleted_at__isnull=True, first_backup_at__isnull=False
    )
    totals: dict[int, dict[str, Any]] = {
        row["task_id"]: dict(row)
        for row in backed_up.order_by()
        .values("task_id")
        .annotate(n=Count("pk"), size=Sum("size"), last=Max("last_backup_at"))
    }
    everyone: dict[int, int] = dict(
        Entity.objects.restrict(request.user, perms.VIEW)
        .filter(account=access.account, task_id__in=ids, deleted_at__isnull=True)
        .order_by()
        .values_list("task_id")
        .annotate(n=Count("pk"))
    )
    task = None
    wanted = request.GET.get("task", "")
    if wanted:
        task = next((t for t in tasks if str(t.pk) == wanted), None)
        if task is None:
            raise Http404("No such backup task")
    elif tasks:  # the first task with backups, else the first
        task = next((t for t in tasks if t.pk in totals), tasks[0])
    cards = [
        {
            "task": t,
            "info": info_of(t),
            "icon": SERVICE_ICONS.get(t.service, "cloud"),
            "count": totals.get(t.pk, {}).get("n", 0),
            "of": everyone.get(t.pk, 0),
            "size": totals.get(t.pk, {}).get("size") or 0,
            "last": totals.get(t.pk, {}).get("last"),
            "active": task is not None and t.pk == task.pk,
        }
        for t in tasks
    ]
    context: dict[str, Any] = {"access": access, "account": access.account, "task": task, "cards": cards}
    if task is not None:
        context.update(_table(request, task, backed_up.filter(task=task)))
    if is_htmx(request) and task is not None:
        return render(request, "backups/partials/recovery_entities.html", context)
    return render(request, "backups/recovery_home.html", context)


def _table(request: HttpRequest, task: BackupTask, base: Any) -> dict[str, Any]:
    table = entity_table(request, base)
    return {
        "page": table.page,
        "rows": [(entity, STATUS_STYLES.get(entity.status, "secondary")) for entity in table.page],
        "query": table.query,
        "status": table.status,
        "filters": table.filters,
        "entity_label": info_of(task).entity_label or "entities",
        "backed_up": table.total,
        "pager_query": urlencode(
            [(k, v) for k, v in (("task", task.pk), ("q", table.query), ("status", table.status)) if v]
        ),
    }


# -- an entity: snapshots or search --------------------------------------------------------------


@account_view(perms.VIEW)
def entity_page(request: HttpRequest, access: AccountAccess, entity_id: int) -> HttpResponse:
    _require_recover(access)
    entity = get_entity(request, access, entity_id)
    tab = "search" if request.GET.get("tab") == "search" else "snapshots"
    context = entity_header(access, entity)
    context["tab"] = tab
    today = timezone.localdate()
    oldest = recovery.snapshots(entity).order_by("time", "pk").values_list("time", flat=True).first()
    first = (
        timezone.localdate(oldest or entity.first_backup_at) if oldest or entity.first_backup_at else today
    )
    context["range_defaults"] = {"start": first, "end": today}
    if tab == "snapshots":
        context.update(_snapshots(request, entity, first, today))
    else:
        context.update(_search(request, entity))
    return render(request, "backups/recovery_entity.html", context)


def _snapshots(request: HttpRequest, entity: Entity, first: date, today: date) -> dict[str, Any]:
    bound = "start" in request.GET or "end" in request.GET
    form = RangeForm(request.GET if bound else None, initial={"start": first, "end": today})
    start: date | None = first
    end: date | None = today
    if bound:
        if form.is_valid():
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        else:
            start = end = None
    low, high = day_bounds(start, end)
    rows = recovery.snapshots(entity, low, high) if form.is_valid() or not bound else Snapshot.objects.none()
    page = Paginator(rows, SNAPSHOT_PAGE).get_page(request.GET.get("page"))
    range_query = [(k, request.GET[k]) for k in ("start", "end") if request.GET.get(k)]
    return {
        "range_form": form,
        "snapshot_page": page,
        "snapshot_total": recovery.snapshots(entity).count(),
        "latest_pk": recovery.snapshots(entity).values_list("pk", flat=True).first(),
        "pager_query": urlencode(range_query),
    }


@dataclass
class Hit:
    """One item of the search results for the template: its matching versions, newest first."""

    found: Any  # search.Found
    icon: str
    state: str  # "" (in the latest backup as is), "changed" or "deleted" since

    @property
    def top(self) -> Any:
        return self.found.versions[0]

    @property
    def older(self) -> list[Any]:
        return list(self.found.versions[1:])


def _search(request: HttpRequest, entity: Entity) -> dict[str, Any]:
    from backstop.backups import search

    keys = ("text", "author", "name", "start", "end")
    bound = any(request.GET.get(key) for key in keys)
    form = SearchForm(request.GET if bound else None, mail=is_mail(entity.task))
    context: dict[str, Any] = {"search_form": form, "searched": False, "results": []}
    if not bound or not form.is_valid() or form.is_empty:
        return context
    data = form.cleaned_data
    rows = search.search(
        entity,
        text=data["text"],
        author=data["author"],
        name=data["name"],
        start=data["start"],
        end=data["end"],
    )
    total = search.count_items(rows)
    pages = max(1, -(-total // search.PAGE))
    try:
        number = min(max(1, int(request.GET.get("page", "1"))), pages)
    except ValueError:
        number = 1
    found = search.grouped(rows, search.PAGE, (number - 1) * search.PAGE)
    live = set(
        recovery.rows_of(entity)
        .filter(key__in=[f.key for f in found], valid_to__isnull=True)
        .values_list("key", flat=True)
    )
    hits = []
    for item in found:
        newest = item.versions[0].row
        state = "" if newest.valid_to_id is None else ("changed" if item.key in live else "deleted")
        hits.append(Hit(item, icon_of(newest), state))
    query = [(key, request.GET[key]) for key in keys if request.GET.get(key)]
    context.update(
        searched=True,
        results=hits,
        found_total=total,
        page=ListingPage(number, pages, total, search.PAGE),
        pager_query=urlencode([("tab", "search"), *query]),
    )
    return context


# -- a snapshot's folder -------------------------------------------------------------------------


@vary_on_headers("HX-Request")
@account_view(perms.VIEW)
def browse(request: HttpRequest, access: AccountAccess, entity_id: int, snapshot_id: int) -> HttpResponse:
    _require_recover(access)
    entity = get_entity(request, access, entity_id)
    snapshot = get_snapshot(request, access, entity, snapshot_id)
    folder = recovery.clean_folder(request.GET.get("folder", ""))
    query = request.GET.get("q", "").strip()[:200]
    try:
        number = int(request.GET.get("page", "1"))
    except ValueError:
        number = 1
    listing = recovery.list_folder(entity, snapshot, folder, number, query)
    folders = listing.folders
    if query:
        folders = [sub for sub in folders if query.lower() in sub.name.lower()]
    if listing.page > 1:
        folders = []  # sub-folders lead the first page
    page = ListingPage(listing.page, listing.pages, listing.total_items, recovery.PAGE)
    newer = recovery.snapshots(entity).filter(pk__gt=snapshot.pk).count()
    context = {
        **entity_header(access, entity),
        "snapshot": snapshot,
        "latest": newer == 0,
        "newer": newer,
        "listing": listing,
        "folders": folders,
        "below_items": listing.below_items,
        "below_size": listing.below_size,
        "rows": [(row, icon_of(row)) for row in listing.items],
        "folder": folder,
        "folder_name": listing.crumbs[-1].name if listing.crumbs else "",
        "query": query,
        "page": page,
        "pager_query": urlencode([(k, v) for k, v in (("folder", folder), ("q", query)) if v]),
        "list_query": urlencode(
            [(k, v) for k, v in (("folder", folder), ("q", query), ("page", page.number)) if v]
        ),
    }
    if is_htmx(request):
        return render(request, "backups/partials/recovery_listing.html", context)
    return render(request, "backups/recovery_browse.html", context)
