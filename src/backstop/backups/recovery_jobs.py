"""Restore and export requests (A-RESTORE, A-EXPORT): checked before a job exists, recorded in
the Security Audit, and, when the job ends, a System Activity line and an e-mail to whoever
asked.

A request is refused with a `RecoveryError` whose message is for the person: the target task is
disconnected, the target entity is gone at the source, the destination's credentials are
refused. Nothing is queued then.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from backstop.audit import events as audit
from backstop.backups import jobs, signals
from backstop.backups.models import ActivityEvent, Entity, Job
from backstop.backups.recovery import Selection, backup_date, selection_totals
from backstop.backups.services import SUB_SERVICES, announce
from backstop.connectors.errors import AuthError, SourceError, Throttled, Unavailable
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountAccess

log = logging.getLogger(__name__)

Mode = Literal["new", "replace", "bypass"]
MODE_LABELS = {"new": "non-destructive", "replace": "in place, replace", "bypass": "in place, bypass"}


class RecoveryError(Exception):
    """A request refused before any job starts; the message is meant for the person, `field`
    names the form field it is about ("" for the request as a whole)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class RestoreTarget:
    entity_id: int
    folder: str = ""
    mode: Mode = "new"


def restored_folder_label(now: Any = None) -> str:
    """The new folder a non-destructive restore writes into: "Restored 2026-11-30 14-05"."""
    moment = timezone.localtime(now or timezone.now())
    return f"Restored {moment:%Y-%m-%d %H-%M}"


def _entity(access: AccountAccess, user: Any, entity_id: int, action: str) -> Entity:
    entity = (
        Entity.objects.restrict(user, action)
        .select_related("task")
        .filter(account=access.account, pk=entity_id, deleted_at__isnull=True, task__deleted_at__isnull=True)
        .first()
    )
    if entity is None or not access.can(action, entity.task.service):
        raise RecoveryError("That backup is not in this account, or you may not use it.")
    return entity


def clean_folder(folder: str) -> str:
    """A target folder as path parts; refuses what could point outside the target."""
    parts = [p.strip() for p in folder.replace("\\", "/").split("/") if p.strip()]
    for part in parts:
        if part in (".", "..") or any(ord(c) < 32 for c in part) or len(part.encode()) > 255:
            raise RecoveryError(f"The folder name {part[:60]!r} is not allowed: use plain folder names.")
    return "/".join(parts)


def _label(entity: Entity, selection: Selection, items: int) -> str:
    if selection.folders and not selection.items and len(selection.folders) == 1:
        folder = selection.folders[0]
        what = f"folder {folder}" if folder else "the whole backup"
    else:
        what = f"{items} item{'s' if items != 1 else ''}"
    return f"{what} of {entity.name}"[:300]


def check_target(target: Entity) -> None:
    """The target task is connected and the target entity still exists at the source."""
    from backstop.backups.connections import connector_for

    task = target.task
    if not task.connected:
        raise RecoveryError(
            f"The task {task.name} is disconnected ({task.disconnected_reason or 'no reason given'}). "
            "Reconnect it, then restore again."
        )
    try:
        with connector_for(task) as connector:
            connector.check()
            keys = {info.key for info in connector.discover()}
    except AuthError as exc:
        raise RecoveryError(
            f"{task.name}: the service refused our credentials ({exc}). Reconnect the task."
        ) from exc
    except (Throttled, Unavailable, SourceError, OSError) as exc:
        raise RecoveryError(
            f"{task.name}: the service cannot be reached now ({exc}). Try again shortly."
        ) from exc
    if target.key not in keys:
        raise RecoveryError(f"{target.name} no longer exists at the service: choose another target.")


def request_restore(
    request: HttpRequest, access: AccountAccess, selection: Selection, target: RestoreTarget
) -> Job:
    user = request.user
    source = _entity(access, user, selection.entity_id, perms.RESTORE)
    destination = _entity(access, user, target.entity_id, perms.RESTORE)
    if destination.task.service != source.task.service:
        raise RecoveryError("Restore to an entity of the same service.")
    if target.mode not in MODE_LABELS:
        raise RecoveryError("Choose non-destructive, replace or bypass.")
    folder = clean_folder(target.folder)
    if selection.is_empty:
        raise RecoveryError("Pick at least one folder or item to restore.")
    items, size = selection_totals(source, selection)
    if not items:
        raise RecoveryError("There is nothing backed up in what you picked.")
    check_target(destination)
    when = backup_date(source, selection)
    params: dict[str, Any] = {
        "selection": selection.as_params(),
        "label": _label(source, selection, items),
        "target": {
            "entity": destination.pk,
            "entity_name": destination.name,
            "folder": folder,
            "mode": target.mode,
            "restored_folder": restored_folder_label() if target.mode == "new" else "",
        },
        "backup_date": when.isoformat() if when else "",
        "items_total": items,
        "bytes_total": size,
    }
    with transaction.atomic():
        job = jobs.create(
            Job.Kind.RESTORE,
            access.account.pk,
            task=source.task,
            entity=source,
            initiator=user,
            params=params,
        )
        assert job is not None
        where = f"{destination.name}, {MODE_LABELS[target.mode]}"
        if params["target"]["folder"]:
            where += f", into {params['target']['folder']}"
        audit.restore_requested(
            request,
            access.account,
            source.task.service,
            source.task.name,
            f"Restore of {params['label']} to {where}",
        )
    return job


def request_export(
    request: HttpRequest,
    access: AccountAccess,
    selection: Selection,
    destination: dict[str, Any],
    credentials: dict[str, Any] | None = None,
) -> Job:
    from backstop.backups.export import (
        DestinationError,
        check_destination,
        describe_destination,
        seal_credentials,
        validate_destination,
    )

    user = request.user
    source = _entity(access, user, selection.entity_id, perms.EXPORT)
    if selection.is_empty:
        raise RecoveryError("Pick at least one folder or item to export.")
    items, size = selection_totals(source, selection)
    if not items:
        raise RecoveryError("There is nothing backed up in what you picked.")
    try:
        destination = validate_destination(destination)  # only the known, non-secret fields
        if destination["kind"] != "download":
            check_destination(destination, credentials or {})
    except DestinationError as exc:
        raise RecoveryError(exc.message, exc.field) from exc
    kind = destination["kind"]
    when = backup_date(source, selection)
    params: dict[str, Any] = {
        "selection": selection.as_params(),
        "label": _label(source, selection, items),
        "destination": destination,
        "backup_date": when.isoformat() if when else "",
        "items_total": items,
        "bytes_total": size,
    }
    if kind != "download":
        params["sealed"] = seal_credentials(access.account.pk, credentials or {})
    with transaction.atomic():
        job = jobs.create(
            Job.Kind.EXPORT, access.account.pk, task=source.task, entity=source, initiator=user, params=params
        )
        assert job is not None
        audit.export_requested(
            request,
            access.account,
            source.task.service,
            source.task.name,
            f"Export of {params['label']} to {describe_destination(destination)}",
        )
    return job


# -- when a restore or export ends


def finished(job: Job) -> None:
    """The System Activity line and the initiator's e-mail of a finished restore or export."""
    job.refresh_from_db()
    task, entity = job.task, job.entity
    result = job.result or {}
    summary = summary_text(job)
    ActivityEvent.objects.create(
        account_id=job.account_id,
        activity=job.kind,
        service=task.service if task else "",
        sub_service=SUB_SERVICES.get(task.service, "") if task else "",
        status=job.status,
        task=task,
        task_name=task.name if task else "",
        item=entity.name if entity else "",
        duration=job.duration,
        items=int(result.get("items", job.items_done)),
        bytes=int(result.get("bytes", job.bytes_done)),
        summary=summary[:2000],
        job=job,
    )
    announce(signals.recovery_finished, job, job=job, summary=summary)
    if job.initiator is None or not job.initiator.email:
        return
    link = ""
    if job.kind == Job.Kind.EXPORT and result.get("file"):
        from backstop.backups.downloads import link_for

        link = settings.BACKSTOP_BASE_URL + link_for(job)
    body = render_to_string(
        "backups/email/recovery_finished.txt",
        {
            "job": job,
            "label": job.params.get("label", ""),
            "summary": summary,
            "result": result,
            "link": link,
            "jobs_url": settings.BACKSTOP_BASE_URL + reverse("account_jobs", args=[job.account_id]),
        },
    )
    status = job.get_status_display().lower()
    subject = f"[Backstop] {job.get_kind_display()} {status}: {job.params.get('label', '')}"
    try:
        send_mail(subject[:200], body, None, [job.initiator.email])
    except Exception:
        log.exception("the summary e-mail of job %s could not be sent", job.pk)


def summary_text(job: Job) -> str:
    result = job.result or {}
    if job.kind == Job.Kind.RESTORE:
        text = (
            f"{result.get('restored', 0)} restored, {result.get('skipped', 0)} skipped (they exist), "
            f"{result.get('failed', 0)} failed"
        )
    else:
        text = f"{result.get('items', 0)} exported, {result.get('failed', 0)} could not be read"
    if job.status == Job.Status.CANCELED:
        text += "; canceled"
    if job.error and job.status == Job.Status.FAILED:
        text += f"; {job.error}"
    return text
