"""Backups for the demo: a Box sandbox tenant per demo customer, a Box task connected to it, its
users activated, and their first backups queued, so the pages show real results.

`backstop demo` runs the Box sandbox in its own process (a thread beside the supervisor of the
web, worker and scheduler processes) and tells the children where it is through
BACKSTOP_SANDBOX_BOX_URL. The sandbox lives in memory: each start seeds the same tenants again
(the generator is deterministic) and reconnects the demo tasks with fresh tokens, so the
backups continue on the same entities and deduplicate against what is already stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from backstop.backups.models import BackupTask, Entity
from backstop.backups.services import activate, backup_now, create_task, discover, reconnect_task
from backstop.sandbox.box import BoxSandbox, client_settings
from backstop.sandbox.box.seed import generate_enterprise
from backstop.tenancy.models import Account

TASK_NAME = "Box (sandbox)"
USERS = 4
FILES = 160


@dataclass(frozen=True, slots=True)
class DemoBox:
    account: str
    task_id: int
    users: int
    jobs: int


def start_sandbox(host: str = "127.0.0.1") -> BoxSandbox:
    return BoxSandbox().start(host=host, port=0)


def box_settings(sb: BoxSandbox, base_url: str) -> dict[str, str]:
    return client_settings(sb.url, f"{base_url.rstrip('/')}/backups/oauth/box/")


def seed(sb: BoxSandbox, accounts: list[Account], base_url: str) -> list[DemoBox]:
    """One seeded Box enterprise and one connected Box task per account; first backups queued."""
    made = []
    for number, account in enumerate(accounts, start=1):
        tenant = generate_enterprise(
            sb.state,
            users=USERS,
            files=FILES,
            seed=number,
            name=f"{account.name} (Box sandbox)",
            size_scale=0.5,
        )
        token = sb.state.issue_token(tenant.admin)
        secrets = {
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "expires_at": time.time() + 3000,
        }
        settings = box_settings(sb, base_url)
        task = BackupTask.objects.filter(account=account, name=TASK_NAME, deleted_at__isnull=True).first()
        if task is None:
            task = create_task(
                account,
                "box",
                TASK_NAME,
                connector_settings=settings,
                secrets=secrets,
                source_tenant=tenant.enterprise.id,
            )
        else:
            reconnect_task(task, secrets, settings)
        discover(task)
        entities = list(Entity.objects.filter(task=task, deleted_at__isnull=True).select_related("task"))
        activate(entities)
        jobs = backup_now(entities)
        made.append(DemoBox(account.name, task.pk, len(entities), len(jobs)))
    return made
