"""The Learning Hub's built-in guides (P-HUB): pages of this site, one Django template each
(`hub/guides/<slug>.html`), written against the portal's own screens and labels.

A Learning Hub entry stores the partner-neutral path `/hub/guides/<slug>/` (the seeded entries
do, and an operator may); the hub page of a portal links it to that portal's copy,
`/p/<partner_id>/hub/guides/<slug>/`, where the navigation and the "Open" button belong to the
portal. The neutral path itself leads a partner user to the guide in their own portal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from backstop.tenancy import permissions as perms

PREFIX: Final = "/hub/guides/"
_PATH = re.compile(r"^/hub/guides/([a-z0-9-]+)/$")


@dataclass(frozen=True, slots=True)
class Guide:
    slug: str
    title: str
    summary: str
    page: str  # URL name of the portal page the guide is about (its "Open" button)
    page_label: str
    operation: str  # what the role needs to open that page (the button is hidden otherwise)

    @property
    def path(self) -> str:
        """The partner-neutral link a Learning Hub entry stores."""
        return f"{PREFIX}{self.slug}/"


# In reading order: the sidebar and the previous / next links follow it.
GUIDES: Final = (
    Guide(
        "add-account",
        "Your first customer account",
        "Create a customer account, choose where its backups are kept and how it is subscribed.",
        "partner_add_account",
        "Add account",
        perms.PARTNER_ADD_ACCOUNTS,
    ),
    Guide(
        "dashboard",
        "Reading the dashboard",
        "Trial, backup and billing status at a glance; finding, subscribing and deleting accounts.",
        "partner_dashboard",
        "the dashboard",
        perms.PARTNER_VIEW_DASHBOARD,
    ),
    Guide(
        "activate-backups",
        "Activating backups for a customer",
        "Open a customer account, connect a service and choose what to back up.",
        "partner_dashboard",
        "the dashboard",
        perms.PARTNER_VIEW_DASHBOARD,
    ),
    Guide(
        "restore",
        "Restoring files and mailboxes",
        "Find what was lost, pick the point in time and restore or export it.",
        "partner_dashboard",
        "the dashboard",
        perms.PARTNER_VIEW_DASHBOARD,
    ),
    Guide(
        "users",
        "Partner users and permissions",
        "Give colleagues the operations and the customer accounts they need, and nothing more.",
        "partner_users",
        "Settings > Users",
        perms.MANAGE_USERS,
    ),
    Guide(
        "notifications",
        "Reports and notifications",
        "The backup report on your customers, the trial accounts report and who receives what.",
        "partner_notifications",
        "Settings > Notifications",
        perms.PARTNER_NOTIFICATIONS,
    ),
)
_BY_SLUG: Final = {guide.slug: guide for guide in GUIDES}


def find(slug: str) -> Guide | None:
    return _BY_SLUG.get(slug)


def of_link(link: str) -> Guide | None:
    """The built-in guide a Learning Hub link points at, if it is one."""
    match = _PATH.match(link)
    return find(match.group(1)) if match else None


def neighbours(guide: Guide) -> tuple[Guide | None, Guide | None]:
    """The guides before and after `guide` in reading order."""
    index = GUIDES.index(guide)
    before = GUIDES[index - 1] if index > 0 else None
    after = GUIDES[index + 1] if index + 1 < len(GUIDES) else None
    return before, after
