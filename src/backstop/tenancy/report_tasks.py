"""The usage report's queue task. The message carries ids and the filters only; the scope is read
again when the task runs. Registered by importing this module (tenancy's `tasks` imports it, so
every `backstop worker` knows it)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.db import transaction

from backstop.queue import Priority, huey

log = logging.getLogger(__name__)


@huey.task(priority=Priority.REPORT)
def usage_report(partner_id: int, user_id: int, account_ids: list[int], filters: dict[str, str]) -> None:
    from backstop.tenancy.usage_report import produce

    produce(partner_id, user_id, account_ids, filters)


def queue_usage_report(
    partner_id: int, user_id: int, account_ids: list[int], filters: Mapping[str, str]
) -> None:
    """Enqueues the report once the request's transaction commits."""
    args = (partner_id, user_id, list(account_ids), dict(filters))

    def send() -> None:
        try:
            usage_report(*args)
        except Exception:
            log.exception("could not enqueue the usage report of partner %s", partner_id)
            raise

    transaction.on_commit(send)
