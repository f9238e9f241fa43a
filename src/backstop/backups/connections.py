"""Which connector serves a service, and how a task's stored settings and secrets become one.

Services without a connector yet are listed on the picker as coming later, never faked. Box
talks to the real Box when an OAuth app is configured, else to the bundled sandbox when
BACKSTOP_SANDBOX is on (the demo), else it is unavailable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from backstop.backups.models import BackupTask
from backstop.connectors.base import Connector
from backstop.tenancy.permissions import SERVICES

SANDBOX_PREFIX = "/sandbox/box"


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    code: str
    label: str
    entity_label: str  # plural: "users", "mailboxes"
    auth: str  # "oauth" or "form"
    available: bool
    note: str = ""


def box_settings() -> dict[str, Any] | None:
    """Connector settings for Box, or None when neither real Box nor the sandbox is set up."""
    redirect = f"{settings.BACKSTOP_BASE_URL.rstrip('/')}/backups/oauth/box/"
    if settings.BACKSTOP_BOX_CLIENT_ID and settings.BACKSTOP_BOX_CLIENT_SECRET:
        return {
            "client_id": settings.BACKSTOP_BOX_CLIENT_ID,
            "client_secret": settings.BACKSTOP_BOX_CLIENT_SECRET,
            "redirect_uri": redirect,
        }
    if settings.BACKSTOP_SANDBOX:
        from backstop.sandbox.box import client_settings

        return {**client_settings(sandbox_base_url(), redirect), "sandbox": True}
    return None


def sandbox_base_url() -> str:
    override: str = settings.BACKSTOP_SANDBOX_BOX_URL
    return override or f"{settings.BACKSTOP_BASE_URL.rstrip('/')}{SANDBOX_PREFIX}"


def services() -> list[ServiceInfo]:
    box_ready = box_settings() is not None
    built = {
        "imap": ServiceInfo("imap", "IMAP", "mailboxes", "form", True),
        "box": ServiceInfo(
            "box",
            "Box",
            "users",
            "oauth",
            box_ready,
            "" if box_ready else "Needs a Box app: set BACKSTOP_BOX_CLIENT_ID and _SECRET.",
        ),
    }
    result = []
    for service in SERVICES:
        result.append(
            built.get(service.code)
            or ServiceInfo(service.code, service.label, "", "", False, "Coming in a later release")
        )
    return result


def service_info(code: str) -> ServiceInfo:
    for info in services():
        if info.code == code:
            return info
    raise KeyError(code)


def connector_class(service: str) -> type[Connector]:
    if service == "imap":
        from backstop.connectors.imap import ImapConnector

        return ImapConnector
    if service == "box":
        from backstop.connectors.box import BoxConnector

        return BoxConnector
    raise KeyError(f"no connector for {service}")


def connector_for(task: BackupTask) -> Connector:
    """The task's connector; refreshed tokens are sealed back into the task row."""

    def save(secrets: Mapping[str, Any]) -> None:
        task.set_secrets(dict(secrets))
        BackupTask.objects.filter(pk=task.pk).update(sealed_secrets=task.sealed_secrets)

    options = dict(task.connector_settings)
    if task.service == "box":
        options = {**(box_settings() or {}), **options}
    # Rate and concurrency limits are shared per source tenant, whatever task reaches it.
    options.setdefault("tenant_key", task.source_tenant or f"task-{task.pk}")
    return connector_class(task.service)(options, task.get_secrets(), save)
