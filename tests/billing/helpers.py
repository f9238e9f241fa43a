"""Shared set-up for billing tests: entities that count as usage, and running days."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from backstop.backups.models import BackupTask, Entity
from backstop.billing.cycle import run_day
from backstop.billing.models import Card
from backstop.tenancy.models import Account, Partner


def protect(
    account: Account, service: str, count: int, status: str = Entity.Status.ACTIVE, size: int = 0
) -> BackupTask:
    """A task of `service` with `count` entities in `status` (each `size` bytes stored)."""
    task = BackupTask.objects.create(account=account, service=service, name=f"{service} of {account.name}")
    grow(task, count, status, size)
    return task


def grow(task: BackupTask, count: int, status: str = Entity.Status.ACTIVE, size: int = 0) -> None:
    start = Entity.objects.filter(task=task).count()
    Entity.objects.bulk_create(
        Entity(
            account_id=task.account_id,
            task=task,
            key=f"e{start + i}",
            name=f"user {start + i}",
            status=status,
            size=size,
        )
        for i in range(count)
    )


def run_days(first: date, last: date) -> list[dict[str, Any]]:
    """The daily billing run for every day from `first` to `last`, inclusive: the test's clock."""
    from backstop.billing.notices import flush

    reports = []
    day = first
    while day <= last:
        reports.append(run_day(day))
        flush()  # what the worker does every minute
        day += timedelta(days=1)
    return reports


def sandbox_token(number: str, exp_year: int = 2035, cvc: str = "123") -> str:
    """What the card form's script gets from the sandbox gateway for a test card number."""
    from django.test import Client

    response = Client().post(
        "/sandbox/payments/tokens",
        {"number": number, "exp_month": 12, "exp_year": exp_year, "cvc": cvc, "holder": "Test Holder"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return str(response.json()["id"])


def add_sandbox_card(payer: Account | Partner, number: str) -> Card:
    """A card kept for the payer, through the sandbox gateway as the browser would add it."""
    from backstop.billing import payments

    return payments.add_card(payer, sandbox_token(number))
