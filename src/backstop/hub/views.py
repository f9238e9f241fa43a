"""The Learning Hub (P-HUB): for any member of the partner (another partner's hub is a 404).

The hub page lists the published videos and guides, filterable by kind (`?kind=video`), and the
Support and Partner Zone links from the settings (`BACKSTOP_SUPPORT_URL`,
`BACKSTOP_PARTNER_ZONE_URL`; without a support site, support is by e-mail). A link elsewhere opens
in a new tab; a built-in guide (`guides.py`) opens in the portal, at `guide`. The partner-neutral
path an entry stores, `/hub/guides/<slug>/`, leads a partner user to that guide in their portal."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from backstop.backups.export import EXPORT_HOURS
from backstop.billing.models import EXPIRING_DAYS, GRACE_DAYS
from backstop.hub import guides
from backstop.hub.models import Resource
from backstop.notify.reports import LINK_DAYS
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import REMOVAL_GRACE, TRIAL_DAYS, Membership, Partner
from backstop.tenancy.scoping import memberships_of
from backstop.tenancy.views.decorators import partner_view

ICONS: dict[str, str] = {Resource.Kind.VIDEO: "play-btn", Resource.Kind.GUIDE: "journal-text"}
# The numbers the guides quote, from where the product keeps them.
FACTS: dict[str, int] = {
    "trial_days": TRIAL_DAYS,
    "expiring_days": EXPIRING_DAYS,
    "grace_days": GRACE_DAYS,
    "removal_days": REMOVAL_GRACE.days,
    "report_link_days": LINK_DAYS,
    "export_hours": EXPORT_HOURS,
}


def support_link() -> tuple[str, bool]:
    """(address, is a web page): the support site, else a mailto of the support address."""
    if settings.BACKSTOP_SUPPORT_URL:
        return settings.BACKSTOP_SUPPORT_URL, True
    return f"mailto:{settings.BACKSTOP_SUPPORT_EMAIL}", False


@partner_view(perms.VIEW)
def hub(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    published = Resource.objects.filter(published=True)
    kind = request.GET.get("kind", "")
    if kind not in Resource.Kind.values:
        kind = ""
    counts = dict(published.values_list("kind").annotate(n=Count("pk")).order_by())
    shown = published.filter(kind=kind) if kind else published
    groups = []
    for value, label in Resource.Kind.choices:
        if kind and value != kind:
            continue
        entries = [r for r in shown if r.kind == value]
        for entry in entries:
            entry.href, entry.in_portal = _target(partner, entry)  # type: ignore[attr-defined]
        if entries:
            groups.append({"kind": value, "label": f"{label}s", "icon": ICONS[value], "entries": entries})
    return render(
        request,
        "hub/hub.html",
        {
            "partner": partner,
            "membership": membership,
            "groups": groups,
            "kind": kind,
            "chips": [("", "All", sum(counts.values()))]
            + [(value, f"{label}s", counts.get(value, 0)) for value, label in Resource.Kind.choices],
            **_side_links(),
        },
    )


def _target(partner: Partner, entry: Resource) -> tuple[str, bool]:
    """(href, opens in the portal): a built-in guide opens in this portal, in the same tab;
    anything else where it lives, in a new tab."""
    guide = guides.of_link(entry.link)
    if guide is None:
        return entry.link, False
    return reverse("partner_hub_guide", args=[partner.pk, guide.slug]), True


def _side_links() -> dict[str, object]:
    support_url, support_is_site = support_link()
    return {
        "support_url": support_url,
        "support_is_site": support_is_site,
        "support_email": settings.BACKSTOP_SUPPORT_EMAIL,
        "partner_zone_url": settings.BACKSTOP_PARTNER_ZONE_URL,
    }


@partner_view(perms.VIEW)
def guide(request: HttpRequest, partner: Partner, membership: Membership, slug: str) -> HttpResponse:
    found = guides.find(slug)
    if found is None:
        raise Http404("No such guide.")
    before, after = guides.neighbours(found)
    may_open = membership.allows(found.operation)
    return render(
        request,
        f"hub/guides/{found.slug}.html",
        {
            "partner": partner,
            "membership": membership,
            "guide": found,
            "number": guides.GUIDES.index(found) + 1,
            "guides": guides.GUIDES,
            "before": before,
            "after": after,
            "page_url": reverse(found.page, args=[partner.pk]) if may_open else "",
            "facts": FACTS,
            "nav_section": "partner_hub",  # the Learning Hub stays the current menu entry
            **_side_links(),
        },
    )


@login_required
def guide_link(request: HttpRequest, slug: str) -> HttpResponse:
    """`/hub/guides/<slug>/`, the link an entry stores: the guide in the user's own portal (their
    first partner role's). Nobody else has a Learning Hub, so anyone else gets a 404."""
    found = guides.find(slug)
    roles = sorted((m for m in memberships_of(request.user) if m.partner_id), key=lambda m: m.pk)
    if found is None or not roles:
        raise Http404("No such guide.")
    return redirect("partner_hub_guide", partner_id=roles[0].partner_id, slug=found.slug)
