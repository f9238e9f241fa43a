"""Settings > Notifications: who may open it, recipients added, edited and deleted within the
account only, validation, and every change in the Security Audit."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backstop.audit.models import AuditEvent
from backstop.notify.models import Recipient, ReportSettings
from backstop.notify.recipients import DISCOVERY, EXCEPTIONS, RECOVERY, SMART_ALERTS, SUMMARY, addresses
from backstop.tenancy import permissions as perms
from tests.conftest import Personas

pytestmark = pytest.mark.django_db


def page(account_id: int) -> str:
    return reverse("account_notifications", args=[account_id])


def audit_lines(account_id: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(account_id=account_id, activity="notifications_changed")
        .order_by("at", "pk")
        .values_list("description", flat=True)
    )


def add(client, account_id: int, **fields: object):  # type: ignore[no-untyped-def]
    data = {"email": "", "name": "", **{k: "on" for k, v in fields.items() if v is True}}
    data.update({k: v for k, v in fields.items() if v is not True})
    return client.post(reverse("account_recipient_new", args=[account_id]), data)


def test_admin_sees_the_page_with_the_default_recipient_explained(personas: Personas) -> None:
    response = personas.client(personas.alice).get(page(personas.a.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Summary report" in html and "Add new recipient" in html
    assert f'class="nav-link active" href="{page(personas.a.pk)}"' in html  # the Notifications tab
    help_text = html.split('data-testid="recipients-help"')[1]
    assert personas.a.email in help_text and "Summary report" in help_text and "Exceptions" in help_text


def test_permissions_and_tenancy_of_the_page(personas: Personas) -> None:
    # Bob may view settings but not manage notifications; Charlie belongs to another account.
    assert personas.client(personas.bob).get(page(personas.a.pk)).status_code == 403
    assert personas.client(personas.charlie).get(page(personas.a.pk)).status_code == 404
    assert personas.client(personas.alice).get(page(personas.b.pk)).status_code == 404
    assert personas.client(personas.pat).get(page(personas.a.pk)).status_code == 403
    assert personas.client(personas.pat).get(page(personas.b.pk)).status_code == 404
    new = reverse("account_recipient_new", args=[personas.a.pk])
    assert (
        personas.client(personas.bob).post(new, {"email": "x@acme.test", "summary_report": "on"}).status_code
        == 403
    )
    assert not Recipient.objects.exists()
    # A custom role with the "Manage notifications" tick may.
    personas.bob_membership.operations = [*personas.bob_membership.operations, perms.MANAGE_NOTIFICATIONS]
    personas.bob_membership.save()
    assert personas.client(personas.bob).get(page(personas.a.pk)).status_code == 200


def test_add_edit_delete_a_recipient_each_audited(personas: Personas) -> None:
    client = personas.client(personas.alice)
    response = add(
        client, personas.a.pk, email="Ops@Acme.test", name="Ops team", summary_report=True, exceptions=True
    )
    assert response.status_code == 302 and response["Location"] == page(personas.a.pk)
    recipient = Recipient.objects.get(account=personas.a)
    assert (
        recipient.email,
        recipient.name,
        recipient.summary_report,
        recipient.exceptions,
        recipient.recovery,
    ) == (
        "ops@acme.test",
        "Ops team",
        True,
        True,
        False,
    )
    html = client.get(page(personas.a.pk)).content.decode()
    assert "ops@acme.test" in html and "Ops team" in html
    assert html.count('data-testid="recipient-row"') == 1
    assert addresses(personas.a, SUMMARY) == [("ops@acme.test", "Ops team")]

    edit = reverse("account_recipient_edit", args=[personas.a.pk, recipient.pk])
    delete = reverse("account_recipient_delete", args=[personas.a.pk, recipient.pk])
    assert f'href="{edit}"' in html and f'href="{delete}"' in html  # the row's buttons
    assert client.get(edit).status_code == 200
    response = client.post(
        edit, {"email": "ops@acme.test", "name": "Operations", "recovery": "on", "exceptions": "on"}
    )
    assert response.status_code == 302
    recipient.refresh_from_db()
    assert recipient.name == "Operations" and recipient.recovery and not recipient.summary_report
    assert addresses(personas.a, RECOVERY) == [("ops@acme.test", "Operations")]

    delete = reverse("account_recipient_delete", args=[personas.a.pk, recipient.pk])
    assert client.get(delete).status_code == 200
    assert client.post(delete).status_code == 302
    assert not Recipient.objects.exists()

    lines = audit_lines(personas.a.pk)
    assert len(lines) == 3
    assert lines[0] == "Recipient ops@acme.test added (summary report, exceptions)"
    assert lines[1].startswith("Recipient ops@acme.test changed:")
    assert "Operations" in lines[1] and "summary report off" in lines[1] and "recovery on" in lines[1]
    assert lines[2] == "Recipient ops@acme.test removed"
    event = AuditEvent.objects.filter(account=personas.a).last()
    assert event is not None and event.performed_by == personas.alice.email


def test_bad_duplicate_or_empty_recipients_are_refused(personas: Personas) -> None:
    client = personas.client(personas.alice)
    response = add(client, personas.a.pk, email="not an address", summary_report=True)
    assert response.status_code == 200
    assert "Enter a valid e-mail address" in response.content.decode()
    response = add(client, personas.a.pk, email="ops@acme.test")
    assert "Tick at least one notification type." in response.content.decode()
    # A name is one line: a line break would end up in the mail header.
    response = add(
        client, personas.a.pk, email="ops@acme.test", name="Ops\r\nBcc: x@evil.test", exceptions=True
    )
    assert "A display name is one line of text." in response.content.decode()
    assert not Recipient.objects.exists()

    assert add(client, personas.a.pk, email="ops@acme.test", exceptions=True).status_code == 302
    response = add(client, personas.a.pk, email="OPS@acme.test", summary_report=True)
    assert response.status_code == 200
    assert "ops@acme.test is already a recipient of this account" in response.content.decode()
    assert Recipient.objects.count() == 1
    # Renaming another recipient onto a taken address is refused too.
    assert add(client, personas.a.pk, email="second@acme.test", exceptions=True).status_code == 302
    second = Recipient.objects.get(email="second@acme.test")
    edit = reverse("account_recipient_edit", args=[personas.a.pk, second.pk])
    response = client.post(edit, {"email": "Ops@acme.test", "exceptions": "on"})
    assert "already a recipient" in response.content.decode()
    second.refresh_from_db()
    assert second.email == "second@acme.test"
    # The same address may be a recipient of another account.
    assert (
        add(
            personas.client(personas.charlie), personas.b.pk, email="ops@acme.test", exceptions=True
        ).status_code
        == 302
    )
    assert len(audit_lines(personas.a.pk)) == 2 and len(audit_lines(personas.b.pk)) == 1


def test_another_accounts_recipient_is_a_404(personas: Personas) -> None:
    theirs = Recipient.objects.create(account=personas.b, email="globex-ops@globex.test", exceptions=True)
    ours = Recipient.objects.create(account=personas.a, email="acme-ops@acme.test", exceptions=True)
    alice, charlie = personas.client(personas.alice), personas.client(personas.charlie)
    # Through Alice's own account URL with Globex's recipient id.
    for name in ("account_recipient_edit", "account_recipient_delete"):
        url = reverse(name, args=[personas.a.pk, theirs.pk])
        assert alice.get(url).status_code == 404
        assert alice.post(url, {"email": "x@acme.test", "exceptions": "on"}).status_code == 404
        assert charlie.get(reverse(name, args=[personas.b.pk, ours.pk])).status_code == 404
        assert charlie.post(reverse(name, args=[personas.a.pk, ours.pk])).status_code == 404
    assert Recipient.objects.filter(pk=theirs.pk, email="globex-ops@globex.test").exists()
    assert Recipient.objects.filter(pk=ours.pk).exists()
    # And the list shows only the account's own.
    html = alice.get(page(personas.a.pk)).content.decode()
    assert "acme-ops@acme.test" in html and "globex-ops@globex.test" not in html
    assert not audit_lines(personas.a.pk) and not audit_lines(personas.b.pk)


def test_report_settings_are_saved_and_audited(personas: Personas) -> None:
    client = personas.client(personas.alice)
    data = {"format": "failures", "delivery": "link", "frequency": "weekly", "only_on_failure": "on"}
    assert client.post(page(personas.a.pk), data).status_code == 302
    saved = ReportSettings.objects.get(account=personas.a)
    assert (saved.format, saved.delivery, saved.frequency, saved.only_on_failure) == (
        "failures",
        "link",
        "weekly",
        True,
    )
    (line,) = audit_lines(personas.a.pk)
    assert line.startswith("Report settings changed:")
    assert "Task overview → Failure details" in line and "Daily → Weekly (Mondays)" in line
    assert "CSV attachment → Download link" in line
    # Saving without a change records nothing; a bad choice is refused.
    assert client.post(page(personas.a.pk), data).status_code == 302
    assert len(audit_lines(personas.a.pk)) == 1
    response = client.post(page(personas.a.pk), {**data, "frequency": "hourly"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert ReportSettings.objects.get(account=personas.a).frequency == "weekly"
    # Another account's settings cannot be written from here.
    assert personas.client(personas.charlie).post(page(personas.a.pk), data).status_code == 404
    assert not ReportSettings.objects.filter(account=personas.b).exists()


def test_addresses_default_to_the_account_for_summary_and_exceptions(personas: Personas) -> None:
    account = personas.a
    assert addresses(account, SUMMARY) == [(account.email, account.name)]
    assert addresses(account, EXCEPTIONS) == [(account.email, account.name)]
    for kind in (RECOVERY, DISCOVERY, SMART_ALERTS):
        assert addresses(account, kind) == []
    Recipient.objects.create(
        account=account,
        email="b@acme.test",
        name="B",
        smart_alerts=True,
        exceptions=False,
        summary_report=False,
    )
    Recipient.objects.create(
        account=account, email="a@acme.test", name="A", exceptions=True, summary_report=False
    )
    Recipient.objects.create(account=personas.b, email="c@globex.test", smart_alerts=True, exceptions=True)
    assert addresses(account, SMART_ALERTS) == [("b@acme.test", "B")]
    assert addresses(account, EXCEPTIONS) == [("a@acme.test", "A")]
    assert addresses(account, SUMMARY) == [(account.email, account.name)]
    with pytest.raises(ValueError):
        addresses(account, "sms")
