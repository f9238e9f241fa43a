"""Named audit events. Each takes the request (who and from where) and what happened.

A tenant event belongs to a customer account or to a partner (its own portal events): pass the
`Account` or the `Partner` as `tenant`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from backstop.audit.models import AuditEvent
from backstop.security.client import client_ip
from backstop.tenancy.models import Account, Partner

RESTORE_REQUESTED = "restore_requested"
EXPORT_REQUESTED = "export_requested"
EXPORT_DOWNLOADED = "export_downloaded"
ACCOUNT_ACCESSED = "account_accessed"
ACCOUNT_CREATED = "account_created"
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
SIGN_IN = "sign_in"  # success or failure: the status tells

LABELS = {
    SIGN_IN: "Sign-in",
    RESTORE_REQUESTED: "Restore requested",
    EXPORT_REQUESTED: "Export requested",
    EXPORT_DOWNLOADED: "Export downloaded",
    ACCOUNT_ACCESSED: "Account accessed",
    ACCOUNT_CREATED: "Account created",
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


def client_address(request: HttpRequest) -> str | None:
    """The client's address: the socket's, or the one a trusted proxy passed on."""
    return client_ip(request) or None


# (marker in the user agent, name). Order matters: Edge and Opera say "Chrome" too, Chrome says
# "Safari", so the more specific come first.
BROWSERS: tuple[tuple[str, str], ...] = (
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)


def browser_of(user_agent: str) -> str:
    """A short browser name from a User-Agent header: Chrome, Firefox, Safari, Edge, Opera or
    "Other browser" ("" when there is no header at all)."""
    if not user_agent:
        return ""
    for marker, name in BROWSERS:
        if marker in user_agent:
            return name
    return "Other browser"


def _who(request: HttpRequest | None) -> dict[str, Any]:
    if request is None:
        return {}
    user = getattr(request, "user", None)
    user = user if user is not None and user.is_authenticated else None
    return {
        "user": user,
        "performed_by": getattr(user, "email", "") if user else "",
        "ip": client_address(request),
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
    user: Any = None,
) -> AuditEvent:
    fields = _who(request)
    if user is not None:
        fields["user"] = user
        fields["performed_by"] = user.email
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
    (request, tenant, description, *, status=, service=, task_name=, partner=, user=).

    `partner` adds the partner an account event also belongs to (a partner user's visit);
    `user` names who acted when the request is not signed in (yet)."""

    def event(
        request: HttpRequest | None,
        tenant: Tenant,
        description: str,
        *,
        status: str = AuditEvent.Status.SUCCEEDED,
        service: str = "",
        task_name: str = "",
        partner: Partner | None = None,
        user: Any = None,
    ) -> AuditEvent:
        account = tenant if isinstance(tenant, Account) else None
        if isinstance(tenant, Partner):
            partner = tenant
        return record(
            request,
            activity,
            account=account,
            partner=partner,
            description=description,
            status=status,
            service=service,
            task_name=task_name,
            user=user,
        )

    event.__name__ = activity
    return event


account_accessed = _tenant_event(ACCOUNT_ACCESSED)
account_created = _tenant_event(ACCOUNT_CREATED)
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


# -- sign-in --------------------------------------------------------------------------------------

METHODS = {"password": "password", "google": "Google", "microsoft": "Microsoft", "saml": "single sign-on"}


def _tenants_of(user: Any) -> list[tuple[Account | None, Partner | None]]:
    """Every account and partner the user is a member of: a sign-in belongs to each one's audit."""
    from backstop.tenancy.models import Membership

    rows = Membership.objects.filter(user=user).select_related("account", "partner").order_by("pk")
    return [(m.account, m.partner if m.account is None else None) for m in rows]


def _where(request: HttpRequest) -> str:
    browser = browser_of(request.META.get("HTTP_USER_AGENT", "")) or "Unknown browser"
    address = client_address(request)
    return f"{browser} from {address}" if address else browser


def signed_in(request: HttpRequest, user: Any, method: str) -> list[AuditEvent]:
    """A successful sign-in, in the audit of every account and partner the user belongs to."""
    how = METHODS.get(method, method)
    description = f"Signed in with {how} ({_where(request)})"
    return [
        record(request, SIGN_IN, account=account, partner=partner, description=description, user=user)
        for account, partner in _tenants_of(user)
    ]


def sign_in_failed(request: HttpRequest, email: str, reason: str) -> list[AuditEvent]:
    """A refused sign-in for an existing user's address, in each of their tenants' audits; an
    address nobody has records nothing (it is no tenant's business)."""
    from backstop.accounts.models import User

    user = User.objects.filter(email__iexact=email.strip()).first() if email else None
    if user is None:
        return []
    description = f"Sign-in refused: {reason} ({_where(request)})"
    return [
        record(
            request,
            SIGN_IN,
            account=account,
            partner=partner,
            description=description,
            status=AuditEvent.Status.FAILED,
            performed_by=user.email,
        )
        for account, partner in _tenants_of(user)
    ]


# -- how a role reads in a description --------------------------------------------------------------


def role_of(membership: Any) -> dict[str, Any]:
    """What a membership grants, to compare before and after a change (`role_change`)."""
    from backstop.tenancy import permissions as perms

    services = {service.code: service.label for service in perms.SERVICES}
    granted = set(membership.operations)
    return {
        "role": membership.get_role_display(),
        "operations": []
        if membership.is_admin
        else [op.label for op in perms.ACCOUNT_OPERATIONS + perms.PARTNER_OPERATIONS if op.code in granted],
        "services": "all"
        if membership.is_admin or membership.all_services
        else ", ".join(services.get(code, code) for code in membership.services) or "none",
    }


def role_text(membership: Any) -> str:
    role = role_of(membership)
    if membership.is_admin:
        return "Administrator"
    operations = "; ".join(role["operations"]) or "no operations"
    return f"Custom ({operations}; services: {role['services']})"


def role_change(before: dict[str, Any], after: dict[str, Any]) -> str:
    """The differences between two `role_of` readings, in words; "" when nothing changed."""
    parts = []
    if before["role"] != after["role"]:
        parts.append(f"role {before['role']} → {after['role']}")
    added = [op for op in after["operations"] if op not in before["operations"]]
    removed = [op for op in before["operations"] if op not in after["operations"]]
    if added:
        parts.append("allowed: " + "; ".join(added))
    if removed:
        parts.append("no longer allowed: " + "; ".join(removed))
    if before["services"] != after["services"]:
        parts.append(f"services {before['services']} → {after['services']}")
    return ", ".join(parts)
