"""The Learning Hub (P-HUB): what partner users see, who may open it, and the operators' admin."""

from __future__ import annotations

import re
from html import unescape
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import LazySettings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backstop import config
from backstop.backups.models import BackupTask, Entity, Snapshot
from backstop.billing.models import BillingProfile
from backstop.hub import guides
from backstop.hub import views as hub_views
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


def test_the_install_starts_with_our_own_guides_in_reading_order(personas: Personas) -> None:
    seeded = list(Resource.objects.filter(published=True))
    # Backstop hosts no video: the seeded entries are all built-in guides.
    assert {r.kind for r in seeded} == {"guide"}
    assert sorted(r.link for r in seeded) == sorted(g.path for g in guides.GUIDES)
    html = personas.client(personas.pat).get(hub_url(personas.partner.pk)).content.decode()
    assert titles(html) == [
        "Your first customer account",
        "Reading the dashboard",
        "Activating backups for a customer",
        "Restoring files and mailboxes",
        "Partner users and permissions",
        "Reports and notifications",
    ]
    # They open in this portal, in the same tab, not at the partner-neutral address.
    links = re.findall(r'<a class="fw-semibold[^>]*>', html)
    assert len(links) == 6 and not any("_blank" in link for link in links)
    for g in guides.GUIDES:
        assert f'href="{guide_url(personas.partner.pk, g.slug)}"' in html
    assert re.search(r'data-testid="kind-video">Videos <span[^>]*>0</span>', html)
    videos = personas.client(personas.pat).get(hub_url(personas.partner.pk) + "?kind=video").content.decode()
    assert "Backstop hosts no video" in videos


def guide_url(partner_pk: int, slug: str) -> str:
    return reverse("partner_hub_guide", args=[partner_pk, slug])


def test_every_seeded_entry_opens_its_guide_for_a_signed_in_partner_user(personas: Personas) -> None:
    pat = personas.client(personas.pat)
    for entry in Resource.objects.filter(published=True):
        guide = guides.of_link(entry.link)
        assert guide is not None, entry.link
        response = pat.get(entry.link, follow=True)
        assert response.status_code == 200, entry.link
        # In Pat's own portal, with the portal's menu and the Learning Hub as the current entry.
        assert response.redirect_chain[-1][0] == guide_url(personas.partner.pk, guide.slug)
        html = response.content.decode()
        assert f'data-testid="guide-title">{guide.title}</h1>' in html
        assert "Northwind IT" in html
        assert re.search(r'class="nav-link active" href="[^"]*/hub/"', html)
        assert 'data-testid="guide-list"' in html and html.count('class="bs-guide-num"') == len(guides.GUIDES)


def test_the_guides_quote_the_products_numbers(personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    pat = personas.client(personas.pat)
    add = pat.get(guide_url(personas.partner.pk, "add-account")).content.decode()
    assert "free 14-day trial" in add and "7 more days" in add
    assert "kept 72 hours" in pat.get(guide_url(personas.partner.pk, "restore")).content.decode()
    assert "works for 30 days" in pat.get(guide_url(personas.partner.pk, "notifications")).content.decode()
    # Read from where the product keeps them, not written into the text.
    monkeypatch.setitem(hub_views.FACTS, "trial_days", 30)
    assert "free 30-day trial" in pat.get(guide_url(personas.partner.pk, "add-account")).content.decode()


def _visible_text(html: str) -> str:
    """What a reader sees of a page: its text, and the placeholders and tooltips of its controls."""
    html = re.sub(r"<script.*?</script>|<style.*?</style>", " ", html, flags=re.S)
    hints = " ".join(re.findall(r'(?:placeholder|aria-label|title)="([^"]*)"', html))
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html) + " " + hints))


def test_every_label_a_guide_quotes_is_on_a_real_page(personas: Personas, settings: LazySettings) -> None:
    """The guides mark each label of the UI they quote; each must be shown by a real page, so a
    renamed button fails here instead of leaving a guide that describes a screen nobody has."""
    settings.BACKSTOP_SANDBOX = True  # the Box connection page exists
    BillingProfile.objects.create(partner=personas.partner, email="it@nw.test", onboarded_at=timezone.now())
    nora = UserFactory(email="nora@northwind.test")
    MembershipFactory(user=nora, partner=personas.partner, role=Membership.Role.ADMIN)
    client = personas.client(nora)
    p, a = personas.partner.pk, personas.a.pk
    task = BackupTask.objects.create(account=personas.a, service="box", name="Acme Box")
    anna = Entity.objects.create(
        account=personas.a, task=task, key="k-anna", name="Anna", status="active", last_snapshot="s1"
    )
    snapshot = Snapshot.objects.create(account=personas.a, entity=anna, snapshot_id="s1", time=timezone.now())
    pages = [reverse(name, args=[p]) for name in PORTAL_PAGES]
    pages += [reverse(name, args=[a]) for name in ACCOUNT_PAGES]
    pages += [
        reverse("partner_dashboard", args=[p]) + "?account=in_progress",  # "Show every account"
        reverse("recovery", args=[a]),
        reverse("backup_task", args=[a, task.pk]),
        reverse("recovery_entity", args=[a, anna.pk]),
        reverse("recovery_entity", args=[a, anna.pk]) + "?tab=search",
        reverse("recovery_browse", args=[a, anna.pk, snapshot.pk]),
        reverse("recovery_restore", args=[a, anna.pk]) + f"?snapshot={snapshot.pk}&folder=%2F",
    ]
    shown = []
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        shown.append(_visible_text(response.content.decode()))
    added = client.post(reverse("partner_add_account", args=[p]), NEW_ACCOUNT, follow=True)
    shown.append(_visible_text(added.content.decode()))  # the "Account added" page
    corpus = " ".join(shown)

    missing = []
    checked = 0
    for guide in guides.GUIDES:
        html = client.get(reverse("partner_hub_guide", args=[p, guide.slug])).content.decode()
        for quoted in re.findall(r'<span class="bs-ui">(.*?)</span>', html, re.S):
            checked += 1
            label = unescape(re.sub(r"<[^>]+>", "", quoted))
            # "Settings > Account" is a menu entry then a tab; "…" stands for a name or a number.
            for part in label.split(" > "):
                pattern = ".+?".join(re.escape(piece.strip()) for piece in part.split("…"))
                if not re.search(pattern, corpus):
                    missing.append(f"{guide.slug}: {label}")
    assert checked > 30, "the guides' quoted labels were not found: was the bs-ui marker renamed?"
    assert not missing, missing


ACCOUNT_PAGES = ("account_home", "backup_add", "backup_add_box", "backup_add_imap")
PORTAL_PAGES = (
    "partner_dashboard",
    "partner_add_account",
    "partner_settings",
    "partner_users",
    "partner_user_new",
    "partner_notifications",
    "partner_recipient_new",
)
NEW_ACCOUNT = {
    "name": "Initech",
    "email": "it@initech.test",
    "password1": "kettle-orbit-lantern-42",
    "password2": "kettle-orbit-lantern-42",
    "where": "datacenter",
    "region": "eu-frankfurt",
    "subscription_kind": "trial",
    "plan": "monthly",
}


def test_the_open_button_shows_only_pages_the_role_may_open(personas: Personas) -> None:
    admin = UserFactory(email="nora@northwind.test")
    MembershipFactory(user=admin, partner=personas.partner, role=Membership.Role.ADMIN)
    nora, pat = personas.client(admin), personas.client(personas.pat)
    users_page = reverse("partner_users", args=[personas.partner.pk])

    def page(client: Client, slug: str) -> str:
        return str(client.get(guide_url(personas.partner.pk, slug)).content.decode())

    def link(url: str, testid: str) -> str:
        return f'href="{url}" data-testid="{testid}"'

    assert link(users_page, "guide-open") in page(nora, "users")
    # Pat may not manage users nor add accounts, but may open the dashboard.
    assert 'data-testid="guide-open"' not in page(pat, "users")
    assert 'data-testid="guide-open"' not in page(pat, "add-account")
    dashboard = page(pat, "dashboard")
    assert link(reverse("partner_dashboard", args=[personas.partner.pk]), "guide-open") in dashboard
    # Previous and next follow the reading order.
    assert link(guide_url(personas.partner.pk, "add-account"), "guide-previous") in dashboard
    assert link(guide_url(personas.partner.pk, "activate-backups"), "guide-next") in dashboard


def test_an_unknown_guide_is_a_404(personas: Personas) -> None:
    pat = personas.client(personas.pat)
    assert pat.get(guide_url(personas.partner.pk, "no-such-guide")).status_code == 404
    assert pat.get("/hub/guides/no-such-guide/").status_code == 404


def test_guides_are_for_partner_users_in_their_own_portal(personas: Personas) -> None:
    sibling = PartnerFactory(name="Contoso")
    sam = UserFactory(email="sam@contoso.test")
    MembershipFactory(user=sam, partner=sibling, role=Membership.Role.ADMIN)
    other = personas.client(sam)

    assert other.get(guide_url(personas.partner.pk, "dashboard")).status_code == 404  # a sibling's portal
    # The neutral link leads each partner user to their own portal.
    assert other.get("/hub/guides/dashboard/")["Location"] == guide_url(sibling.pk, "dashboard")
    # A customer's user has no Learning Hub; nor has someone signed out.
    alice = personas.client(personas.alice)
    assert alice.get("/hub/guides/dashboard/").status_code == 404
    assert alice.get(guide_url(personas.partner.pk, "dashboard")).status_code == 404
    assert Client().get("/hub/guides/dashboard/")["Location"].startswith(reverse("account_login"))
    assert Client().get(guide_url(personas.partner.pk, "dashboard")).status_code == 302


def test_the_move_to_guides_keeps_what_operators_changed() -> None:
    # The install as 0002 left it, then an operator's edits: a link of their own, a new title.
    moves = import_module("backstop.hub.migrations.0003_built_in_guides")
    for old_link, new_link, (kind, order, title), _ in moves.MOVES:
        Resource.objects.filter(link=new_link).update(link=old_link, kind=kind, order=order, title=title)
    Resource.objects.filter(link="/docs/partner/users/").update(link="https://wiki.example.test/users")
    Resource.objects.filter(link="/docs/videos/restore/").update(title="Getting data back")

    moves.to_guides(django_apps, None)

    by_title = {r.title: r for r in Resource.objects.all()}
    users = by_title["Partner users and permissions"]
    assert (users.link, users.order, users.kind) == ("https://wiki.example.test/users", 30, "guide")  # kept
    restore = by_title["Getting data back"]  # their title, the new link, kind and order
    assert (restore.link, restore.kind, restore.order) == ("/hub/guides/restore/", "guide", 40)
    activate = by_title["Activating backups for a customer"]
    assert (activate.link, activate.kind, activate.order) == ("/hub/guides/activate-backups/", "guide", 30)


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
    typo = admin.post(add, {"title": "Bad", "kind": "guide", "order": 1, "link": "/hub/guides/add-acount/"})
    assert "No built-in guide has this address" in typo.content.decode()
    assert "/hub/guides/add-account/" in typo.content.decode()
    assert not Resource.objects.filter(title="Bad").exists()
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


def test_links_that_would_leave_the_site_as_paths_are_refused() -> None:
    """An operator's path must stay on the site: browsers read "//host" and "/\\host" as another host."""
    from django.core.exceptions import ValidationError

    from backstop.hub.models import validate_link

    for link in ("/hub/guides/dashboard/", "https://videos.example.test/1", "/downloads/guide.pdf"):
        validate_link(link)
    for link in ("//evil.example", "/\\evil.example", "javascript:alert(1)", "ftp://files.example"):
        with pytest.raises(ValidationError):
            validate_link(link)
