"""The partner dashboard (P-DASH): tiles that count and filter, the account list's search, filters,
sort and paging, Subscribe on trial accounts only, deletion with the 7-day grace, and that every
persona sees and changes only its own accounts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backstop.audit.models import AuditEvent
from backstop.backups import summary
from backstop.backups.models import BackupTask, Entity
from backstop.billing.models import Invoice, InvoiceLine, Subscription
from backstop.tenancy.models import Account, Partner
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

State = Subscription.State
_numbers = iter(range(90_000, 99_999))


def today() -> date:
    return timezone.now().date()


def sub(account: Account, state: str = State.TRIAL, plan: str = "") -> Subscription:
    subscription, _ = Subscription.objects.update_or_create(
        account=account, defaults={"state": state, "plan": plan}
    )
    return subscription


def entity(
    account: Account, name: str, result: str = "", size: int = 0, status: str = "active", **kw: object
) -> Entity:
    task = BackupTask.objects.filter(account=account).first() or BackupTask.objects.create(
        account=account, service=str(kw.pop("service", "box")), name="Box backup"
    )
    made = Entity.objects.create(
        account=account,
        task=task,
        key=name,
        name=name,
        email=f"{name}@x.test",
        status=status,
        last_result=result,
        size=size,
        **kw,
    )
    summary.refresh([account.pk])  # as the runner does when a backup ends
    return made


def bill(
    partner: Partner, account: Account, amount: int, *, late: bool = False, paid: bool = False
) -> Invoice:
    on = today()
    number = next(_numbers)
    invoice = Invoice.objects.create(
        number=number,
        key=f"test:{number}",
        partner=partner,
        plan="monthly",
        method="invoice",
        issue_date=on - timedelta(days=40),
        due_date=on - timedelta(days=10) if late else on + timedelta(days=20),
        effective_date=on - timedelta(days=70),
        period_end=on - timedelta(days=41),
        currency="USD",
        subtotal=amount,
        total=amount,
        status=Invoice.Status.PAID if paid else Invoice.Status.OPEN,
    )
    InvoiceLine.objects.create(
        invoice=invoice,
        account=account,
        account_name=account.name,
        service="box",
        description="Box",
        unit="user",
        quantity=1,
        unit_price=amount,
        starts_on=on,
        ends_on=on,
        amount=amount,
    )
    return invoice


@dataclass
class Board:
    h: Hierarchy
    accounts: dict[str, Account]

    @property
    def url(self) -> str:
        return reverse("partner_dashboard", args=[self.h.alpha.pk])


@pytest.fixture
def board(hierarchy: Hierarchy) -> Board:
    """Alpha IT's accounts in every state:

    Alpha One    trial, 10 days left       backup successful (2 entities, 3 GB)   billing due $50
    Alpha Two    trial, 3 days left        backup failed                          not billed
    Expired Co   trial ended 2 days ago    no backup                              not billed
    Monthly Co   subscribed monthly        partially failed (one ok, one failed)  overdue $20
    Annual Co    subscribed annual         partial result                         current (paid)
    """
    h = hierarchy
    on = today()
    one, two = h.accounts["Alpha One"], h.accounts["Alpha Two"]
    Account.objects.filter(pk=one.pk).update(trial_ends_on=on + timedelta(days=10))
    Account.objects.filter(pk=two.pk).update(trial_ends_on=on + timedelta(days=3))
    expired = Account.objects.create(
        name="Expired Co", email="it@expired.test", partner=h.alpha, trial_ends_on=on - timedelta(days=2)
    )
    monthly = Account.objects.create(
        name="Monthly Co", email="it@monthly.test", partner=h.alpha, trial_ends_on=None
    )
    annual = Account.objects.create(
        name="Annual Co", email="it@annual.test", partner=h.alpha, trial_ends_on=None
    )
    sub(one), sub(two), sub(expired, State.EXPIRED)
    sub(monthly, State.SUBSCRIBED, "monthly"), sub(annual, State.SUBSCRIBED, "annual")
    entity(one, "ann", "succeeded", 2_000_000_000)
    entity(one, "bob", "succeeded", 1_000_000_000)
    entity(one, "old", "failed", 5, status="archived")  # archived: not in the status
    entity(two, "cid", "failed", 0)
    entity(monthly, "dan", "succeeded", 10)
    entity(monthly, "eve", "failed", 10)
    entity(annual, "fay", "partial", 10)
    bill(h.alpha, one, 5000)
    bill(h.alpha, monthly, 2000, late=True)
    bill(h.alpha, annual, 3000, paid=True)
    names = ("Alpha One", "Alpha Two", "Expired Co", "Monthly Co", "Annual Co")
    found = {a.name: a for a in Account.objects.filter(name__in=names)}
    return Board(h, found)


def counts(html: str) -> dict[str, int]:
    found = re.findall(r'data-testid="count-(\w+-\w+)".*?data-testid="count">(\d+)<', html, re.S)
    return {key: int(n) for key, n in found}


def listed(html: str) -> list[str]:
    rows = re.findall(r'data-testid="account-row".*?title="Open the account">([^<]+)</a>', html, re.S)
    return rows


def test_tiles_count_every_status(board: Board) -> None:
    html = board.h.client(board.h.alan).get(board.url).content.decode()
    assert counts(html) == {
        "account-in_progress": 1,
        "account-expiring": 1,
        "account-expired": 1,
        "backup-none": 1,
        "backup-ok": 1,
        "backup-partial": 2,
        "backup-failed": 1,
        "billing-current": 1,
        "billing-due": 1,
        "billing-overdue": 1,
    }
    amounts = re.findall(r'data-testid="amount">([^<]+)<', html)
    assert amounts == ["$50.00", "$20.00"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"account": "in_progress"}, ["Alpha One"]),
        ({"account": "expiring"}, ["Alpha Two"]),
        ({"account": "expired"}, ["Expired Co"]),
        ({"account": "monthly"}, ["Monthly Co"]),
        ({"backup": "none"}, ["Expired Co"]),
        ({"backup": "ok"}, ["Alpha One"]),
        ({"backup": "partial"}, ["Annual Co", "Monthly Co"]),
        ({"backup": "failed"}, ["Alpha Two"]),
        ({"billing": "current"}, ["Annual Co"]),
        ({"billing": "due"}, ["Alpha One"]),
        ({"billing": "overdue"}, ["Monthly Co"]),
        ({"billing": "none"}, ["Alpha Two", "Expired Co"]),
        ({"q": "monthly.test"}, ["Monthly Co"]),
        ({"q": "co", "backup": "partial", "billing": "overdue"}, ["Monthly Co"]),
    ],
)
def test_each_filter_lists_what_its_tile_counts(
    board: Board, query: dict[str, str], expected: list[str]
) -> None:
    alan = board.h.client(board.h.alan)
    assert listed(alan.get(board.url, query).content.decode()) == expected
    # The htmx fragment (a tile clicked) lists the same.
    fragment = alan.get(board.url, query, headers={"HX-Request": "true"}).content.decode()
    assert listed(fragment) == expected
    assert 'data-testid="tiles"' not in fragment


def test_rows_show_status_size_and_billing(board: Board) -> None:
    html = board.h.client(board.h.alan).get(board.url, {"q": "Alpha One"}).content.decode()
    row = html[html.index('data-testid="account-row"') :]
    assert "Trial in progress" in row and "10 days left" in row
    assert "Successful" in row and "2.8\xa0GB" in row
    assert "Due" in row and "$50.00" in row
    assert reverse("billing_partner_account", args=[board.h.alpha.pk, board.accounts["Alpha One"].pk]) in row
    assert reverse("account_home", args=[board.accounts["Alpha One"].pk]) in row


def test_sorting_and_paging(board: Board, monkeypatch: pytest.MonkeyPatch) -> None:
    alan = board.h.client(board.h.alan)
    by_name = ["Alpha One", "Alpha Two", "Annual Co", "Expired Co", "Monthly Co"]
    assert listed(alan.get(board.url).content.decode()) == by_name
    assert listed(alan.get(board.url, {"sort": "-name"}).content.decode()) == by_name[::-1]
    assert listed(alan.get(board.url, {"sort": "-size"}).content.decode())[:2] == ["Alpha One", "Monthly Co"]
    by_status = listed(alan.get(board.url, {"sort": "status"}).content.decode())
    assert by_status == ["Alpha One", "Alpha Two", "Expired Co", "Monthly Co", "Annual Co"]
    monkeypatch.setattr("backstop.tenancy.views.partner.PAGE_SIZE", 2)
    page2 = alan.get(board.url, {"page": "2"}).content.decode()
    assert listed(page2) == ["Annual Co", "Expired Co"]
    assert "Showing 3\u20134 of 5" in page2


def test_queries_do_not_grow_with_the_accounts(board: Board) -> None:
    alan = board.h.client(board.h.alan)
    alan.get(board.url)
    with CaptureQueriesContext(connection) as few:
        assert alan.get(board.url).status_code == 200
    for i in range(30):
        account = Account.objects.create(name=f"More {i:02}", partner=board.h.alpha)
        sub(account, State.SUBSCRIBED, "monthly")
        entity(account, f"m{i}", "succeeded", 5)
        bill(board.h.alpha, account, 100)
    with CaptureQueriesContext(connection) as many:
        response = alan.get(board.url)
    assert response.status_code == 200 and len(listed(response.content.decode())) == 25
    assert len(many) == len(few)
    with CaptureQueriesContext(connection) as filtered:
        alan.get(
            board.url, {"backup": "ok", "billing": "due", "sort": "-size"}, headers={"HX-Request": "true"}
        )
    assert len(filtered) <= len(few)


def test_bulk_subscribe_changes_only_trial_accounts(board: Board) -> None:
    alan = board.h.client(board.h.alan)
    ids = [board.accounts[n].pk for n in ("Alpha One", "Alpha Two", "Expired Co", "Monthly Co", "Annual Co")]
    stranger = board.h.accounts["Beta One"].pk  # a sibling reseller's: ignored
    response = alan.post(
        reverse("partner_accounts_subscribe", args=[board.h.alpha.pk]),
        {"plan": "annual", "ids": [*ids, stranger]},
        follow=True,
    )
    assert "3 accounts subscribed to the Annual plan; 2 skipped (not a trial)." in response.content.decode()
    plans = dict(
        Subscription.objects.filter(account_id__in=[*ids, stranger]).values_list("account__name", "plan")
    )
    assert plans == {
        "Alpha One": "annual",
        "Alpha Two": "annual",
        "Expired Co": "annual",
        "Monthly Co": "monthly",
        "Annual Co": "annual",
    }
    assert not Subscription.objects.filter(account_id=stranger).exists()
    assert Subscription.objects.get(account=board.accounts["Expired Co"]).state == State.SUBSCRIBED
    audited = AuditEvent.objects.filter(activity="billing_changed", partner=board.h.alpha)
    assert audited.filter(account=board.accounts["Alpha Two"]).exists()
    summary_event = audited.get(account__isnull=True, description__contains="Subscribed 3 trial")
    # The portal's summary names no account: a role limited to some accounts reads it too.
    assert not any(name in summary_event.description for name in ("Alpha One", "Alpha Two", "Expired Co"))
    # No longer trials: the trial tiles count none of them.
    assert counts(alan.get(board.url).content.decode())["account-in_progress"] == 0


def test_subscribe_needs_the_permission_and_the_reach(board: Board) -> None:
    h = board.h
    url = reverse("partner_accounts_subscribe", args=[h.alpha.pk])
    two = board.accounts["Alpha Two"].pk
    # Sam may subscribe, but reaches only Alpha One: Alpha Two is ignored.
    response = h.client(h.sam).post(url, {"plan": "monthly", "ids": [two]}, follow=True)
    assert "0 accounts subscribed" in response.content.decode()
    assert Subscription.objects.get(account_id=two).plan == ""
    assert h.client(h.bea).post(url, {"plan": "monthly", "ids": [two]}).status_code == 404
    assert h.client(h.dora).post(url, {"plan": "monthly", "ids": [two]}).status_code == 403
    owner = h.owners["Alpha Two"]
    assert h.client(owner).post(url, {"plan": "monthly", "ids": [two]}).status_code == 404


def test_delete_asks_then_keeps_the_data_for_the_grace(board: Board) -> None:
    h = board.h
    alan = h.client(h.alan)
    account = board.accounts["Monthly Co"]
    url = reverse("partner_account_delete", args=[h.alpha.pk, account.pk])
    page = alan.get(url).content.decode()
    assert "Type the account name" in page and "7 days" in page
    alan.post(url, {"confirm": "wrong"})
    assert Account.objects.get(pk=account.pk).removal_requested_at is None
    response = alan.post(url, {"confirm": "Monthly Co"}, follow=True)
    assert "Monthly Co is scheduled for deletion" in response.content.decode()
    account.refresh_from_db()
    assert account.removal_requested_at is not None and account.removal_requested_by == h.alan
    assert 'data-testid="removal-scheduled"' in alan.get(board.url, {"q": "Monthly"}).content.decode()
    assert AuditEvent.objects.filter(account=account, partner=h.alpha, activity="settings_changed").exists()
    cancel = reverse("partner_account_cancel_delete", args=[h.alpha.pk, account.pk])
    alan.post(cancel)
    account.refresh_from_db()
    assert account.removal_requested_at is None


def test_delete_is_404_out_of_reach_and_403_without_the_role(board: Board) -> None:
    h = board.h
    one = h.accounts["Alpha One"]
    beta_one = h.accounts["Beta One"]
    # Alan (Alpha's administrator) cannot reach Beta's account through Alpha's portal or Beta's.
    assert (
        h.client(h.alan)
        .post(reverse("partner_account_delete", args=[h.alpha.pk, beta_one.pk]), {"confirm": "Beta One"})
        .status_code
        == 404
    )
    assert (
        h.client(h.alan).get(reverse("partner_account_delete", args=[h.beta.pk, beta_one.pk])).status_code
        == 404
    )
    # Sam is a custom user: deleting is for administrators.
    assert (
        h.client(h.sam).get(reverse("partner_account_delete", args=[h.alpha.pk, one.pk])).status_code == 403
    )
    assert (
        h.client(h.owners["Alpha One"])
        .get(reverse("partner_account_delete", args=[h.alpha.pk, one.pk]))
        .status_code
        == 404
    )
    assert Account.objects.filter(removal_requested_at__isnull=False).count() == 0


def test_subset_user_sees_only_their_accounts_in_tiles_and_list(board: Board) -> None:
    h = board.h
    html = h.client(h.sam).get(board.url).content.decode()
    assert listed(html) == ["Alpha One"]
    assert sum(n for key, n in counts(html).items() if key.startswith("backup-")) == 1
    for other in ("Alpha Two", "Expired Co", "Monthly Co", "Annual Co", "Beta One"):
        assert other not in html
    # A distributor sees its resellers' accounts; a sibling reseller sees none of Alpha's.
    assert "Monthly Co" in h.client(h.gina).get(board.url).content.decode()
    assert h.client(h.bea).get(board.url).status_code == 404


def test_add_account_button_for_those_who_may_add(board: Board) -> None:
    h = board.h
    assert 'data-testid="add-account"' in h.client(h.alan).get(board.url).content.decode()
    client = Client()
    client.force_login(h.sam)
    assert 'data-testid="add-account"' in client.get(board.url).content.decode()


def test_a_distributor_sees_which_reseller_holds_each_account_and_filters_by_it(board: Board) -> None:
    h = board.h
    url = reverse("partner_dashboard", args=[h.globalnet.pk])
    client = h.client(h.gina)
    html = client.get(url).content.decode()
    assert 'data-testid="filter-reseller"' in html
    options = re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', html)
    assert {name for _, name in options} == {"Alpha IT", "Beta IT"}  # never Solo Services
    holders = dict(
        re.findall(r'title="Open the account">([^<]+)</a>.*?data-testid="reseller">(.*?)</td>', html, re.S)
    )
    assert holders["Alpha One"] == "Alpha IT" and holders["Beta Two"] == "Beta IT"
    assert "Globalnet" in holders["Globalnet Labs"]  # its own account: the portal's name, greyed

    only_alpha = client.get(url, {"reseller": h.alpha.pk}).content.decode()
    assert set(listed(only_alpha)) == h.names_under(h.alpha) | {"Expired Co", "Monthly Co", "Annual Co"}
    # Another branch's partner, or one's own parent, matches nothing: never their accounts.
    assert listed(client.get(url, {"reseller": h.solo.pk}).content.decode()) == []
    alpha_board = h.client(h.alan).get(
        reverse("partner_dashboard", args=[h.alpha.pk]), {"reseller": h.globalnet.pk}
    )
    assert listed(alpha_board.content.decode()) == []


def test_a_reseller_without_partners_below_has_no_reseller_column(board: Board) -> None:
    html = board.h.client(board.h.alan).get(board.url).content.decode()
    assert 'data-testid="filter-reseller"' not in html and "<th>Reseller</th>" not in html
