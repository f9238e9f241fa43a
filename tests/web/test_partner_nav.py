"""The partner portal's menu: the pages the role may open, the Learning Hub for everyone, and
Support / Partner Zone as links to other sites that open in a new tab."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from django.urls import reverse

from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def menu(html: str) -> dict[str, str]:
    nav = re.search(r'<nav[^>]*aria-label="Main".*?</nav>', html, re.S)
    assert nav is not None
    return {
        re.sub(r"<[^>]+>", "", label).strip(): href
        for href, label in re.findall(
            r'<a class="nav-link[^"]*" href="([^"]+)"[^>]*>(.*?)</a>', nav.group(0), re.S
        )
    }


@override_settings(BACKSTOP_SUPPORT_URL="", BACKSTOP_PARTNER_ZONE_URL="https://partners.example.test/")
def test_an_administrator_sees_every_portal_page_and_the_outside_links(hierarchy: Hierarchy) -> None:
    pk = hierarchy.alpha.pk
    html = hierarchy.client(hierarchy.alan).get(reverse("partner_dashboard", args=[pk])).content.decode()
    assert menu(html) == {
        "Dashboard": reverse("partner_dashboard", args=[pk]),
        "Security Audit": reverse("partner_audit", args=[pk]),
        "Billing": reverse("billing_partner_status", args=[pk]),
        "Settings": reverse("partner_settings", args=[pk]),
        "Learning Hub": reverse("partner_hub", args=[pk]),
        "Partner Zone": "https://partners.example.test/",
        "Support": "mailto:support@backstop.localhost",
    }
    assert 'href="https://partners.example.test/" target="_blank" rel="noopener noreferrer"' in html


@override_settings(BACKSTOP_SUPPORT_URL="https://help.example.test/", BACKSTOP_PARTNER_ZONE_URL="")
def test_a_custom_user_sees_only_what_the_role_opens(hierarchy: Hierarchy) -> None:
    pk = hierarchy.alpha.pk
    html = hierarchy.client(hierarchy.sam).get(reverse("partner_dashboard", args=[pk])).content.decode()
    assert list(menu(html)) == ["Dashboard", "Security Audit", "Learning Hub", "Support"]
    assert menu(html)["Support"] == "https://help.example.test/"
