"""The benchmark's data, inserted in bulk: partners with billing profiles and sandbox cards, their
customer accounts with subscriptions, backup tasks and entities, and months of past bills.

Every choice is drawn from a seeded `random.Random`, so a run with the same scale and seed makes the
same data. Past bills follow the rules of `backstop.billing.cycle` closely enough for the daily run
to find the database as it would after running every earlier day: last month's consolidated and
excluded-account bills exist (paid, except those of late payers and declined cards), and every
annual year the run would already have billed is on a bill, so the measured run bills what a real
month-end does and no backlog.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

# Weighted choices: (value, weight).
SERVICES = (
    ("exchange", 40),
    ("google_workspace", 20),
    ("imap", 12),
    ("box", 12),
    ("onedrive", 10),
    ("salesforce", 6),  # sold by the GB
)
ENTITY_STATUSES = (
    ("active", 78),
    ("scheduled", 2),
    ("in_process", 1),
    ("paused", 5),
    ("archived", 6),
    ("not_active", 7),
    ("other_task", 1),
)
TASKS_PER_ACCOUNT = ((1, 20), (2, 60), (3, 20))
# Subscriptions of customer accounts.
KINDS = (("monthly", 76), ("annual", 14), ("trial", 4), ("trial_auto", 3), ("expired", 1))
# Billing profiles of partners: currency → country (Israel pays 18 % VAT, the migration's TaxRate).
CURRENCIES = (("USD", 80), ("EUR", 8), ("GBP", 6), ("ILS", 6))
COUNTRY = {"USD": "US", "EUR": "DE", "GBP": "GB", "ILS": "IL"}
CARDS = (("4242424242424242", 60), ("5555555555554444", 20), ("378282246310005", 10))
CARD_DECLINED = "4000000000000341"  # attaches; every charge is declined
CARD_PENDING = "4000000000000259"  # charges resolve later (the run's status sync settles them)
WORDS = [
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Adatum",
    "Litware",
    "Proseware",
    "Wingtip",
    "Woodgrove",
    "Fourth",
    "Coffee",
    "Alpine",
    "Blue",
    "Yonder",
    "Margie",
    "Lucerne",
    "Humongous",
    "Trey",
    "Southridge",
    "Relecloud",
    "Wide",
    "World",
    "Graphic",
    "Design",
    "Consolidated",
    "Messenger",
    "Bellows",
    "Datum",
    "Lamna",
    "Liberty",
    "Nod",
    "Olympia",
    "VanArsdel",
    "Alpha",
    "Bravo",
    "Delta",
    "Echo",
]
TRADES = [
    "Logistics",
    "Legal",
    "Dental",
    "Bakery",
    "Clinic",
    "Studio",
    "Partners",
    "Holdings",
    "Labs",
    "Foods",
    "Motors",
    "Realty",
]


def weighted(rng: random.Random, table: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


@dataclass(frozen=True)
class PartnerSpec:
    currency: str = "USD"
    discount: Decimal = Decimal(0)
    method: str = "invoice"  # "card" | "invoice"
    annual_billing: str = "consolidated"  # | "individual"
    delivery: str = "attachment"  # | "link"
    card: str = ""  # a sandbox test card number when paying by card
    late: bool = False  # last month's bill is unpaid (invoice) or its charge failed (card)

    @property
    def country(self) -> str:
        return COUNTRY[self.currency]


def random_spec(rng: random.Random) -> PartnerSpec:
    method = "card" if rng.random() < 0.6 else "invoice"
    card = ""
    if method == "card":
        r = rng.random()
        card = CARD_DECLINED if r < 0.05 else CARD_PENDING if r < 0.10 else weighted(rng, CARDS)
    discount = rng.choices([Decimal(0), Decimal(10), Decimal(20)], weights=[60, 30, 10])[0]
    return PartnerSpec(
        currency=weighted(rng, CURRENCIES),
        discount=discount,
        method=method,
        annual_billing="consolidated" if rng.random() < 0.7 else "individual",
        delivery="attachment" if rng.random() < 0.8 else "link",
        card=card,
        late=(card == CARD_DECLINED) or (method == "invoice" and rng.random() < 0.1),
    )


@dataclass
class Customer:
    """One seeded account as the seeding knows it: what its subscription is and what it protects."""

    pk: int
    partner_pk: int
    name: str
    kind: str  # monthly | annual | trial | trial_auto | expired
    starts_on: date | None
    renews_on: date | None
    exclude: bool
    usage: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # service → total, billable, bytes


@dataclass
class Seeded:
    partners: list[Any]
    specs: dict[int, PartnerSpec]
    customers: list[Customer]
    tasks: int = 0
    entities: int = 0
    invoices: int = 0
    lines: int = 0
    payments: int = 0
    cards: int = 0
    seconds: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)


def seed(
    on: date,
    specs: list[PartnerSpec],
    per_partner: int,
    entities_per_account: int,
    history_months: int,
    rng: random.Random,
    label: str,
    log: Callable[[str], None],
    start_serial: int = 0,
) -> Seeded:
    """Partners (one per spec), `per_partner` accounts each with `entities_per_account` entities,
    and `history_months` of past bills before the month-end `on`."""
    from django.db import transaction

    from backstop.billing.models import BillingProfile, Card
    from backstop.tenancy.models import Partner

    started = time.perf_counter()
    now = datetime.combine(on - timedelta(days=400), datetime.min.time(), tzinfo=UTC)
    with transaction.atomic():
        partners = Partner.objects.bulk_create(
            Partner(
                name=f"{label} {i + 1:03}", email=f"office@{label.lower().replace(' ', '-')}-{i + 1}.test"
            )
            for i in range(len(specs))
        )
        by_pk = {p.pk: spec for p, spec in zip(partners, specs, strict=True)}
        profiles = [_profile(p, spec, i) for i, (p, spec) in enumerate(zip(partners, specs, strict=True))]
        cards = [_card(p, spec, profile) for p, spec, profile in zip(partners, specs, profiles, strict=True)]
        BillingProfile.objects.bulk_create(profiles, batch_size=1000)
        Card.objects.bulk_create([c for c in cards if c is not None], batch_size=1000)
        customers = _accounts(on, partners, per_partner, rng, start_serial, now)
        tasks, entities = _tasks_and_entities(customers, entities_per_account, rng, now)
    done = Seeded(partners, by_pk, customers, tasks=tasks, entities=entities)
    done.cards = sum(1 for c in cards if c is not None)
    done.kinds = dict(sorted(_count(c.kind for c in customers).items()))
    log(
        f"{label}: {len(partners):,} partners, {len(customers):,} accounts, {tasks:,} tasks, "
        f"{entities:,} entities in {time.perf_counter() - started:.0f} s"
    )
    with transaction.atomic():
        history = History(on, by_pk, {p.pk: pr for p, pr in zip(partners, profiles, strict=True)})
        history.build(customers, history_months)
        done.invoices, done.lines, done.payments = history.save()
    done.seconds = time.perf_counter() - started
    log(
        f"{label}: {done.invoices:,} past bills with {done.lines:,} lines and {done.payments:,} payments "
        f"({done.seconds:.0f} s in all)"
    )
    return done


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for value in values:
        counts[value] += 1
    return counts


def _profile(partner: Any, spec: PartnerSpec, i: int) -> Any:
    from backstop.billing.gateways import gateway
    from backstop.billing.models import BillingProfile

    customer = gateway().ensure_customer(partner.name, partner.email, "") if spec.method == "card" else ""
    return BillingProfile(
        partner=partner,
        currency=spec.currency,
        first_name="Billing",
        last_name=f"Contact {i + 1}",
        email=f"billing@{partner.email.split('@', 1)[1]}",
        company=f"{partner.name} Ltd.",
        tax_id=f"5{i:08d}" if spec.country == "IL" else "",
        address1=f"{i + 1} Market Street",
        country=spec.country,
        city="Springfield",
        postal_code=f"{10000 + i}",
        phone=f"+1 555 {i:07d}",
        payment_day=1,
        delivery=spec.delivery,
        method=spec.method,
        annual_billing=spec.annual_billing,
        discount_percent=spec.discount,
        gateway_customer=customer,
        onboarded_at=datetime(2025, 1, 1, tzinfo=UTC),
    )


def _card(partner: Any, spec: PartnerSpec, profile: Any) -> Any:
    """A card kept for the partner as the browser would add it: the sandbox processor tokenises the
    test number (what POST /sandbox/payments/tokens does) and the gateway attaches the token."""
    if spec.method != "card":
        return None
    from backstop.billing.gateways import gateway
    from backstop.billing.payments import new_card
    from backstop.sandbox.payments import processor

    token = processor.tokenise(
        {"number": spec.card, "exp_month": 12, "exp_year": 2035, "cvc": "123", "holder": profile.company}
    )
    gw = gateway()
    info = gw.attach_card(profile.gateway_customer, token)
    return new_card(partner, gw.name, info)


def _accounts(
    on: date, partners: list[Any], per_partner: int, rng: random.Random, serial: int, now: datetime
) -> list[Customer]:
    from backstop.billing.models import Subscription
    from backstop.billing.subscriptions import add_months, add_years
    from backstop.tenancy.models import Account

    month_start = add_months(on, -1)
    accounts, subs, customers = [], [], []
    for partner in partners:
        for _ in range(per_partner):
            serial += 1
            kind = weighted(rng, KINDS)
            name = f"{rng.choice(WORDS)} {rng.choice(TRADES)} {serial:05}"
            account = Account(name=name, email=f"it@customer-{serial}.test", partner=partner, created_at=now)
            sub = Subscription(kind=Subscription.Kind.NO_TRIAL, forecast_currency="")
            starts_on = renews_on = None
            exclude = False
            if kind == "monthly":
                # Most paid the whole month; some began during it (prorated); a few were removed.
                if rng.random() < 0.06:
                    starts_on = month_start + timedelta(days=rng.randrange((on - month_start).days))
                else:
                    starts_on = on - timedelta(days=rng.randrange(32, 900))
                exclude = rng.random() < 0.02
                sub.state, sub.plan = Subscription.State.SUBSCRIBED, "monthly"
                if rng.random() < 0.003:
                    account.removal_requested_at = datetime.combine(
                        on - timedelta(days=rng.randrange(1, 20)), datetime.min.time(), tzinfo=UTC
                    )
            elif kind == "annual":
                starts_on = on - timedelta(days=rng.randrange(1, 1000))
                renews_on = add_years(starts_on)
                while renews_on <= on:
                    renews_on = add_years(renews_on)
                sub.state, sub.plan = Subscription.State.SUBSCRIBED, "annual"
            else:
                _trial(on, kind, account, sub, rng)
            sub.starts_on = sub.plan_since = starts_on
            sub.renews_on = renews_on
            sub.exclude_from_consolidation = exclude
            if starts_on is not None:
                sub.subscribed_at = datetime.combine(starts_on, datetime.min.time(), tzinfo=UTC)
            accounts.append(account)
            subs.append(sub)
            customers.append(Customer(0, partner.pk, name, kind, starts_on, renews_on, exclude))
    Account.objects.bulk_create(accounts, batch_size=2000)
    for account, sub, customer in zip(accounts, subs, customers, strict=True):
        sub.account = account
        customer.pk = account.pk
    Subscription.objects.bulk_create(subs, batch_size=2000)
    return customers


def _trial(on: date, kind: str, account: Any, sub: Any, rng: random.Random) -> None:
    """A trial that ends within two weeks (or today), with the e-mails sent up to yesterday noted,
    or a trial that expired in the last week (its data is purged 7 days after it ended)."""
    from backstop.billing.models import EXPIRING_DAYS, GRACE_DAYS, Subscription

    State = Subscription.State
    yesterday = on - timedelta(days=1)
    if kind == "expired":
        ends = on - timedelta(days=rng.randrange(1, GRACE_DAYS + 1))
        sub.state, sub.expired_on = State.EXPIRED, ends
    else:
        ends = on + timedelta(days=rng.randrange(0, 15))
        sub.state = State.TRIAL
        sub.kind = Subscription.Kind.TRIAL_AUTO if kind == "trial_auto" else Subscription.Kind.TRIAL
        if kind == "trial_auto":
            sub.plan = "annual" if rng.random() < 0.2 else "monthly"
    account.trial_ends_on = ends
    sent = []
    if yesterday >= ends - timedelta(days=EXPIRING_DAYS):
        sent.append("expiring")
    if sub.state == State.EXPIRED:
        sent.append("expired")
        if yesterday >= ends + timedelta(days=GRACE_DAYS - 2):
            sent.append("purge_soon")
    sub.notices_sent = sent


def _tasks_and_entities(
    customers: list[Customer], per_account: int, rng: random.Random, now: datetime
) -> tuple[int, int]:
    from backstop.backups.models import BackupTask, Entity
    from backstop.billing.cycle import billable_statuses

    billable = set(billable_statuses())
    service_names = [s for s, _ in SERVICES]
    service_weights = [w for _, w in SERVICES]
    tasks: list[Any] = []
    plans: list[tuple[Customer, str, int]] = []
    for customer in customers:
        count = weighted(rng, TASKS_PER_ACCOUNT)
        chosen: list[str] = []
        while len(chosen) < count:
            service = rng.choices(service_names, weights=service_weights)[0]
            if service not in chosen:
                chosen.append(service)
        # The first service (mail, usually) holds most of the account's entities.
        split = [per_account] if count == 1 else [per_account - 6 * (count - 1)] + [6] * (count - 1)
        for service, n in zip(chosen, split, strict=True):
            tasks.append(
                BackupTask(account_id=customer.pk, service=service, name=f"{service} backup", created_at=now)
            )
            plans.append((customer, service, n))
    BackupTask.objects.bulk_create(tasks, batch_size=2000)
    statuses = [s for s, _ in ENTITY_STATUSES]
    status_weights = [w for _, w in ENTITY_STATUSES]
    batch: list[Any] = []
    entities = 0
    for task, (customer, service, n) in zip(tasks, plans, strict=True):
        total = bill = size_sum = 0
        for i, status in enumerate(rng.choices(statuses, weights=status_weights, k=n)):
            size = rng.randrange(50_000_000, 20_000_000_000) if status != "not_active" else 0
            batch.append(
                Entity(
                    account_id=customer.pk,
                    task_id=task.pk,
                    key=f"{service}-{task.pk}-{i}",
                    name=f"user{i}@customer-{customer.pk}.test",
                    email=f"user{i}@customer-{customer.pk}.test",
                    status=status,
                    size=size,
                    items=size // 60_000,
                    discovered_at=now,
                )
            )
            if status != "other_task":
                total += 1
                if status in billable:
                    bill += 1
                    size_sum += size
        customer.usage[service] = (total, bill, size_sum)
        if len(batch) >= 20_000:
            Entity.objects.bulk_create(batch, batch_size=2000)
            entities += len(batch)
            batch = []
    Entity.objects.bulk_create(batch, batch_size=2000)
    return len(tasks), entities + len(batch)


class History:
    """Past bills, as the daily run would have issued them, inserted in bulk."""

    def __init__(self, on: date, specs: dict[int, PartnerSpec], profiles: dict[int, Any]) -> None:
        from backstop.billing.cycle import BILL_TO_FIELDS
        from backstop.billing.models import Card, InvoiceCounter, TaxRate

        self.on = on
        self.specs = specs
        self.profiles = profiles
        self.rates = {r.country: r for r in TaxRate.objects.all()}
        self.books: dict[tuple[str, Decimal], Any] = {}
        self.bill_to = {pk: {name: getattr(p, name) for name in BILL_TO_FIELDS} for pk, p in profiles.items()}
        counter = InvoiceCounter.objects.filter(pk=1).first()
        self.number = counter.last if counter else 10000
        self.invoices: list[Any] = []
        self.lines: list[tuple[Any, list[Any]]] = []
        self.payments: list[tuple[Any, str]] = []  # (invoice, "succeeded" | "failed")
        cards = Card.objects.filter(partner_id__in=list(specs), is_default=True)
        self.cards = {c.partner_id: c for c in cards}

    def book(self, spec: PartnerSpec) -> Any:
        from backstop.billing.prices import PriceBook

        key = (spec.currency, spec.discount)
        if key not in self.books:
            self.books[key] = PriceBook(spec.currency, spec.discount)
        return self.books[key]

    def build(self, customers: list[Customer], months: int) -> None:
        from backstop.billing.subscriptions import add_months

        by_partner: dict[int, list[Customer]] = defaultdict(list)
        for customer in customers:
            by_partner[customer.partner_pk].append(customer)
        for partner_pk, mine in by_partner.items():
            spec = self.specs[partner_pk]
            for m in range(months, 0, -1):
                issued = add_months(self.on, -m)
                monthly = [c for c in mine if c.kind == "monthly" and c.starts_on and c.starts_on < issued]
                unpaid = m == 1 and spec.late
                together = [c for c in monthly if not c.exclude]
                if together:
                    key = f"monthly:p{partner_pk}:{issued}"
                    self.bill(partner_pk, "monthly", key, issued, together, None, unpaid)
                for i, c in enumerate(c for c in monthly if c.exclude):
                    key = f"monthly:p{partner_pk}:{issued}:a{c.pk}"
                    # Accounts billed apart: a third left last month's bill unpaid (Overdue now).
                    self.bill(partner_pk, "monthly", key, issued, [c], c, unpaid or (m == 1 and i % 3 == 0))
            self._annual(partner_pk, spec, [c for c in mine if c.kind == "annual"])

    def _annual(self, partner_pk: int, spec: PartnerSpec, annual: list[Customer]) -> None:
        """Every annual year the daily run has billed by yesterday (see cycle._bill_annual)."""
        from backstop.billing.cycle import next_payment_day
        from backstop.billing.subscriptions import add_months, add_years

        last_payment_day = add_months(self.on, -1)
        groups: dict[date, list[tuple[Customer, date]]] = defaultdict(list)
        for c in annual:
            assert c.renews_on is not None and c.starts_on is not None
            year_start = max(add_years(c.renews_on, -1), c.starts_on)
            if spec.annual_billing == "individual":
                if year_start < self.on:  # issued the day the year began
                    key = f"annual:p{partner_pk}:a{c.pk}:{year_start}"
                    self.bill(partner_pk, "annual", key, year_start, [c], c, False, year_start)
                notice = c.renews_on - timedelta(days=30)
                if notice < self.on:  # the renewal's bill, 30 days ahead
                    key = f"annual:p{partner_pk}:a{c.pk}:{c.renews_on}"
                    self.bill(partner_pk, "annual", key, notice, [c], c, False, c.renews_on)
            elif year_start < last_payment_day:  # on the consolidated bill of a past payment day
                groups[next_payment_day(1, year_start)].append((c, year_start))
        for issued, members in groups.items():
            key = f"annual:p{partner_pk}:{issued}"
            starts = {c.pk: start for c, start in members}
            self.bill(partner_pk, "annual", key, issued, [c for c, _ in members], None, False, starts=starts)

    def bill(
        self,
        partner_pk: int,
        plan: str,
        key: str,
        issued: date,
        customers: list[Customer],
        for_account: Customer | None,
        unpaid: bool,
        year_start: date | None = None,
        starts: dict[int, date] | None = None,
    ) -> None:
        from backstop.billing.cycle import SERVICE_LABELS, quantity
        from backstop.billing.models import Invoice, InvoiceLine
        from backstop.billing.money import to_minor
        from backstop.billing.subscriptions import add_months, add_years

        spec = self.specs[partner_pk]
        book = self.book(spec)
        rate = self.rates.get(spec.country)
        percent = rate.percent if rate else Decimal(0)
        lines = []
        for c in customers:
            if plan == "monthly":
                first, last = add_months(issued, -1), issued - timedelta(days=1)
            else:
                first = (starts or {}).get(c.pk) or year_start or issued
                last = add_years(first) - timedelta(days=1)
            for service, (total, billable, size) in sorted(c.usage.items()):
                price = book.unit_price(service, plan)
                qty = quantity(book.unit(service), billable, size)
                if price is None or qty <= 0:
                    continue
                amount = to_minor(Decimal(price) * qty)
                lines.append(
                    InvoiceLine(
                        account_id=c.pk,
                        account_name=c.name,
                        account_email=f"it@customer-{c.pk}.test",
                        service=service,
                        description=f"{SERVICE_LABELS.get(service, service)}: {qty.normalize():f} of {total}",
                        unit=book.unit(service),
                        quantity=qty,
                        unit_price=price,
                        starts_on=first,
                        ends_on=last,
                        amount=amount,
                        tax=to_minor(Decimal(amount) * percent / 100) if percent else 0,
                    )
                )
        if not lines:
            return
        method = "invoice" if plan == "annual" else spec.method
        subtotal = sum(line.amount for line in lines)
        tax = sum(line.tax for line in lines)
        self.number += 1
        at = datetime.combine(issued, datetime.min.time(), tzinfo=UTC)
        invoice = Invoice(
            number=self.number,
            partner_id=partner_pk,
            for_account_id=for_account.pk if for_account else None,
            for_account_name=for_account.name if for_account else "",
            plan=plan,
            consolidated=for_account is None,
            method=method,
            issue_date=issued,
            due_date=issued + timedelta(days=30) if method == "invoice" else issued,
            effective_date=min(line.starts_on for line in lines),
            period_end=max(line.ends_on for line in lines),
            currency=spec.currency,
            subtotal=subtotal,
            tax=tax,
            total=subtotal + tax,
            tax_name=rate.name if rate else "",
            tax_percent=percent,
            bill_to=self.bill_to[partner_pk],
            key=key,
            created_at=at,
            emailed_at=at if method == "invoice" else None,
        )
        card = method == "card"
        if unpaid:
            if card:
                invoice.charge_failed_at = at
                invoice.failure_message = "Your card was declined."
                self.payments.append((invoice, "failed"))
        else:
            invoice.status = Invoice.Status.PAID
            invoice.paid_at = at + timedelta(days=0 if card else 5)
            kept = self.cards.get(partner_pk)
            invoice.paid_via = f"{kept.brand} ****{kept.last4}" if card and kept else "Bank transfer"
            if card:
                self.payments.append((invoice, "succeeded"))
        self.invoices.append(invoice)
        self.lines.append((invoice, lines))

    def save(self) -> tuple[int, int, int]:
        from backstop.billing.models import Invoice, InvoiceCounter, InvoiceLine, Payment

        Invoice.objects.bulk_create(self.invoices, batch_size=1000)
        rows = []
        for invoice, lines in self.lines:
            for line in lines:
                line.invoice = invoice
                rows.append(line)
        InvoiceLine.objects.bulk_create(rows, batch_size=2000)
        payments = []
        for invoice, outcome in self.payments:
            card = self.cards.get(invoice.partner_id)
            if card is None:
                continue
            payments.append(
                Payment(
                    invoice=invoice,
                    card=card,
                    gateway=card.gateway,
                    amount=invoice.total,
                    currency=invoice.currency,
                    status=outcome,
                    reference=f"ch_seed_{invoice.number}",
                    message="" if outcome == "succeeded" else "Your card was declined.",
                    created_at=invoice.created_at,
                )
            )
        Payment.objects.bulk_create(payments, batch_size=2000)
        InvoiceCounter.objects.update_or_create(pk=1, defaults={"last": self.number})
        return len(self.invoices), len(rows), len(payments)


def admin_of(partner: Any, email: str) -> Any:
    """A partner administrator to sign in as (no password: the benchmark uses force_login)."""
    from allauth.account.models import EmailAddress

    from backstop.accounts.models import User
    from backstop.tenancy.models import Membership

    user = User.objects.create_user(email=email, first_name="Bench", last_name="Admin")
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    Membership.objects.create(user=user, partner=partner, role=Membership.Role.ADMIN, all_accounts=True)
    return user


def copy_usage(source: date, days: list[date], partner_pks: list[int]) -> int:
    """The accounts of `partner_pks` get the usage measured on `source` for each of `days` too (their
    history, as if they had been there all month); returns the rows written."""
    from django.db import connection, transaction

    from backstop.billing.models import UsageDay

    written = 0
    accounts = "SELECT id FROM tenancy_account WHERE partner_id IN ({})".format(
        ",".join(str(int(pk)) for pk in partner_pks)
    )
    table = UsageDay._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        for day in days:
            if day == source:
                continue
            cursor.execute(
                f"DELETE FROM {table} WHERE day = %s AND account_id IN ({accounts})", [day.isoformat()]
            )
            cursor.execute(
                f"INSERT INTO {table} (account_id, service, day, total, billable, billable_bytes) "
                f"SELECT account_id, service, %s, total, billable, billable_bytes FROM {table} "
                f"WHERE day = %s AND account_id IN ({accounts})",
                [day.isoformat(), source.isoformat()],
            )
            written += cursor.rowcount
    return written
