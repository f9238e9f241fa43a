"""Named audit events. Each takes the request (who and from where) and what happened.

A tenant event belongs to a customer account or to a partner (its own portal events): pass the
`Account` or the `Partner` as `tenant`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

from backstop.audit.models import AuditEvent
from backstop.tenancy.models import Account, Partner

RESTORE_REQUESTED = "restore_requested"
EXPORT_REQUESTED = "export_requested"
EXPORT_DOWNLOADED = "export_downloaded"
ACCOUNT_ACCESSED = "account_accessed"
SETTINGS_CHANGED = "settings_changed"
PERMISSIONS_CHANGED = "permissions_changed"
USER_ADDED = "user_added"
USER_DEACTIVATED = "user_deactivated"
USER_REMOVED = "user_removed"
BACKUP_DELETED = "backup_deleted"
BILLING_CHANGED = "billing_changed"
NOTIFICATIONS_CHANGED = "notifications_changed"
SECURITY_CHANGED = "security_changed"
ACCESS_DENIED = "access_denied"

LABELS = {
    RESTORE_REQUESTED: "Restore requested",
    EXPORT_REQUESTED: "Export requested",
    EXPORT_DOWNLOADED: "Export downloaded",
    ACCOUNT_ACCESSED: "Account accessed",
    SETTINGS_CHANGED: "Settings changed",
    PERMISSIONS_CHANGED: "Permissions changed",
    USER_ADDED: "User added",
    USER_DEACTIVATED: "User deactivated",
    USER_REMOVED: "User removed",
    BACKUP_DELETED: "Backup deleted",
    BILLING_CHANGED: "Billing details changed",
    NOTIFICATIONS_CHANGED: "Notification settings changed",
    SECURITY_CHANGED: "Security settings changed",
    ACCESS_DENIED: "Access denied",
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
    partner: Partner | None = None,
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
        partner=partner,
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


Tenant = Account | Partner
TenantEvent = Callable[..., AuditEvent]


def _tenant_event(activity: str) -> TenantEvent:
    """A named event about a tenant's settings or people:
    (request, tenant, description, *, status=, service=)."""

    def event(
        request: HttpRequest | None,
        tenant: Tenant,
        description: str,
        *,
        status: str = AuditEvent.Status.SUCCEEDED,
        service: str = "",
    ) -> AuditEvent:
        account = tenant if isinstance(tenant, Account) else None
        partner = tenant if isinstance(tenant, Partner) else None
        return record(
            request,
            activity,
            account=account,
            partner=partner,
            description=description,
            status=status,
            service=service,
        )

    event.__name__ = activity
    return event


account_accessed = _tenant_event(ACCOUNT_ACCESSED)
settings_changed = _tenant_event(SETTINGS_CHANGED)
permissions_changed = _tenant_event(PERMISSIONS_CHANGED)
user_added = _tenant_event(USER_ADDED)
user_deactivated = _tenant_event(USER_DEACTIVATED)
user_removed = _tenant_event(USER_REMOVED)
backup_deleted = _tenant_event(BACKUP_DELETED)
billing_changed = _tenant_event(BILLING_CHANGED)
notifications_changed = _tenant_event(NOTIFICATIONS_CHANGED)
security_changed = _tenant_event(SECURITY_CHANGED)
access_denied = _tenant_event(ACCESS_DENIED)
