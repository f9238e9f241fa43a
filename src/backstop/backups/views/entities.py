"""The entity table of a task (A-ENTITIES): filter by status, live search, paging, progress of
running backups (the fragment polls itself while anything runs), and the row actions."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from backstop.audit import events
from backstop.backups import services
from backstop.backups.anomaly import open_alerts
from backstop.backups.models import DELETE_GRACE, BackupTask, Entity, Job
from backstop.backups.views.common import (
    STATUS_STYLES,
    entities_of,
    entity_table,
    get_task,
    info_of,
)
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountAccess
from backstop.tenancy.views.decorators import account_view

OPEN = (Job.Status.PENDING, Job.Status.RUNNING)
S = Entity.Status

# action -> (operation the role needs, past tense for the message)
ACTIONS: dict[str, tuple[str, str]] = {
    "activate": (perms.ACTIVATE_TASKS, "activated"),
    "backup": (perms.EXECUTE_TASKS, "queued for a backup"),
    "pause": (perms.PAUSE_TASKS, "paused"),
    "delete": (perms.DELETE_TASKS, "deleted"),
}


def table_context(request: HttpRequest, task: BackupTask) -> dict[str, Any]:
    table = entity_table(request, entities_of(request, task))
    page, query, status, counts = table.page, table.query, table.status, table.counts
    open_jobs = Job.objects.restrict(request.user, perms.VIEW_TASKS).filter(
        task=task, kind=Job.Kind.BACKUP, status__in=OPEN
    )
    jobs = {job.entity_id: job for job in open_jobs.filter(entity_id__in=[e.pk for e in page])}
    alerts = open_alerts(request.user, [e.pk for e in page])
    access: AccountAccess | None = getattr(request, "account_access", None)
    total = table.total
    return {
        "page": page,
        "rows": [
            (
                entity,
                STATUS_STYLES.get(entity.status, "secondary"),
                jobs.get(entity.pk),
                alerts.get(entity.pk),
            )
            for entity in page
        ],
        "can_acknowledge": access is not None and access.can(perms.MODIFY_TASKS, task.service),
        "query": query,
        "status": status,
        "filters": table.filters,
        "entity_total": total,
        "entity_label": info_of(task).entity_label or "entities",
        "polling": bool(counts.get(S.IN_PROCESS)) or open_jobs.exists(),
        "table_query": urlencode({"q": query, "status": status, "page": page.number}),
        "pager_query": urlencode({k: v for k, v in (("q", query), ("status", status)) if v}),
        "fresh": total > 0 and counts.get(S.NOT_ACTIVE, 0) == total,
    }


@account_view(perms.VIEW_TASKS)
@require_POST
def entity_action(request: HttpRequest, access: AccountAccess, task_id: int) -> HttpResponse:
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        return HttpResponseBadRequest("Unknown action")
    operation, done = ACTIONS[action]
    task = get_task(request, access, task_id, operation)
    back_query = urlencode({k: request.POST[k] for k in ("q", "status") if request.POST.get(k)})
    url = reverse("backup_task", args=[access.account.pk, task.pk])
    back = redirect(f"{url}?{back_query}" if back_query else url)
    ids = [int(value) for value in request.POST.getlist("entity") if value.isdigit()]
    entities = list(entities_of(request, task).filter(pk__in=ids).select_related("task"))
    label = info_of(task).entity_label or "entities"
    if not entities:
        messages.info(request, f"Select one or more {label} first.")
        return back
    if action == "backup" and not task.connected:
        messages.error(request, "This task is disconnected: reconnect it before running a backup.")
        return back
    if action == "activate":
        count = services.activate(entities)
    elif action == "backup":
        count = len(services.backup_now(entities, user=request.user))
    elif action == "pause":
        count = services.pause(entities)
    else:
        doomed = [entity.name for entity in entities if entity.deleted_at is None]
        count = services.delete_entities(entities)
        if count:
            names = ", ".join(doomed[:10]) + (f" and {len(doomed) - 10} more" if len(doomed) > 10 else "")
            text = f"{label.capitalize()} deleted from the task: {names}; their backups are purged after "
            text += f"{DELETE_GRACE.days} days"
            events.backup_deleted(request, access.account, text, service=task.service, task_name=task.name)
    if action == "delete" and count:
        messages.warning(
            request,
            f"{count} of {len(entities)} {label} {done}. Their backups are kept {DELETE_GRACE.days} days, "
            "then purged.",
        )
    elif count:
        messages.success(request, f"{count} of {len(entities)} {label} {done}.")
    else:
        messages.info(request, f"Nothing to do: none of the selected {label} can be {done} now.")
    return back
