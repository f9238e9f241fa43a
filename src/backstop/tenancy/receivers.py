"""The partner dashboard keeps each partner's billing figures for a minute; a bill issued, paid or
failed under a partner makes that partner's dashboard, and those above it, read them again once
the change is committed."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from backstop.tenancy import dashboard
from backstop.tenancy.models import Partner

log = logging.getLogger(__name__)


def bill_changed(sender: Any, invoice: Any = None, **kwargs: Any) -> None:
    partner_id = getattr(invoice, "partner_id", None)
    if partner_id is None:
        return  # a direct customer's bill: no dashboard shows it

    def refresh() -> None:
        try:
            partner = Partner.objects.get(pk=partner_id)
            dashboard.changed([*partner.ancestor_ids(), partner.pk])
        except Exception:  # a receiver never fails the billing run that sent it
            log.exception("the dashboard figures of partner %s could not be refreshed", partner_id)

    transaction.on_commit(refresh)
