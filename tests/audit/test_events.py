"""Audit events written where things happen: sign-ins (with browser and address), account
settings, users and permissions, deleted backups, a partner user's visit; and the 2FA column of
the user list. Each test uses the real views and reads the result on the Security Audit page."""

from __future__ import annotations

import html
import re

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client
from django.urls import reverse

from backstop.audit import events
from backstop.audit.models import AuditEvent
from backstop.backups.models import BackupTask, Entity
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Membership
from tests.audit.util import CHROME, EDGE, FIREFOX, SAFARI, csv_of, page_of
from tests.conftest import Personas
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
DESCRIPTION_RE = re.compile(r'data-testid="audit-description">([^<\n]*)')


def audit_page(personas: Personas) -> list[str]:
    response = personas.client(personas.alice).get(reverse("account_audit", args=[personas.a.pk]))
    return [html.unescape(text.strip()) for text in DESCRIPTION_RE.findall(page_of(response))]


def sign_in(email: str, password: str, *, agent: str, address: str) -> Client:
    client = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=address)
    client.post(reverse("account_login"), {"login": email, "password": password})
    return client


def test_browser_names_from_user_agents() -> None:
    assert events.browser_of(CHROME) == "Chrome"
    assert events.browser_of(FIREFOX) == "Firefox"
    assert events.browser_of(EDGE) == "Edge"
    assert events.browser_of(SAFARI) == "Safari"
    assert events.browser_of("curl/8.5.0") == "Other browser"
    assert events.browser_of("") == ""


def test_a_sign_in_is_audited_in_every_tenant_of_the_user_with_browser_and_address(
    personas: Personas,
) -> None:
    # Alice also belongs to the partner: her sign-in shows in both audits.
    MembershipFactory(user=personas.alice, partner=personas.partner, role=Membership.Role.ADMIN)
    client = sign_in(personas.alice.email, PASSWORD, agent=CHROME, address="10.1.2.3")
    assert client.get(reverse("account_audit", args=[personas.a.pk])).status_code == 200  # signed in

    rows = AuditEvent.objects.filter(activity=events.SIGN_IN).order_by("pk")
    assert [(row.account, row.partner) for row in rows] == [(personas.a, None), (None, personas.partner)]
    for row in rows:
        assert row.status == AuditEvent.Status.SUCCEEDED
        assert row.performed_by == "alice@acme.test" and row.user == personas.alice
        assert row.ip == "10.1.2.3"
        assert row.description == "Signed in with password (Chrome from 10.1.2.3)"
    assert audit_page(personas) == ["Signed in with password (Chrome from 10.1.2.3)"]
    assert not AuditEvent.objects.filter(account=personas.b).exists()


def test_a_refused_sign_in_is_audited_for_a_known_address_only(personas: Personas) -> None:
    client = sign_in("ALICE@acme.test", "not-the-password", agent=FIREFOX, address="192.0.2.7")
    assert "_auth_user_id" not in client.session
    failed = AuditEvent.objects.get(activity=events.SIGN_IN)
    assert (failed.account, failed.status, failed.performed_by) == (
        personas.a,
        AuditEvent.Status.FAILED,
        "alice@acme.test",
    )
    assert failed.description == "Sign-in refused: wrong password (Firefox from 192.0.2.7)"
    assert str(failed.ip) == "192.0.2.7"

    sign_in("nobody@nowhere.test", "whatever-it-is", agent=FIREFOX, address="192.0.2.7")
    assert AuditEvent.objects.count() == 1

    # On the page: a red "Failed" badge and the activity filter finds it.
    response = personas.client(personas.alice).get(
        reverse("account_audit", args=[personas.a.pk]) + "?activity=sign_in&status=failed"
    )
    page = page_of(response)
    assert 'text-bg-danger" data-testid="audit-status">Failed' in page
    assert "Sign-in refused: wrong password (Firefox from 192.0.2.7)" in page


def test_account_settings_changes_are_audited(personas: Personas) -> None:
    alice = personas.client(personas.alice)
    settings_url = reverse("account_settings", args=[personas.a.pk])
    alice.post(settings_url, {"name": "Acme Corp", "email": personas.a.email})
    alice.post(settings_url, {"name": "Acme Corp", "email": "it@acme.test"})
    alice.post(reverse("account_remove", args=[personas.a.pk]), {"approve": "on", "confirm": "yes"})
    alice.post(reverse("account_remove_cancel", args=[personas.a.pk]))
    assert audit_page(personas) == [
        "Account removal cancelled",
        "Account removal requested: its data is deleted after 7 days unless cancelled",
        "New account e-mail it@acme.test requested; it applies once confirmed",
        "Account name changed from “Acme” to “Acme Corp”",
    ]
    assert set(AuditEvent.objects.values_list("activity", "performed_by")) == {
        (events.SETTINGS_CHANGED, "alice@acme.test")
    }


def test_user_added_permissions_changed_and_removed_are_audited(personas: Personas) -> None:
    alice = personas.client(personas.alice)
    alice.post(
        reverse("account_user_new", args=[personas.a.pk]),
        {
            "sign_in": "email",
            "email": "gus@acme.test",
            "first_name": "Gus",
            "last_name": "Lee",
            "password": "steady-copper-kettle-5",
            "role": "custom",
            "general": [perms.VIEW_ACTIVITY],
            "backup": [perms.RESTORE],
            "services": ["box"],
        },
    )
    gus = Membership.objects.get(user__email="gus@acme.test")
    edit = reverse("account_user_edit", args=[personas.a.pk, gus.pk])
    alice.post(edit, {"role": "custom", "general": [perms.VIEW_ACTIVITY], "backup": [], "all_services": "on"})
    alice.post(edit, {"role": "custom", "general": [perms.VIEW_ACTIVITY], "backup": [], "all_services": "on"})
    alice.post(reverse("account_user_remove", args=[personas.a.pk, gus.pk]))
    assert audit_page(personas) == [
        "Removed user gus@acme.test (Custom) from the account",
        "Permissions of gus@acme.test changed: no longer allowed: Restore backups, services Box → all",
        "Added user gus@acme.test as Custom (View account activity; Restore backups; services: Box)",
    ]  # saving without a change records nothing
    kinds = list(AuditEvent.objects.order_by("pk").values_list("activity", flat=True))
    assert kinds == [events.USER_ADDED, events.PERMISSIONS_CHANGED, events.USER_REMOVED]


def test_deleted_backups_are_audited_with_service_and_task(personas: Personas) -> None:
    task = BackupTask.objects.create(account=personas.a, service="box", name="Company Box")
    dana = Entity.objects.create(account=personas.a, task=task, key="1", name="Dana Scully")
    alice = personas.client(personas.alice)
    alice.post(
        reverse("backup_entities_action", args=[personas.a.pk, task.pk]),
        {"action": "delete", "entity": [dana.pk]},
    )
    alice.post(reverse("backup_task_delete", args=[personas.a.pk, task.pk]))
    rows = list(AuditEvent.objects.order_by("pk"))
    assert [(row.activity, row.service, row.task_name) for row in rows] == [
        (events.BACKUP_DELETED, "box", "Company Box"),
        (events.BACKUP_DELETED, "box", "Company Box"),
    ]
    csv_rows = csv_of(alice.get(reverse("account_audit", args=[personas.a.pk]) + "?format=csv"))
    assert [(row["Activity"], row["Service"], row["Task"], row["Description"]) for row in csv_rows] == [
        (
            "Backup deleted",
            "Box",
            "Company Box",
            "Backup task “Company Box” deleted; its backups are purged after 7 days",
        ),
        (
            "Backup deleted",
            "Box",
            "Company Box",
            "Users deleted from the task: Dana Scully; their backups are purged after 7 days",
        ),
    ]


def test_a_partner_users_visit_is_audited_once_per_session_and_account(personas: Personas) -> None:
    personas.pat_membership.operations = [*personas.pat_membership.operations, perms.PARTNER_VIEW_AUDIT]
    personas.pat_membership.save()
    pat = personas.client(personas.pat)
    for name in ("account_home", "account_settings", "account_home"):
        assert pat.get(reverse(name, args=[personas.a.pk])).status_code == 200
    assert pat.get(reverse("account_home", args=[personas.b.pk])).status_code == 404  # hidden: nothing
    visits = AuditEvent.objects.filter(activity=events.ACCOUNT_ACCESSED)
    assert [(v.account, v.partner, v.performed_by) for v in visits] == [
        (personas.a, personas.partner, "pat@northwind.test")
    ]
    text = f"Accessed account Acme ({personas.a.email}) from the partner portal of Northwind IT"
    assert audit_page(personas) == [text]  # the customer sees who came in
    partner_page = page_of(pat.get(reverse("partner_audit", args=[personas.partner.pk])))
    assert text in partner_page and "Account accessed" in partner_page

    # A new session is a new visit; a direct member opening their own account is no visit.
    personas.client(personas.pat).get(reverse("account_home", args=[personas.a.pk]))
    personas.client(personas.alice).get(reverse("account_home", args=[personas.a.pk]))
    assert AuditEvent.objects.filter(activity=events.ACCOUNT_ACCESSED).count() == 2


def test_the_user_list_shows_who_has_two_factor_authentication(
    personas: Personas, django_assert_max_num_queries: object
) -> None:
    Authenticator.objects.create(user=personas.bob, type=Authenticator.Type.TOTP, data={"secret": "x"})
    Authenticator.objects.create(user=personas.alice, type=Authenticator.Type.RECOVERY_CODES, data={})
    alice = personas.client(personas.alice)
    users_url = reverse("account_users", args=[personas.a.pk])
    page = page_of(alice.get(users_url))
    assert "<th>2FA</th>" in page
    cells = dict(re.findall(r"<td>([^<]+@acme\.test)</td>.*?data-testid=\"user-2fa\">(.*?)</td>", page, re.S))
    assert "On" in cells["bob@acme.test"] and "Off" in cells["alice@acme.test"]

    # One query for the column, whatever the number of rows.
    def queries_for_page() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert alice.get(users_url).status_code == 200
        return len(captured)

    few = queries_for_page()
    for n in range(6):
        user = UserFactory(email=f"member{n}@acme.test")
        MembershipFactory(user=user, account=personas.a, role=Membership.Role.CUSTOM, operations=[])
        Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "x"})
    assert queries_for_page() == few
    assert page_of(alice.get(users_url)).count('<i class="bi bi-shield-lock"></i> On') == 7
