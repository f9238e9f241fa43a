"""The partner dashboard hears of finished backups: the account's partners read their figures
again (backup status and size), instead of waiting for the cached ones to expire."""

from __future__ import annotations

import logging
from typing import Any

from backstop.tenancy import dashboard

log = logging.getLogger(__name__)


def backup_finished(sender: Any, job: Any = None, **kwargs: Any) -> None:
    try:
        if job is not None and job.account.partner_id is not None:
            dashboard.changed_account(job.account)
    except Exception:  # a receiver never fails the job that sent it
        log.exception("the dashboard figures of job %s's partners could not be refreshed", job)
