"""A partner's reports (P-NOTIFY): the summary report on its customers and the trial accounts report.

**Summary report.** For each partner whose period ended, one e-mail to its summary recipients
(else `Partner.email`) covering every customer account the partner reaches (`reach_of` of an
administrator's membership: the dashboard's rule) that has a live backup task. The entity lines
are the account report's (`reports.build`), either in one consolidated CSV with the account in
the first columns or in one CSV per customer; attached, or behind signed links that open for
signed-in members of the partner, each seeing only the accounts its own role reaches. Periods,
"only on failure", the claim by one conditional UPDATE and the catch-up after a pause work as
for an account's report.

**Trial accounts report.** Once a day, to the recipients with "Trial accounts report" ticked:
each account of the partner still in its trial (in progress, expiring, expired) with its e-mail
and trial end, in the e-mail and as a CSV. Nothing is sent while the partner has no trial account.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from backstop.backups.models import BackupTask
from backstop.billing.models import Subscription
from backstop.billing.subscriptions import trial_info
from backstop.notify import mailer, reports
from backstop.notify.models import ReportSettings
from backstop.notify.recipients import SUMMARY, TRIAL, partner_addresses
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import reach_of
from backstop.web import csvexport

log = logging.getLogger(__name__)

LINK_SALT = "backstop.notify.partner-report-download"
F = ReportSettings.Frequency
L = ReportSettings.Layout
TRIAL_STATES = {"in_progress": "In progress", "expiring": "Expiring", "expired": "Expired"}
TRIAL_HEADER = ("Account", "E-mail", "Trial ends", "State", "Days left")


def reached_accounts(partner: Partner) -> QuerySet[Account]:
    """Every customer account the partner reaches, as its administrators see them."""
    admin = Membership(partner=partner, role=Membership.Role.ADMIN, all_accounts=True)
    return Account.objects.filter(reach_of(admin)).distinct()


# -- the summary report -------------------------------------------------------------------------


@dataclass
class PartnerReport:
    partner: Partner
    period: reports.Period
    accounts: list[reports.Report]

    @property
    def failures(self) -> int:
        return sum(len(report.failures) for report in self.accounts)

    @property
    def accounts_with_failures(self) -> list[reports.Report]:
        return [report for report in self.accounts if report.failures]

    @property
    def all_clear(self) -> bool:
        return not self.failures

    def csv_rows(self) -> Iterator[tuple[Any, ...]]:
        """All customers in one file: the account's name and e-mail before each entity line."""
        yield ("Account", "Account e-mail", *reports.CSV_HEADER)
        for report in self.accounts:
            rows = report.csv_rows()
            next(rows)  # the account file's header
            for row in rows:
                yield (report.account.name, report.account.email, *row)

    def csv_filename(self) -> str:
        start, end = self.period.start, self.period.end
        return f"backstop-customers-report-{self.partner.pk}-{start:%Y%m%d}-{end:%Y%m%d}.csv"


def customer_filename(report: reports.Report) -> str:
    """One customer's file: its name in the file name, so a folder of them reads well."""
    name = slugify(report.account.name)[:40] or "account"
    start, end = report.period.start, report.period.end
    return f"backstop-report-{name}-{report.account.pk}-{start:%Y%m%d}-{end:%Y%m%d}.csv"


def build(
    partner: Partner, period: reports.Period, accounts: QuerySet[Account] | None = None
) -> PartnerReport:
    """The report over the accounts with a live backup task among `accounts` (default: all the
    partner reaches), by account name."""
    live_tasks = BackupTask.objects.filter(account=OuterRef("pk"), deleted_at__isnull=True)
    chosen = (reached_accounts(partner) if accounts is None else accounts).filter(Exists(live_tasks))
    return PartnerReport(
        partner, period, [reports.build(account, period) for account in chosen.order_by("name", "pk")]
    )


# -- download links -----------------------------------------------------------------------------


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=LINK_SALT)


def link_token(partner: Partner, period: reports.Period, account: Account | None = None) -> str:
    """The partner, the period and, for one customer's file, the account (0 for all)."""
    start, end = int(period.start.timestamp()), int(period.end.timestamp())
    value = f"{partner.pk}:{account.pk if account else 0}:{start}:{end}"
    return _signer().sign(value)


def read_token(token: str) -> tuple[int, int, reports.Period]:
    """(partner id, account id or 0, period); raises `signing.BadSignature` (or `SignatureExpired`)."""
    value = _signer().unsign(token, max_age=timedelta(days=reports.LINK_DAYS))
    try:
        partner_id, account_id, start, end = (int(part) for part in value.split(":"))
    except ValueError:
        raise signing.BadSignature("malformed report link") from None
    period = reports.Period(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
    return partner_id, account_id, period


def link_for(partner: Partner, period: reports.Period, account: Account | None = None) -> str:
    token = link_token(partner, period, account)
    return mailer.absolute(reverse("partner_report_download", args=[partner.pk, token]))


# -- sending the summary report -----------------------------------------------------------------


def settings_of(partner: Partner) -> ReportSettings:
    found: ReportSettings | None = ReportSettings.objects.filter(partner=partner).first()
    return found or ReportSettings(partner=partner)


def send(partner: Partner, report_settings: ReportSettings, period: reports.Period) -> int:
    """Sends the report of `period` to the partner's summary recipients; returns the number of
    messages (0 without customers being backed up, or when "only on failure" and all is well)."""
    report = build(partner, period)
    if not report.accounts or (report_settings.only_on_failure and report.all_clear):
        return 0
    per_customer = report_settings.layout == L.PER_CUSTOMER
    links: list[tuple[str, str]] = []
    attachments: list[tuple[str, str, str]] = []
    if report_settings.delivery == ReportSettings.Delivery.LINK:
        if per_customer:
            links = [(r.account.name, link_for(partner, period, r.account)) for r in report.accounts]
        else:
            links = [("All customers", link_for(partner, period))]
    elif per_customer:
        attachments = [
            (customer_filename(r), csvexport.text(r.csv_rows()), "text/csv") for r in report.accounts
        ]
    else:
        attachments = [(report.csv_filename(), csvexport.text(report.csv_rows()), "text/csv")]
    troubled = len(report.accounts_with_failures)
    status = f"{troubled} customer(s) with failures" if troubled else "all backups succeeded"
    subject = f"Backup report for the customers of {partner.name}, {period.label()}: {status}"
    context = {
        "partner": partner,
        "report": report,
        "settings": report_settings,
        "failures_only": report_settings.format == ReportSettings.Format.FAILURES,
        "per_customer": per_customer,
        "links": links,
        "link_days": reports.LINK_DAYS,
        "home_url": mailer.absolute(reverse("partner_dashboard", args=[partner.pk])),
        "settings_url": mailer.absolute(reverse("partner_notifications", args=[partner.pk])),
    }
    return mailer.send(
        partner_addresses(partner, SUMMARY), subject, "notify/email/partner_report", context, attachments
    )


def _claim(row: ReportSettings, field: str, now: datetime) -> bool:
    """Marks the period as reported in `field`; False when another run did it first."""
    previous = getattr(row, field)
    claimed = ReportSettings.objects.filter(pk=row.pk, **{field: previous})
    if previous is None:
        claimed = ReportSettings.objects.filter(pk=row.pk, **{f"{field}__isnull": True})
    if not claimed.update(**{field: now}):
        return False
    setattr(row, field, now)
    return True


def _unclaim(row: ReportSettings, field: str, previous: datetime | None, now: datetime) -> None:
    ReportSettings.objects.filter(pk=row.pk, **{field: now}).update(**{field: previous})


def _saved(row: ReportSettings) -> bool:
    """The defaults, saved so that a claim has a row; False when another run saved them first."""
    if row.pk is not None:
        return True
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        return False
    return True


def due_partners(now: datetime) -> Iterator[tuple[Partner, ReportSettings]]:
    """Partners whose report period ended since their last report."""
    existing = {s.partner_id: s for s in ReportSettings.objects.filter(partner__isnull=False)}
    for partner in Partner.objects.order_by("pk"):
        row = existing.get(partner.pk) or ReportSettings(partner=partner)
        start = reports.period_start(now, row.frequency)
        if (row.last_sent_at or partner.created_at) < start:
            yield partner, row


def send_due(now: datetime | None = None) -> int:
    """Sends every partner report that is due; returns how many partners were reported on."""
    now = now or timezone.now()
    done = 0
    for partner, row in due_partners(now):
        if not _saved(row):
            continue
        previous = row.last_sent_at
        if not _claim(row, "last_sent_at", now):
            continue
        try:
            send(partner, row, reports.Period.ended_before(now, row.frequency))
        except Exception:
            log.exception("the report of partner %s could not be sent; tried again next run", partner.pk)
            _unclaim(row, "last_sent_at", previous, now)
            continue
        done += 1
    return done


# -- the trial accounts report ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrialLine:
    account: Account
    state: str
    ends_on: date | None
    days_left: int

    @property
    def state_label(self) -> str:
        return TRIAL_STATES[self.state]


def trial_lines(
    partner: Partner, on: date | None = None, accounts: QuerySet[Account] | None = None
) -> list[TrialLine]:
    """The partner's accounts still in their trial (in progress, expiring, expired), by trial end."""
    chosen = reached_accounts(partner) if accounts is None else accounts
    lines = []
    rows = chosen.filter(trial_ends_on__isnull=False).select_related("subscription")
    for account in rows.order_by("trial_ends_on", "name", "pk"):
        try:
            subscription = account.subscription
        except Subscription.DoesNotExist:
            subscription = Subscription(account=account)
        info = trial_info(account, subscription, on)
        if info.state in TRIAL_STATES:
            lines.append(TrialLine(account, info.state, info.ends_on, info.days_left))
    return lines


def trial_csv_rows(lines: list[TrialLine]) -> Iterator[tuple[Any, ...]]:
    yield TRIAL_HEADER
    for line in lines:
        days = line.days_left if line.state != "expired" else 0
        yield (line.account.name, line.account.email, line.ends_on, line.state_label, days)


def send_trial_report(partner: Partner, on: date) -> int:
    lines = trial_lines(partner, on)
    if not lines:
        return 0
    counts = {state: sum(1 for line in lines if line.state == state) for state in TRIAL_STATES}
    summary = ", ".join(f"{counts[state]} {label.lower()}" for state, label in TRIAL_STATES.items())
    subject = f"Trial accounts of {partner.name}, {on:%d %b %Y}: {summary}"
    context = {
        "partner": partner,
        "lines": lines,
        "on": on,
        "counts": [(TRIAL_STATES[state], count) for state, count in counts.items()],
        "home_url": mailer.absolute(reverse("partner_dashboard", args=[partner.pk])),
        "settings_url": mailer.absolute(reverse("partner_notifications", args=[partner.pk])),
    }
    name = f"backstop-trial-accounts-{partner.pk}-{on:%Y%m%d}.csv"
    attachment = (name, csvexport.text(trial_csv_rows(lines)), "text/csv")
    return mailer.send(
        partner_addresses(partner, TRIAL), subject, "notify/email/trial_report", context, [attachment]
    )


def send_due_trial_reports(now: datetime | None = None) -> int:
    """Sends today's trial accounts report of every partner with a recipient for it that has
    not had it yet today; returns how many partners were handled."""
    now = now or timezone.now()
    start = reports.period_start(now, F.DAILY)
    existing = {s.partner_id: s for s in ReportSettings.objects.filter(partner__isnull=False)}
    partners = Partner.objects.filter(notification_recipients__trial_report=True).distinct().order_by("pk")
    done = 0
    for partner in partners:
        row = existing.get(partner.pk) or ReportSettings(partner=partner)
        if row.trial_report_sent_at is not None and row.trial_report_sent_at >= start:
            continue
        if not _saved(row):
            continue
        previous = row.trial_report_sent_at
        if not _claim(row, "trial_report_sent_at", now):
            continue
        try:
            send_trial_report(partner, start.date())
        except Exception:
            log.exception("the trial report of partner %s was not sent; tried again next run", partner.pk)
            _unclaim(row, "trial_report_sent_at", previous, now)
            continue
        done += 1
    return done
