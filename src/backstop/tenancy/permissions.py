"""Operations a membership may grant, and the services a custom user may be limited to.

Codes are stored in memberships: add new ones, never rename or reuse one. Administrators hold
every operation; custom members hold the ones ticked for them (A-USERS, P-SETTINGS).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Operation:
    code: str
    label: str
    help: str = ""


# Account operations, "General" group (A-USERS).
VIEW_SETTINGS = "view_settings"
VIEW_BILLING = "view_billing"
VIEW_SUPPORT = "view_support"
VIEW_ACTIVITY = "view_activity"
VIEW_TICKETS = "view_tickets"
MANAGE_NOTIFICATIONS = "manage_notifications"
VIEW_BACKUPS = "view_backups"

# Account operations, "Backup tasks" group.
ACTIVATE_TASKS = "activate_tasks"
MODIFY_TASKS = "modify_tasks"
DELETE_TASKS = "delete_tasks"
PAUSE_TASKS = "pause_tasks"
EXECUTE_TASKS = "execute_tasks"
CANCEL_TASKS = "cancel_tasks"
VIEW_TASKS = "view_tasks"
PREVIEW_DATA = "preview_data"
RESTORE = "restore"
EXPORT = "export"
DELETE_ITEMS = "delete_items"

# Only administrators may do these; no custom tick grants them.
MANAGE_ACCOUNT = "manage_account"
MANAGE_USERS = "manage_users"

# Any member may do this: it is what "can see the account at all" means.
VIEW = "view"

ACCOUNT_GENERAL: tuple[Operation, ...] = (
    Operation(VIEW_SETTINGS, "View account settings", "Open the Settings pages read-only."),
    Operation(VIEW_BILLING, "View billing and manage payment details"),
    Operation(VIEW_SUPPORT, "View the support page"),
    Operation(VIEW_ACTIVITY, "View account activity", "System activity and security audit."),
    Operation(VIEW_TICKETS, "Show all support tickets"),
    Operation(MANAGE_NOTIFICATIONS, "Manage notifications"),
    Operation(VIEW_BACKUPS, "View the backups page"),
)

ACCOUNT_BACKUP: tuple[Operation, ...] = (
    Operation(ACTIVATE_TASKS, "Activate new backup tasks"),
    Operation(MODIFY_TASKS, "Modify backup tasks"),
    Operation(DELETE_TASKS, "Delete backup tasks"),
    Operation(PAUSE_TASKS, "Pause backup tasks"),
    Operation(EXECUTE_TASKS, "Run backup tasks now"),
    Operation(CANCEL_TASKS, "Cancel backup tasks"),
    Operation(VIEW_TASKS, "View backup tasks"),
    Operation(PREVIEW_DATA, "Preview backed-up data"),
    Operation(RESTORE, "Restore backups"),
    Operation(EXPORT, "Export backups"),
    Operation(DELETE_ITEMS, "Delete backup items (GDPR right to erasure)"),
)

ACCOUNT_OPERATIONS = ACCOUNT_GENERAL + ACCOUNT_BACKUP
ACCOUNT_CODES = frozenset(op.code for op in ACCOUNT_OPERATIONS)

# Partner portal operations (P-SETTINGS).
PARTNER_VIEW_SETTINGS = "partner.view_settings"
PARTNER_VIEW_BILLING = "partner.view_billing"
PARTNER_BILLING_NOTICES = "partner.billing_notices"
PARTNER_VIEW_DASHBOARD = "partner.view_dashboard"
PARTNER_VIEW_AUDIT = "partner.view_audit"
PARTNER_ADD_ACCOUNTS = "partner.add_accounts"
PARTNER_SUBSCRIBE = "partner.subscribe_accounts"
PARTNER_NOTIFICATIONS = "partner.manage_notifications"

PARTNER_OPERATIONS: tuple[Operation, ...] = (
    Operation(PARTNER_VIEW_SETTINGS, "View partner portal settings"),
    Operation(PARTNER_VIEW_BILLING, "View billing and manage payment details"),
    Operation(PARTNER_BILLING_NOTICES, "View billing notification messages"),
    Operation(PARTNER_VIEW_DASHBOARD, "View the dashboard"),
    Operation(PARTNER_VIEW_AUDIT, "View the security audit"),
    Operation(PARTNER_ADD_ACCOUNTS, "Add new accounts"),
    Operation(PARTNER_SUBSCRIBE, "Subscribe accounts"),
    Operation(PARTNER_NOTIFICATIONS, "Manage notifications"),
)
PARTNER_CODES = frozenset(op.code for op in PARTNER_OPERATIONS)


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    label: str


# The backup services (PRODUCT "Sources"); codes are stored, never renamed.
SERVICES: tuple[Service, ...] = (
    Service("exchange", "Microsoft Exchange"),
    Service("teams", "Microsoft Groups / Teams"),
    Service("sharepoint", "Microsoft SharePoint"),
    Service("onedrive", "Microsoft OneDrive"),
    Service("google_account", "Google Account"),
    Service("salesforce", "Salesforce"),
    Service("dropbox", "Dropbox"),
    Service("box", "Box"),
    Service("google_workspace", "Google Workspace"),
    Service("google_shared_drives", "Google Shared Drives"),
    Service("imap", "IMAP"),
)
SERVICE_CODES = frozenset(service.code for service in SERVICES)


ADMIN_ONLY: tuple[Operation, ...] = (
    Operation(MANAGE_ACCOUNT, "Change account settings"),
    Operation(MANAGE_USERS, "Manage users"),
)


def label_of(code: str) -> str:
    for op in ACCOUNT_OPERATIONS + PARTNER_OPERATIONS + ADMIN_ONLY:
        if op.code == code:
            return op.label
    return code
