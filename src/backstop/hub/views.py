"""The Learning Hub page (P-HUB): for any member of the partner (another partner's hub is a 404).

It lists the published videos and guides, filterable by kind (`?kind=video`), each opening in a
new tab, and the Support and Partner Zone links from the settings (`BACKSTOP_SUPPORT_URL`,
`BACKSTOP_PARTNER_ZONE_URL`; without a support site, support is by e-mail)."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from backstop.hub.models import Resource
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Membership, Partner
from backstop.tenancy.views.decorators import partner_view

ICONS: dict[str, str] = {Resource.Kind.VIDEO: "play-btn", Resource.Kind.GUIDE: "journal-text"}


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
        if entries:
            groups.append({"kind": value, "label": f"{label}s", "icon": ICONS[value], "entries": entries})
    support_url, support_is_site = support_link()
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
            "support_url": support_url,
            "support_is_site": support_is_site,
            "support_email": settings.BACKSTOP_SUPPORT_EMAIL,
            "partner_zone_url": settings.BACKSTOP_PARTNER_ZONE_URL,
        },
    )
