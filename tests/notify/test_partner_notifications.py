"""A partner's Settings > Notifications (P-NOTIFY): the page and its tenancy, the report on the
partner's customers (one consolidated file or one per customer, attached or linked), the daily
trial accounts report, and the customers' notices reaching the partner's recipients. E-mails are
read back from the outbox as a mail client would."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backstop.audit.models import AuditEvent
from backstop.backups.models import BackupTask, Entity, Job
from backstop.billing.models import Subscription
from backstop.notify import notices, partner_reports, reports
from backstop.notify.models import Recipient, ReportSettings
from backstop.notify.recipients import EXCEPTIONS, RECOVERY, SMART_ALERTS, SUMMARY, addresses
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from tests.conftest import Personas
from tests.factories import AccountFactory, MembershipFactory, PartnerFactory, UserFactory
from tests.helpers import body_of, messages_to, newest_link
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db

OPS = "ops@northwind.test"


@pytest.fixture(autouse=True)
def _base_url(settings: object) -> None:
    settings.BACKSTOP_BASE_URL = "https://backstop.example.test"  # type: ignore[attr-defined]


def csv_rows(content: str | bytes) -> list[dict[str, str]]:
    text = content.decode() if isinstance(content, bytes) else content
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def attachments(message: EmailMessage) -> dict[str, list[dict[str, str]]]:
    return {str(part.get_filename()): csv_rows(part.get_content()) for part in message.iter_attachments()}


def backed_up(account: Account, entity_names: list[str], status: str, ended: object) -> BackupTask:
    """A Box task of `account` whose entities each had one backup ending at `ended`."""
    task = BackupTask.objects.create(account=account, service="box", name=f"{account.name} Box")
    for name in entity_names:
        entity = Entity.objects.create(
            account=account, task=task, key=f"k-{name}", name=name, email=f"{name.lower()}@x.test"
        )
        Job.objects.create(
            account=account,
            task=task,
            entity=entity,
            kind=Job.Kind.BACKUP,
            status=status,
            error="Source refused the token" if status == Job.Status.FAILED else "",
            started_at=ended,
            ended_at=ended,
        )
    return task


class World:
    """Northwind (personas.partner) with Acme and Globex backed up, and a sibling partner Contoso
    with its customer Umbrella; the period is yesterday (UTC)."""

    def __init__(self, personas: Personas) -> None:
        self.now = timezone.now()
        self.period = reports.Period.ended_before(self.now, ReportSettings.Frequency.DAILY)
        during = self.period.start + timedelta(hours=3)
        old = self.now - timedelta(days=5)
        self.northwind = personas.partner
        self.sibling = PartnerFactory(name="Contoso", email="billing@contoso.test")
        Partner.objects.filter(pk__in=[self.northwind.pk, self.sibling.pk]).update(created_at=old)
        self.umbrella = AccountFactory(name="Umbrella", partner=self.sibling, email="it@umbrella.test")
        backed_up(personas.a, ["Anna", "Arne"], Job.Status.SUCCEEDED, during)
        backed_up(personas.b, ["Gus"], Job.Status.FAILED, during)
        backed_up(self.umbrella, ["Uma"], Job.Status.SUCCEEDED, during)
        Recipient.objects.create(partner=self.northwind, email=OPS, name="Ops", summary_report=True)
        self.settings = ReportSettings.objects.create(partner=self.northwind)


def test_the_consolidated_report_holds_every_customer_of_the_partner_in_one_file(
    personas: Personas, outbox: Path
) -> None:
    world = World(personas)

    assert partner_reports.send_due(world.now) == 2  # Northwind, and Contoso at its own address

    (message,) = messages_to(outbox, OPS)
    assert "customers of Northwind IT" in str(message["Subject"])
    assert "1 customer(s) with failures" in str(message["Subject"])
    files = attachments(message)
    (rows,) = files.values()
    assert {(r["Account"], r["Entity"], r["Result in period"]) for r in rows} == {
        ("Acme", "Anna", "Succeeded"),
        ("Acme", "Arne", "Succeeded"),
        ("Globex", "Gus", "Failed"),
    }
    body = body_of(message)
    assert "Acme" in body and "Globex" in body and "Umbrella" not in body
    # The sibling partner's report, to its own address, has its own customer only.
    (theirs,) = messages_to(outbox, "billing@contoso.test")
    (their_rows,) = attachments(theirs).values()
    assert {r["Account"] for r in their_rows} == {"Umbrella"}
    # The same period is never reported twice.
    assert partner_reports.send_due(world.now + timedelta(minutes=5)) == 0
    assert len(messages_to(outbox, OPS)) == 1


def test_one_file_per_customer_when_the_partner_chooses_it(personas: Personas, outbox: Path) -> None:
    world = World(personas)
    world.settings.layout = ReportSettings.Layout.PER_CUSTOMER
    world.settings.save()

    partner_reports.send_due(world.now)

    (message,) = messages_to(outbox, OPS)
    files = attachments(message)
    assert len(files) == 2
    by_entity = {name: {r["Entity"] for r in rows} for name, rows in files.items()}
    acme = next(name for name in files if "acme" in name)
    globex = next(name for name in files if "globex" in name)
    assert by_entity[acme] == {"Anna", "Arne"}
    assert by_entity[globex] == {"Gus"}
    assert "Account" not in files[acme][0]  # a customer's own file, like the account's report
    assert all("umbrella" not in name for name in files)


def test_only_on_failure_sends_nothing_for_a_clean_period(personas: Personas, outbox: Path) -> None:
    world = World(personas)
    Job.objects.filter(account=personas.b).update(status=Job.Status.SUCCEEDED, error="")
    world.settings.only_on_failure = True
    world.settings.save()

    partner_reports.send_due(world.now)

    assert messages_to(outbox, OPS) == []


def test_report_links_open_for_partner_users_within_their_own_reach(personas: Personas, outbox: Path) -> None:
    world = World(personas)
    world.settings.delivery = ReportSettings.Delivery.LINK
    world.settings.save()
    partner_reports.send_due(world.now)
    link, message = newest_link(outbox, OPS, "/report/")
    assert not list(message.iter_attachments())

    admin = UserFactory(email="paula@northwind.test")
    MembershipFactory(user=admin, partner=world.northwind, role=Membership.Role.ADMIN)
    full = Client()
    full.force_login(admin)
    response = full.get(link)
    assert response.status_code == 200
    rows = csv_rows(b"".join(response.streaming_content))  # type: ignore[attr-defined]
    assert {r["Account"] for r in rows} == {"Acme", "Globex"}

    # Pat may open Acme only: the same link gives Acme's lines and nothing of Globex.
    pat = personas.client(personas.pat)
    rows = csv_rows(b"".join(pat.get(link).streaming_content))  # type: ignore[attr-defined]
    assert {r["Account"] for r in rows} == {"Acme"}
    # One customer's file of an account out of Pat's reach is not found.
    globex_token = partner_reports.link_token(world.northwind, world.period, personas.b)
    globex_url = reverse("partner_report_download", args=[world.northwind.pk, globex_token])
    assert pat.get(globex_url).status_code == 404
    assert full.get(globex_url).status_code == 200
    # A customer's own user and another partner's user: not found; a forged token: not found.
    assert personas.client(personas.alice).get(link).status_code == 404
    stranger = UserFactory(email="sam@contoso.test")
    MembershipFactory(user=stranger, partner=world.sibling, role=Membership.Role.ADMIN)
    other = Client()
    other.force_login(stranger)
    assert other.get(link).status_code == 404
    sibling_url = reverse("partner_report_download", args=[world.sibling.pk, link.rsplit("/", 2)[-2]])
    assert other.get(sibling_url).status_code == 404  # the token names Northwind
    forged = reverse("partner_report_download", args=[world.northwind.pk, "1:0:0:0:forged"])
    assert full.get(forged).status_code == 404


def test_the_trial_accounts_report_lists_the_partners_trials_daily(personas: Personas, outbox: Path) -> None:
    today = timezone.now().date()
    Account.objects.filter(pk=personas.a.pk).update(trial_ends_on=today + timedelta(days=10))
    Account.objects.filter(pk=personas.b.pk).update(trial_ends_on=today + timedelta(days=3))
    AccountFactory(
        name="Hooli", partner=personas.partner, email="it@hooli.test", trial_ends_on=today - timedelta(days=2)
    )
    paid = AccountFactory(name="Paid Co", partner=personas.partner, trial_ends_on=today - timedelta(days=20))
    Subscription.objects.create(account=paid, state=Subscription.State.SUBSCRIBED, plan="monthly")
    sibling = PartnerFactory(name="Contoso")
    AccountFactory(name="Umbrella", partner=sibling, trial_ends_on=today + timedelta(days=1))
    Recipient.objects.create(
        partner=sibling, email="ops@contoso.test", trial_report=True, summary_report=False
    )
    Recipient.objects.create(
        partner=personas.partner,
        email="sales@northwind.test",
        name="Sales",
        trial_report=True,
        summary_report=False,
    )
    Recipient.objects.create(
        partner=personas.partner, email=OPS, summary_report=True
    )  # not ticked for trials

    assert partner_reports.send_due_trial_reports() == 2

    (message,) = messages_to(outbox, "sales@northwind.test")
    assert "1 in progress, 1 expiring, 1 expired" in str(message["Subject"])
    (rows,) = attachments(message).values()
    assert [(r["Account"], r["State"]) for r in rows] == [
        ("Hooli", "Expired"),
        ("Globex", "Expiring"),
        ("Acme", "In progress"),
    ]
    hooli = rows[0]
    assert hooli["E-mail"] == "it@hooli.test" and hooli["Trial ends"] == str(today - timedelta(days=2))
    body = body_of(message)
    assert "Globex" in body and "3 days left" in body
    assert "Umbrella" not in body and "Paid Co" not in body
    assert messages_to(outbox, OPS) == []
    (theirs,) = messages_to(outbox, "ops@contoso.test")
    assert [r["Account"] for r in next(iter(attachments(theirs).values()))] == ["Umbrella"]
    # Once a day.
    assert partner_reports.send_due_trial_reports() == 0
    assert len(messages_to(outbox, "sales@northwind.test")) == 1


def test_customers_notices_reach_the_partner_recipients_while_the_partner_has_access(
    personas: Personas,
) -> None:
    sibling = PartnerFactory(name="Contoso")
    Recipient.objects.create(
        partner=personas.partner, email=OPS, summary_report=True, exceptions=True, recovery=True
    )
    Recipient.objects.create(partner=sibling, email="ops@contoso.test", exceptions=True, recovery=True)

    assert (OPS, "") in addresses(personas.a, EXCEPTIONS)
    assert (OPS, "") in addresses(personas.a, RECOVERY)
    assert personas.a.email in dict(addresses(personas.a, EXCEPTIONS))  # the customer keeps its own
    assert OPS not in dict(addresses(personas.a, SUMMARY))  # the partner has its own report
    assert OPS not in dict(addresses(personas.a, SMART_ALERTS))
    assert "ops@contoso.test" not in dict(addresses(personas.a, EXCEPTIONS))
    personas.a.partner_access = False
    personas.a.save()
    assert OPS not in dict(addresses(personas.a, EXCEPTIONS))


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def test_a_partner_recipient_is_told_which_partner_and_customer_a_notice_is_for(
    hierarchy: Hierarchy, outbox: Path
) -> None:
    alpha_one = hierarchy.account("Alpha One")
    task = BackupTask.objects.create(account=alpha_one, service="box", name="Alpha One Box")
    Recipient.objects.create(account=alpha_one, email="it@alpha-one.test", exceptions=True)
    Recipient.objects.create(partner=hierarchy.alpha, email="ops@alpha.test", exceptions=True)
    Recipient.objects.create(partner=hierarchy.globalnet, email="noc@globalnet.test", exceptions=True)
    Recipient.objects.create(partner=hierarchy.beta, email="ops@beta.test", exceptions=True)
    # On both the reseller's and the distributor's lists: one e-mail, as the nearest one's recipient.
    Recipient.objects.create(partner=hierarchy.alpha, email="shared@msp.test", exceptions=True)
    Recipient.objects.create(partner=hierarchy.globalnet, email="shared@msp.test", exceptions=True)

    assert notices.task_disconnected(task, "The token was revoked.") == 4
    assert messages_to(outbox, "ops@beta.test") == []  # a sibling reseller hears nothing

    base = "https://backstop.example.test"
    alpha_settings = base + reverse("partner_notifications", args=[hierarchy.alpha.pk])
    globalnet_settings = base + reverse("partner_notifications", args=[hierarchy.globalnet.pk])
    account_settings = base + reverse("account_notifications", args=[alpha_one.pk])

    (own,) = messages_to(outbox, "it@alpha-one.test")
    assert "notification recipient of the Backstop account “Alpha One”" in html_of(own)
    assert f'"Alpha One". Notification settings: {account_settings}' in body_of(own)

    for address in ("ops@alpha.test", "shared@msp.test"):
        (reseller,) = messages_to(outbox, address)
        expected = "recipient of the Backstop partner “Alpha IT” for its customer “Alpha One”"
        assert expected in html_of(reseller)
        assert f'href="{alpha_settings}"' in html_of(reseller)
        text = body_of(reseller)
        assert 'recipient of the Backstop partner "Alpha IT" for its customer "Alpha One"' in text
        assert f"Settings > Notifications in the partner portal): {alpha_settings}" in text
        # The customer's own settings are not where a partner's recipient is changed.
        assert account_settings not in text and account_settings not in html_of(reseller)

    (distributor,) = messages_to(outbox, "noc@globalnet.test")
    expected = "partner “Globalnet” for “Alpha One”, a customer of its reseller “Alpha IT”"
    assert expected in html_of(distributor)
    assert f'href="{globalnet_settings}"' in html_of(distributor)
    expected = 'partner "Globalnet" for "Alpha One", a customer of its reseller "Alpha IT"'
    assert expected in body_of(distributor)
    assert globalnet_settings in body_of(distributor)


# -- the page -----------------------------------------------------------------------------------


def page_url(partner: Partner) -> str:
    return reverse("partner_notifications", args=[partner.pk])


def admin_of(partner: Partner, email: str = "paula@northwind.test") -> Client:
    user = UserFactory(email=email)
    MembershipFactory(user=user, partner=partner, role=Membership.Role.ADMIN)
    client = Client()
    client.force_login(user)
    return client


def test_the_partner_sets_the_report_and_adds_a_trial_report_recipient(personas: Personas) -> None:
    paula = admin_of(personas.partner)

    page = paula.get(page_url(personas.partner)).content.decode()
    assert "Consolidated file" in page and "One file per customer" in page
    assert "Trial accounts report" in page
    assert personas.partner.email in page  # where the report goes while nobody is ticked

    response = paula.post(
        page_url(personas.partner),
        {"format": "overview", "delivery": "link", "layout": "per_customer", "frequency": "weekly"},
    )
    assert response.status_code == 302
    saved = ReportSettings.objects.get(partner=personas.partner)
    assert (saved.layout, saved.delivery, saved.frequency) == ("per_customer", "link", "weekly")

    new = reverse("partner_recipient_new", args=[personas.partner.pk])
    response = paula.post(new, {"email": "Sales@Northwind.test", "name": "Sales", "trial_report": "on"})
    assert response.status_code == 302
    recipient = Recipient.objects.get(partner=personas.partner)
    assert (recipient.email, recipient.trial_report, recipient.summary_report) == (
        "sales@northwind.test",
        True,
        False,
    )
    assert Recipient.objects.filter(account__isnull=False).count() == 0
    again = paula.post(new, {"email": "sales@northwind.test", "summary_report": "on"})
    assert "already a recipient of this partner" in again.content.decode()
    page = paula.get(page_url(personas.partner)).content.decode()
    assert "sales@northwind.test" in page

    edit = reverse("partner_recipient_edit", args=[personas.partner.pk, recipient.pk])
    delete = reverse("partner_recipient_delete", args=[personas.partner.pk, recipient.pk])
    assert f'href="{edit}"' in page and f'href="{delete}"' in page  # the row's buttons, the partner's pages
    assert "Send notifications to" in page
    paula.post(
        edit, {"email": "sales@northwind.test", "name": "Sales", "trial_report": "on", "exceptions": "on"}
    )
    recipient.refresh_from_db()
    assert recipient.exceptions
    # The recipient pages are the account's, with the partner's tabs, way back and name.
    back = f'href="{page_url(personas.partner)}">Cancel</a>'
    form = paula.get(edit).content.decode()
    assert back in form and 'data-testid="settings-tabs"' in form and "your accounts in their trial" in form
    delete = reverse("partner_recipient_delete", args=[personas.partner.pk, recipient.pk])
    confirm = paula.get(delete).content.decode()
    assert back in confirm and f"notifications of {personas.partner.name}" in confirm
    paula.post(delete)
    assert not Recipient.objects.filter(partner=personas.partner).exists()

    described = list(
        AuditEvent.objects.filter(
            partner=personas.partner, account__isnull=True, activity="notifications_changed"
        )
        .order_by("pk")
        .values_list("description", flat=True)
    )
    assert len(described) == 4
    assert "One file per customer" in described[0]
    assert "trial accounts report" in described[1]
    assert "removed" in described[3]


def test_notifications_page_and_recipients_stay_within_the_partner(personas: Personas) -> None:
    sibling = PartnerFactory(name="Contoso")
    theirs = Recipient.objects.create(partner=sibling, email="ops@contoso.test", summary_report=True)
    account_row = Recipient.objects.create(account=personas.a, email="alice-ops@acme.test")
    paula = admin_of(personas.partner)
    northwind = personas.partner.pk

    assert paula.get(page_url(sibling)).status_code == 404
    for recipient in (theirs, account_row):
        assert paula.get(reverse("partner_recipient_edit", args=[northwind, recipient.pk])).status_code == 404
        response = paula.post(reverse("partner_recipient_delete", args=[northwind, recipient.pk]))
        assert response.status_code == 404
    assert Recipient.objects.filter(pk__in=[theirs.pk, account_row.pk]).count() == 2
    assert "ops@contoso.test" not in paula.get(page_url(personas.partner)).content.decode()

    # Pat's role lacks "Manage notifications": refused; with it, allowed.
    pat = personas.client(personas.pat)
    assert pat.get(page_url(personas.partner)).status_code == 403
    assert (
        pat.post(reverse("partner_recipient_new", args=[northwind]), {"email": "x@y.test"}).status_code == 403
    )
    personas.pat_membership.operations = [*personas.pat_membership.operations, perms.PARTNER_NOTIFICATIONS]
    personas.pat_membership.save()
    assert pat.get(page_url(personas.partner)).status_code == 200
    # A customer's administrator is not a partner member.
    assert personas.client(personas.alice).get(page_url(personas.partner)).status_code == 404
    assert Client().get(page_url(personas.partner)).status_code == 302  # to sign-in


def test_the_failure_details_name_the_customer_and_the_error(personas: Personas, outbox: Path) -> None:
    world = World(personas)
    world.settings.format = ReportSettings.Format.FAILURES
    world.settings.save()

    partner_reports.send_due(world.now)

    (message,) = messages_to(outbox, OPS)
    body = body_of(message)
    assert "Globex / Globex Box / Gus" in body and "Source refused the token" in body
    assert "Anna" not in body  # a clean entity is not a failure detail
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None and "Source refused the token" in str(html_part.get_content())  # type: ignore[attr-defined]


def test_a_distributors_report_covers_its_resellers_customers_and_a_reseller_only_its_own(
    hierarchy: Hierarchy, outbox: Path
) -> None:
    now = timezone.now()
    period = reports.Period.ended_before(now, ReportSettings.Frequency.DAILY)
    Partner.objects.update(created_at=now - timedelta(days=5))
    for name, account in hierarchy.accounts.items():
        backed_up(account, [name.replace(" ", "")], Job.Status.SUCCEEDED, period.start + timedelta(hours=1))

    partner_reports.send_due(now)

    def accounts_in(address: str) -> set[str]:
        (message,) = messages_to(outbox, address)
        (rows,) = attachments(message).values()
        return {r["Account"] for r in rows}

    assert accounts_in("billing@globalnet.test") == hierarchy.names_under(hierarchy.globalnet)
    assert accounts_in("billing@alpha.test") == {"Alpha One", "Alpha Two"}
    assert accounts_in("billing@beta.test") == {"Beta One", "Beta Two"}
    assert accounts_in("billing@solo.test") == {"Solo One", "Solo Two"}
