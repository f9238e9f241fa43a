"""The restore and export forms of a selection (A-RESTORE, A-EXPORT).

The selection (snapshot, folder[], item[]) comes in the query string from the folder browser or
the search, and travels on in hidden fields; every id is checked to belong to the entity. A
request the service refuses (`RecoveryError`: the target task is disconnected, the destination
refuses the credentials...) is shown on the form with status 400 and nothing is queued.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from backstop.backups import recovery
from backstop.backups.forms_recovery import MODE_HELP, MODES, ExportForm, RestoreForm
from backstop.backups.models import CatalogItem, Entity, Snapshot
from backstop.backups.recovery_jobs import (
    RecoveryError,
    RestoreTarget,
    request_export,
    request_restore,
    restored_folder_label,
)
from backstop.backups.views.common import tasks_of
from backstop.backups.views.recovery import (
    entity_header,
    get_entity,
    icon_of,
    selection_from,
    selection_query,
)
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountAccess
from backstop.tenancy.views.decorators import account_view

SHOWN_ITEMS = 8  # items named in the summary; the rest are counted


def restore_targets(
    request: HttpRequest, access: AccountAccess, source: Entity
) -> list[tuple[str, list[tuple[int, str]]]]:
    """The entities a restore of `source` may go to: any entity, backed up or not, of a live
    task of the same service the role may restore, grouped by task (archived ones are gone at
    the source)."""
    tasks = [task for task in tasks_of(request, access, perms.RESTORE) if task.service == source.task.service]
    rows = (
        Entity.objects.restrict(request.user, perms.RESTORE)
        .filter(account=access.account, task__in=tasks, deleted_at__isnull=True)
        .exclude(status=Entity.Status.ARCHIVED)
        .order_by("task__created_at", "task_id", "name", "pk")
    )
    by_task: dict[int, list[tuple[int, str]]] = {}
    for entity in rows:
        label = (
            entity.name
            if not entity.email or entity.email == entity.name
            else f"{entity.name} ({entity.email})"
        )
        by_task.setdefault(entity.task_id, []).append((entity.pk, label))
    groups = []
    for task in tasks:
        if task.pk in by_task:
            name = task.name if task.connected else f"{task.name} (disconnected)"
            groups.append((name, by_task[task.pk]))
    return groups


def summary(entity: Entity, selection: recovery.Selection, snapshot: Snapshot | None) -> dict[str, Any]:
    """What the form says is being recovered: count, size, the folders and a few items."""
    count, size = recovery.selection_totals(entity, selection)
    items: QuerySet[CatalogItem] = recovery.rows_of(entity).filter(pk__in=list(selection.items))
    shown = list(items.select_related("valid_from").order_by("path", "pk")[:SHOWN_ITEMS])
    return {
        "snapshot": snapshot,
        "whole": selection.folders == ("",),
        "folders": [folder for folder in selection.folders if folder],
        "items": [(row, icon_of(row)) for row in shown],
        "more_items": max(0, len(selection.items) - len(shown)),
        "count": count,
        "size": size,
        "selection": selection,
        "selection_query": selection_query(selection),
    }


def _context(
    request: HttpRequest,
    access: AccountAccess,
    entity: Entity,
    selection: recovery.Selection,
    snapshot: Snapshot | None,
    action: str,
) -> dict[str, Any]:
    return {
        **entity_header(access, entity),
        **summary(entity, selection, snapshot),
        "action": action,
    }


def _back_url(access: AccountAccess, entity: Entity, back: str) -> str:
    """Where Cancel goes: the page the selection came from when it is one of this entity's
    recovery pages (a path, never another site or a script), else the entity's page."""
    prefix = reverse("recovery_entity", args=[access.account.pk, entity.pk])
    return back if back.startswith(prefix) else prefix


def _empty(request: HttpRequest, back: str) -> HttpResponse:
    messages.info(request, "Tick at least one folder or item first.")
    return redirect(back)


def _jobs(request: HttpRequest, access: AccountAccess, text: str) -> HttpResponse:
    messages.success(request, text)
    return redirect("account_jobs", access.account.pk)


@account_view(perms.RESTORE)
def restore_form(request: HttpRequest, access: AccountAccess, entity_id: int) -> HttpResponse:
    entity = get_entity(request, access, entity_id, (perms.RESTORE,))
    data = request.POST if request.method == "POST" else request.GET
    selection, snapshot = selection_from(request, access, entity, data)
    back = _back_url(access, entity, data.get("back", ""))
    if selection.is_empty:
        return _empty(request, back)
    targets = restore_targets(request, access, entity)
    ids = {pk for _, rows in targets for pk, _ in rows}
    initial = {"target": entity.pk if entity.pk in ids else None, "mode": "new"}
    form = RestoreForm(request.POST if request.method == "POST" else None, targets=targets, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            target = RestoreTarget(
                form.cleaned_data["target"], form.cleaned_data["target_folder"], form.cleaned_data["mode"]
            )
            try:
                job = request_restore(request, access, selection, target)
            except RecoveryError as exc:
                form.add_error(None, str(exc))
            else:
                total = job.params.get("items_total", 0)
                return _jobs(
                    request,
                    access,
                    f"Restore of {total} item{'s' if total != 1 else ''} of {entity.name} queued. "
                    "You will get an e-mail when it is done.",
                )
        status = 400
    context = _context(request, access, entity, selection, snapshot, "restore")
    context.update(
        form=form,
        back=back,
        modes=[(code, label, MODE_HELP[code]) for code, label in MODES],
        restored_label=restored_folder_label(),
        chosen_mode=form["mode"].value() or "new",
    )
    return render(request, "backups/recovery_action.html", context, status=status)


@account_view(perms.EXPORT)
def export_form(request: HttpRequest, access: AccountAccess, entity_id: int) -> HttpResponse:
    entity = get_entity(request, access, entity_id, (perms.EXPORT,))
    data = request.POST if request.method == "POST" else request.GET
    selection, snapshot = selection_from(request, access, entity, data)
    back = _back_url(access, entity, data.get("back", ""))
    if selection.is_empty:
        return _empty(request, back)
    form = ExportForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                job = request_export(request, access, selection, form.destination(), form.credentials())
            except RecoveryError as exc:
                # The destination's check names the field it is about; "prefix" is `path_prefix` here.
                field = {"prefix": "path_prefix"}.get(exc.field, exc.field)
                form.add_error(field if field in form.fields else None, str(exc))
            else:
                total = job.params.get("items_total", 0)
                where = (
                    "When it is ready, download it from the Jobs page or the link we e-mail you."
                    if form.cleaned_data["kind"] == "download"
                    else "You will get an e-mail when it is done."
                )
                return _jobs(
                    request,
                    access,
                    f"Export of {total} item{'s' if total != 1 else ''} of {entity.name} queued. {where}",
                )
        status = 400
    context = _context(request, access, entity, selection, snapshot, "export")
    context.update(form=form, back=back, chosen_kind=form["kind"].value() or "download")
    return render(request, "backups/recovery_action.html", context, status=status)
