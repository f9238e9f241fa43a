"""Named audit events. Each takes the request (who and from where) and what happened.

Issue "Security, activity and notifications" adds the sign-in, settings and user events and the
page; the restore and export requests are recorded from the start.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

from backstop.audit.models import AuditEvent
from backstop.tenancy.models import Account

RESTORE_REQUESTED = "restore_requested"
EXPORT_REQUESTED = "export_requested"
EXPORT_DOWNLOADED = "export_downloaded"

LABELS = {
    RESTORE_REQUESTED: "Restore requested",
    EXPORT_REQUESTED: "Export requested",
    EXPORT_DOWNLOADED: "Export downloaded",
}


def _who(request: HttpRequest | None) -> dict[str, object]:
    if request is None:
        return {}
    user = request.user if request.user.is_authenticated else None
    return {
        "user": user,
        "performed_by": getattr(user, "email", "") if user else "",
        "ip": request.META.get("REMOTE_ADDR") or None,
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
    }


def record(
    request: HttpRequest | None,
    activity: str,
    *,
    account: Account | None,
    description: str,
    service: str = "",
    task_name: str = "",
    status: str = AuditEvent.Status.SUCCEEDED,
    performed_by: str = "",
) -> AuditEvent:
    fields = _who(request)
    if performed_by:
        fields["performed_by"] = performed_by
    return AuditEvent.objects.create(
        account=account,
        activity=activity,
        service=service,
        task_name=task_name[:200],
        status=status,
        description=description[:4000],
        **fields,
    )


TaskEvent = Callable[[HttpRequest | None, Account, str, str, str], AuditEvent]


def _task_event(activity: str) -> TaskEvent:
    """A named event about one task's data: (request, account, service, task name, description)."""

    def event(
        request: HttpRequest | None, account: Account, service: str, task_name: str, description: str
    ) -> AuditEvent:
        return record(
            request, activity, account=account, service=service, task_name=task_name, description=description
        )

    event.__name__ = activity
    return event


restore_requested = _task_event(RESTORE_REQUESTED)
export_requested = _task_event(EXPORT_REQUESTED)
export_downloaded = _task_event(EXPORT_DOWNLOADED)
