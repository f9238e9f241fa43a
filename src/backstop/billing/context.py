"""The billing banner under the page header: a failed charge, an overdue or a due bill of the payer
whose pages are open (A-BILLING, P-BILLING notices).

Shown on the pages of a direct customer account to users who may view its billing, and on a
partner's pages to users whose role gets billing notices; never for accounts billed through a
partner, and only to users who kept "Show billing notification banners" on. The banner is worked
out only when a page's template shows it (htmx fragments don't), with one query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from backstop.billing.status import banner_for
from backstop.billing.subscriptions import today
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Partner
from backstop.tenancy.scoping import AccountAccess


@dataclass(frozen=True)
class BannerView:
    level: str
    text: str
    url: str


def payer_on_page(request: HttpRequest) -> tuple[Account | Partner, str] | None:
    """The payer whose billing notices this page may show, and its kind ("account" | "partner")."""
    membership = getattr(request, "partner_membership", None)
    if membership is not None:
        # The portal open: a distributor's user in a reseller's portal sees the reseller's notices.
        partner = getattr(request, "portal_partner", None) or membership.partner
        if partner is not None and membership.allows(perms.PARTNER_BILLING_NOTICES):
            return partner, "partner"
        return None
    # The account a view opened, or the one the navigation found from the session (it runs first).
    access: AccountAccess | None = getattr(request, "account_access", None) or getattr(
        request, "nav_account_access", None
    )
    if access is None or access.account.partner_id is not None or not access.can(perms.VIEW_BILLING):
        return None
    return access.account, "account"


def billing_banner(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not getattr(user, "show_billing_banners", False):
        return {}
    found = payer_on_page(request)
    if found is None:
        return {}
    payer, kind = found
    computed: list[BannerView | None] = []

    def banner() -> BannerView | None:
        if not computed:  # templates may look twice; the query runs once
            notice = banner_for(payer, today())
            url = reverse(f"billing_{kind}_{notice.url_name}", args=[payer.pk]) if notice else ""
            computed.append(BannerView(notice.level, notice.text, url) if notice else None)
        return computed[0]

    lazy: Callable[[], BannerView | None] = banner
    return {"billing_banner": lazy}
