"""The Learning Hub (P-HUB): what partner users see, who may open it, and the operators' admin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import LazySettings
from django.test import Client
from django.urls import reverse

from backstop import config
from backstop.hub.models import Resource
from backstop.tenancy.models import Membership
from tests.conftest import Personas
from tests.factories import AccountFactory, MembershipFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db


def hub_url(partner_pk: int) -> str:
    return reverse("partner_hub", args=[partner_pk])


def titles(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>|\s+", " ", t).strip().removesuffix("(opens in a new tab)").strip()
        for t in re.findall(r'<a class="fw-semibold[^"]*" href="[^"]*"[^>]*>(.*?)</a>', html, re.S)
    ]


def test_partner_users_see_published_entries_grouped_and_filterable_by_kind(personas: Personas) -> None:
    Resource.objects.all().delete()  # the seeded defaults are tested below
    Resource.objects.create(title="Second video", kind="video", order=2, link="https://videos.example.test/2")
    Resource.objects.create(title="First video", kind="video", order=1, link="https://videos.example.test/1")
    Resource.objects.create(
        title="A guide", kind="guide", link="/docs/partner/a-guide/", description="Read me"
    )
    Resource.objects.create(title="Draft guide", kind="guide", published=False, link="/docs/draft/")

    pat = personas.client(personas.pat)  # a custom partner user: any member may open the hub
    response = pat.get(hub_url(personas.partner.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert titles(html) == ["First video", "Second video", "A guide"]
    assert "Draft guide" not in html and "Read me" in html
    for link in re.findall(r'<a class="fw-semibold[^>]*>', html):
        assert 'target="_blank"' in link and "noopener" in link

    videos = pat.get(hub_url(personas.partner.pk) + "?kind=video").content.decode()
    assert titles(videos) == ["First video", "Second video"]
    assert re.search(r'data-testid="kind-video">Videos <span[^>]*>2</span>', videos)
    assert re.search(r'data-testid="kind-guide">Guides <span[^>]*>1</span>', videos)  # drafts not counted
    guides = pat.get(hub_url(personas.partner.pk) + "?kind=guide").content.decode()
    assert titles(guides) == ["A guide"]
    assert titles(pat.get(hub_url(personas.partner.pk) + "?kind=bogus").content.decode()) == titles(html)


def test_the_install_starts_with_a_few_published_entries_of_our_own(personas: Personas) -> None:
    seeded = list(Resource.objects.filter(published=True))
    assert {r.kind for r in seeded} == {"video", "guide"}
    assert all(r.link.startswith("/docs/") for r in seeded)
    html = personas.client(personas.pat).get(hub_url(personas.partner.pk)).content.decode()
    assert "Your first customer account" in html and "Activating backups for a customer" in html


def test_support_and_partner_zone_links_come_from_the_settings(
    personas: Personas, settings: LazySettings
) -> None:
    settings.BACKSTOP_SUPPORT_URL = "https://help.backstop.example/"
    settings.BACKSTOP_PARTNER_ZONE_URL = "https://partners.backstop.example/"
    html = personas.client(personas.pat).get(hub_url(personas.partner.pk)).content.decode()
    assert re.search(r'href="https://help.backstop.example/" target="_blank" rel="noopener[^"]*"', html)
    assert re.search(r'href="https://partners.backstop.example/" target="_blank" rel="noopener[^"]*"', html)

    settings.BACKSTOP_SUPPORT_URL = ""
    settings.BACKSTOP_PARTNER_ZONE_URL = ""
    settings.BACKSTOP_SUPPORT_EMAIL = "help@backstop.example"
    html = personas.client(personas.pat).get(hub_url(personas.partner.pk)).content.decode()
    assert 'href="mailto:help@backstop.example"' in html
    assert "Partner Zone" not in html


def test_the_hub_is_for_members_of_the_partner_only(personas: Personas) -> None:
    sibling = PartnerFactory(name="Contoso")
    AccountFactory(name="Umbrella", partner=sibling)
    sam = UserFactory(email="sam@contoso.test")
    MembershipFactory(user=sam, partner=sibling, role=Membership.Role.ADMIN)
    other = Client()
    other.force_login(sam)

    assert other.get(hub_url(personas.partner.pk)).status_code == 404  # a sibling partner's user
    assert other.get(hub_url(sibling.pk)).status_code == 200
    assert personas.client(personas.alice).get(hub_url(personas.partner.pk)).status_code == 404  # a customer
    assert personas.client(personas.pat).get(hub_url(sibling.pk)).status_code == 404
    assert personas.client(personas.pat).get(hub_url(999_999)).status_code == 404
    assert Client().get(hub_url(personas.partner.pk)).status_code == 302  # to sign-in


def test_an_operator_adds_an_entry_in_the_admin_and_partners_see_it(personas: Personas) -> None:
    operator = UserFactory(email="op@backstop.test", is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(operator)
    add = reverse("admin:hub_resource_add")
    refused = admin.post(add, {"title": "Bad", "kind": "video", "order": 1, "link": "javascript:alert(1)"})
    assert refused.status_code == 200 and not Resource.objects.filter(title="Bad").exists()
    response = admin.post(
        add,
        {
            "title": "Quarterly partner webinar",
            "description": "What changed this quarter.",
            "kind": "video",
            "order": 5,
            "link": "https://videos.example.test/webinar",
            "published": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Resource.objects.filter(title="Quarterly partner webinar", published=True).exists()
    assert admin.get(reverse("admin:hub_resource_changelist")).status_code == 200

    html = personas.client(personas.pat).get(hub_url(personas.partner.pk) + "?kind=video").content.decode()
    assert "Quarterly partner webinar" in html
    # Partner users are not operators: the admin is closed to them.
    assert personas.client(personas.pat).get(add).status_code == 302


def test_the_support_and_partner_zone_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    base = {"BACKSTOP_DATA_DIR": str(tmp_path)}
    unset = config.load(base)
    assert (unset.support_url, unset.partner_zone_url) == ("", "")
    both = config.load(
        {
            **base,
            "BACKSTOP_SUPPORT_URL": "https://help.backstop.example/",
            "BACKSTOP_PARTNER_ZONE_URL": "https://partners.backstop.example/zone",
        }
    )
    assert both.support_url == "https://help.backstop.example/"
    assert both.partner_zone_url == "https://partners.backstop.example/zone"
    with pytest.raises(config.ConfigError, match="BACKSTOP_PARTNER_ZONE_URL"):
        config.load({**base, "BACKSTOP_PARTNER_ZONE_URL": "javascript:alert(1)"})
