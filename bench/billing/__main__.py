"""Billing at scale: the month-end run, the e-mails after it, and Billing > Status of a big partner.

    bench/billing/run [--quick] [--only run,page] [--profile DIR] [--keep]

On the embedded default (SQLite in WAL mode, the file outbox, the sandbox payment gateway) in a
fresh private data folder (/tmp/bs-bench-billing-*), migrated:

1. Seeds 500 partners with 20 customer accounts each (10,000 accounts, 200,000 entities in backup
   tasks of a few services, mostly active, some paused, archived, not active), subscriptions (most
   monthly, some annual, some trials), billing profiles (payment day 1; card or invoice; annual
   bills consolidated or individual; a few currencies, discounts and VAT), sandbox cards, the past
   months' bills, and the last month's usage (`cycle.measure` for every day of it).
2. Times the month-end run, `cycle.run_day(<the 1st>)`, in a process of its own (as a worker runs
   it): wall, CPU, peak RSS, SQL statements, time per step, bills and lines issued, charges made.
   Target < 60 s.
3. Times `notices.flush()` until nothing is queued: the e-mails with their PDFs, as the worker
   sends them after the run (no target).
4. Adds one partner with 10,000 accounts of its own (200,000 entities, the same mix, a month of
   usage) and runs the same day again, which bills it (the day is idempotent: nothing else is
   billed twice). Then requests Billing > Status as that partner's administrator (django.test
   Client, force_login): the first page, page 50, a search, each billing-status filter, htmx
   fragments; p50/p95/max and SQL statements per variant. Target p95 < 200 ms.

Prints a table of figures with PASS/FAIL and exits non-zero when a target fails (or on errors).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import benchkit
from benchkit import Table, log, mib

from . import env

RUN_TARGET_S = 60.0
PAGE_TARGET_MS = 200.0
PARTS = ("run", "page")


def machine() -> str:
    import sqlite3

    import django

    return benchkit.machine(f"Django {django.__version__}, SQLite {sqlite3.sqlite_version}")


def month_end_day() -> date:
    """The 1st of the current month: the month-end run's day, so that the bills' due dates and the
    pages' "today" (the real date) agree as they would in production."""
    from django.utils import timezone

    return timezone.now().date().replace(day=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/billing/run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the data (a smoke test)")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated: run, page")
    parser.add_argument("--partners", type=int, help="partners of the month-end run (500; --quick 50)")
    parser.add_argument("--per-partner", type=int, default=20, help="accounts per partner (20)")
    parser.add_argument("--entities", type=int, default=20, help="entities per account (20)")
    parser.add_argument(
        "--big", type=int, help="accounts of the big partner of the page (10,000; --quick 1,000)"
    )
    parser.add_argument("--history-months", type=int, default=3, help="months of past bills seeded (3)")
    parser.add_argument("--requests", type=int, help="timed requests per page variant (60; --quick 20)")
    parser.add_argument("--no-flush", action="store_true", help="skip the e-mails (notices.flush)")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of each timed part here")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the data folder, with a copy of the database as seeded (seeded.sqlite3)",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    only = {p.strip() for p in args.only.split(",") if p.strip()}
    if only - set(PARTS):
        parser.error(f"--only takes {', '.join(PARTS)}")
    partners = args.partners or (50 if args.quick else 500)
    big = args.big or (1_000 if args.quick else 10_000)
    requests = args.requests or (20 if args.quick else 60)
    if args.profile:
        args.profile = args.profile.resolve()
        args.profile.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="bs-bench-billing-", dir="/tmp"))
    env.setup(work / "data")
    log(f"data folder {work / 'data'}; {machine()}")
    table = Table()
    details: list[str] = []
    results: dict[str, Any] = {"machine": machine(), "argv": sys.argv[1:], "quick": args.quick}
    try:
        bench = Bench(args, work, table, details, results)
        on = month_end_day()
        results["day"] = on.isoformat()
        rng = random.Random(args.seed)
        if "run" in only:
            bench.month_end(on, partners, rng)
        if "page" in only:
            bench.big_partner(on, big, rng, "run" in only)
            bench.page(requests)
    except Exception as exc:
        import traceback

        traceback.print_exc()
        table.error("benchmark", f"{type(exc).__name__}: {exc}")
    return benchkit.finish("billing", work, args.keep, results, details, table)


class Bench:
    def __init__(
        self, args: argparse.Namespace, work: Path, table: Table, details: list[str], results: dict[str, Any]
    ) -> None:
        self.args = args
        self.work = work
        self.table = table
        self.details = details
        self.results = results
        self.serial = 0
        self.big_partner_obj: Any = None
        self.admin: Any = None

    def profile(self, name: str) -> Path | None:
        return self.args.profile / f"{name}.pstats" if self.args.profile else None

    # -- the month-end run -----------------------------------------------------------------------

    def month_end(self, on: date, partners: int, rng: random.Random) -> None:
        from backstop.billing import cycle
        from backstop.billing.subscriptions import add_months

        from . import seed

        specs = [seed.random_spec(rng) for _ in range(partners)]
        seeded = seed.seed(
            on,
            specs,
            self.args.per_partner,
            self.args.entities,
            self.args.history_months,
            rng,
            "Partner",
            log,
        )
        self.serial += len(seeded.customers)
        started = time.perf_counter()
        day = add_months(on, -1)
        usage_rows = 0
        while day < on:
            usage_rows += cycle.measure(day)
            day += timedelta(days=1)
        usage_s = time.perf_counter() - started
        log(
            f"usage of {add_months(on, -1)}..{on - timedelta(days=1)}: {usage_rows:,} rows in {usage_s:.0f} s"
        )
        methods = _count_by(specs, lambda s: s.method)
        self.details.append(
            f"seeded: {len(seeded.partners):,} partners ({methods.get('card', 0)} card, "
            f"{methods.get('invoice', 0)} invoice; {seeded.cards} sandbox cards), "
            f"{len(seeded.customers):,} accounts {seeded.kinds}, {seeded.tasks:,} tasks, "
            f"{seeded.entities:,} entities; {self.args.history_months} months of past bills: "
            f"{seeded.invoices:,} invoices, {seeded.lines:,} lines, {seeded.payments:,} payments; "
            f"{usage_rows:,} usage rows ({usage_s:.0f} s of cycle.measure); seeding {seeded.seconds:.0f} s"
        )
        self.results["seed"] = {
            "partners": len(seeded.partners),
            "accounts": len(seeded.customers),
            "kinds": seeded.kinds,
            "tasks": seeded.tasks,
            "entities": seeded.entities,
            "past_invoices": seeded.invoices,
            "past_lines": seeded.lines,
            "usage_rows": usage_rows,
            "seconds": seeded.seconds,
        }
        if self.args.keep:
            snapshot(self.work / "seeded.sqlite3")
        before = Counts.now()
        report, step, seconds = run_in_child(self.work / "data", on, self.profile("run_day"))
        after = Counts.now()
        issued = after.minus(before)
        self.results["run_day"] = {
            "report": report,
            "step": vars(step),
            "issued": issued,
            "steps": seconds,
        }
        self.details.append(
            f"run_day({on}): {step.wall:.1f} s wall, {step.cpu:.1f} s CPU, peak RSS {mib(step.peak_rss)} "
            f"(before {mib(step.rss_before)}), {step.queries:,} SQL statements; report {report}"
        )
        self.details.append("  steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
        self.details.append(
            f"  issued: {issued['invoices']:,} bills ({issued['by_kind']}), {issued['lines']:,} lines; "
            f"charges {issued['payments']:,} ({issued['by_payment']}); e-mails queued on "
            f"{after.pending:,} bills; trial e-mail messages written {issued['outbox']:,}"
        )
        errors = check_month_end(on, seeded, report)
        for error in errors:
            self.table.error("month-end bills", error)
        label = f"month-end run_day, {len(seeded.customers):,} accounts / {len(seeded.partners)} partners"
        self.table.below(label, step.wall, RUN_TARGET_S, "s")
        self.table.info("  CPU", f"{step.cpu:.1f} s")
        self.table.info(
            "  peak RSS of its process",
            f"{mib(step.peak_rss)} ({mib(step.rss_before)} before)" if step.peak_rss else "n/a",
        )
        self.table.info("  SQL statements", f"{step.queries:,}")
        self.table.info("  bills / lines issued", f"{issued['invoices']:,} / {issued['lines']:,}")
        self.table.info("  charges made", f"{issued['payments']:,} {issued['by_payment']}")
        if self.args.profile:
            self.details.append(env.top_of_profile(self.args.profile / "run_day.pstats", 30))
        if not self.args.no_flush:
            self.flush("flush after the month-end run")

    def flush(self, label: str) -> None:
        from backstop.billing import notices
        from backstop.billing.models import Invoice
        from backstop.mail import outbox_folder

        folder = outbox_folder()
        files0 = _outbox(folder)
        pending = Invoice.objects.filter(mail_pending=True).count()

        def drain() -> int:
            sent = calls = 0
            while Invoice.objects.filter(mail_pending=True).exists():
                sent += notices.flush()
                calls += 1
            return sent

        sent, step = env.timed(drain, profile=self.profile(label.split()[0] + "_" + label.split()[-1]))
        files, size = _outbox(folder)[0] - files0[0], _outbox(folder)[1] - files0[1]
        self.results.setdefault("flush", []).append(
            {
                "label": label,
                "bills": pending,
                "sent": sent,
                "files": files,
                "bytes": size,
                "step": vars(step),
            }
        )
        per = step.wall / sent * 1000 if sent else 0
        self.details.append(
            f"{label}: {pending:,} bills with e-mails queued -> {sent:,} e-mails ({size / 1e6:,.1f} MB in "
            f"the outbox) in {step.wall:.1f} s wall, {step.cpu:.1f} s CPU ({per:.0f} ms an e-mail), "
            f"peak RSS {mib(step.peak_rss)}, {step.queries:,} SQL statements"
        )
        self.table.info(f"{label} (no target)", f"{step.wall:.1f} s, {sent:,} e-mails, {per:.0f} ms each")

    # -- the big partner and its page ------------------------------------------------------------

    def big_partner(self, on: date, accounts: int, rng: random.Random, after_run: bool) -> None:
        from backstop.billing import cycle
        from backstop.billing.subscriptions import add_months

        from . import seed

        spec = seed.PartnerSpec(method="invoice", annual_billing="consolidated")
        seeded = seed.seed(
            on,
            [spec],
            accounts,
            self.args.entities,
            self.args.history_months,
            rng,
            "Big Partner",
            log,
            start_serial=self.serial,
        )
        partner = seeded.partners[0]
        self.big_partner_obj = partner
        self.admin = seed.admin_of(partner, "admin@big-partner.test")
        first = add_months(on, -1)
        started = time.perf_counter()
        cycle.measure(first)
        days = [first + timedelta(days=i) for i in range((on - first).days)]
        copied = seed.copy_usage(first, days, [partner.pk])
        elapsed = time.perf_counter() - started
        log(f"big partner's usage: {copied:,} rows copied from {first} in {elapsed:.0f} s")
        before = Counts.now()
        report, step, seconds = run_in_child(self.work / "data", on, self.profile("run_day_big"))
        issued = Counts.now().minus(before)
        what = "the same day again" if after_run else "the month-end run"
        self.details.append(
            f"big partner: {accounts:,} accounts {seeded.kinds}, {seeded.entities:,} entities, "
            f"{seeded.invoices:,} past bills ({seeded.lines:,} lines); {what} with it: "
            f"{step.wall:.1f} s wall, {step.cpu:.1f} s CPU, {issued['invoices']:,} bills "
            f"({issued['by_kind']}), {issued['lines']:,} lines; report {report}"
        )
        self.results["run_day_big"] = {
            "report": report,
            "step": vars(step),
            "issued": issued,
            "steps": seconds,
        }
        self.table.info(f"run_day, {what} with the big partner", f"{step.wall:.1f} s")
        if not self.args.no_flush:
            self.flush("flush of the big partner's bills")

    def page(self, count: int) -> None:
        import gc
        from urllib.parse import urlsplit

        from django.conf import settings
        from django.db import connection
        from django.test import Client
        from django.urls import reverse

        from backstop.tenancy.models import Account

        partner = self.big_partner_obj
        # The embedded default's own host name (ALLOWED_HOSTS comes from BACKSTOP_BASE_URL).
        client = Client(HTTP_HOST=urlsplit(settings.BACKSTOP_BASE_URL).netloc)
        client.force_login(self.admin)
        url = reverse("billing_partner_status", args=[partner.pk])
        word = Account.objects.filter(partner=partner).order_by("pk").values_list("name", flat=True)[0]
        common = word.split()[0]
        one = Account.objects.filter(partner=partner).order_by("-pk").values_list("name", flat=True)[0]
        htmx = {"HX-Request": "true"}
        variants: list[tuple[str, dict[str, str], dict[str, str]]] = [
            ("first page", {}, {}),
            ("page 50", {"page": "50"}, {}),
            (f"search {common!r} (htmx, as typed)", {"q": common}, htmx),
            ("search one account's name", {"q": one}, {}),
            ("status None", {"status": "none"}, {}),
            ("status Current", {"status": "current"}, {}),
            ("status Due", {"status": "due"}, {}),
            ("status Overdue", {"status": "overdue"}, {}),
            ("htmx: pager, page 2", {"page": "2"}, htmx),
            ("htmx: status chip Due", {"status": "due"}, htmx),
            ("htmx: Overdue, page 3", {"status": "overdue", "page": "3"}, htmx),
        ]
        first = client.get(url)
        if first.status_code != 200:
            raise RuntimeError(f"Billing > Status answered {first.status_code}")
        html = first.content.decode()
        chips = dict(re.findall(r'data-testid="chip-(\w+)".*?data-testid="chip-count">(\d+)<', html, re.S))
        self.details.append(f"Billing > Status of the big partner: status counts {chips}")
        self.results["page_chips"] = chips
        all_times: list[float] = []
        profiler = None
        if self.args.profile:
            import cProfile

            profiler = cProfile.Profile()
        for name, query, headers in variants:
            for _ in range(3):  # warm up
                client.get(url, query, headers=headers)
            counter = env.QueryCounter()
            with connection.execute_wrapper(counter):
                response = client.get(url, query, headers=headers)
            queries = counter.count
            body = response.content.decode()
            rows = body.count('data-testid="account-row"')
            if response.status_code != 200:
                self.table.error(f"page: {name}", f"HTTP {response.status_code}")
                continue
            gc.collect()
            times = []
            for _ in range(count):
                started = time.perf_counter()
                if profiler is not None:
                    response = profiler.runcall(client.get, url, query, headers=headers)
                else:
                    response = client.get(url, query, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: HTTP {response.status_code}")
            all_times += times
            p50, p95 = statistics.median(times), benchkit.p95(times)
            self.results.setdefault("page", {})[name] = {
                "query": query,
                "htmx": bool(headers),
                "ms": times,
                "p50": p50,
                "p95": p95,
                "max": max(times),
                "queries": queries,
                "rows": rows,
                "bytes": len(body),
            }
            self.details.append(
                f"page, {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms over {count} "
                f"requests; {queries} SQL statements, {rows} rows, {len(body) / 1000:.0f} kB"
            )
            self.table.below(f"Billing > Status p95, {name} ({queries} queries)", p95, PAGE_TARGET_MS, "ms")
        self.drill_down(client, partner, count)
        if all_times:
            self.table.info(
                "Billing > Status, every request",
                f"p50 {statistics.median(all_times):.1f} ms, p95 {benchkit.p95(all_times):.1f} ms, "
                f"max {max(all_times):.1f} ms ({len(all_times)})",
            )
        if profiler is not None and self.args.profile:
            path = self.args.profile / "page.pstats"
            profiler.dump_stats(str(path))
            self.details.append(env.top_of_profile(path, 30))

    def drill_down(self, client: Any, partner: Any, count: int) -> None:
        """For information: one account's billing as its partner sees it (Billing > Status, a row
        clicked), which prices the account's forecast from its latest usage."""
        from django.urls import reverse

        from backstop.billing.models import InvoiceLine

        account_id = (
            InvoiceLine.objects.filter(invoice__partner=partner, invoice__consolidated=True)
            .order_by("-invoice__issue_date", "pk")
            .values_list("account_id", flat=True)
            .first()
        )
        url = reverse("billing_partner_account", args=[partner.pk, account_id])
        for _ in range(3):
            client.get(url)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"drill-down: HTTP {response.status_code}")
        p50, p95 = statistics.median(times), benchkit.p95(times)
        self.results["drill_down"] = {"ms": times, "p50": p50, "p95": p95}
        self.details.append(
            f"drill-down of one account: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms"
        )
        self.table.info("drill-down of one account (no target)", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms")


class StepTimes:
    """Times each step of `run_day` (its functions are looked up in their modules at each call, so
    wrapping them there for the run is enough)."""

    STEPS = (
        ("cycle", "measure"),
        ("cycle", "ensure_subscriptions"),
        ("cycle", "trials"),
        ("cycle", "roll_plans"),
        ("cycle", "bill"),
        ("cycle", "deliver"),
        ("cycle", "retry_failed_charges"),
        ("payments", "sync_pending"),
        ("cycle", "refresh_forecasts"),
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> StepTimes:
        from backstop.billing import cycle, payments

        modules = {"cycle": cycle, "payments": payments}
        for module_name, name in self.STEPS:
            module = modules[module_name]
            original = getattr(module, name)
            self.saved.append((module, name, original))
            setattr(module, name, self._wrap(name, original))
        return self

    def _wrap(self, name: str, fn: Any) -> Any:
        def timed_step(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

        return timed_step

    def __exit__(self, *exc: object) -> None:
        for module, name, original in self.saved:
            setattr(module, name, original)


def run_in_child(data_dir: Path, on: date, profile: Path | None) -> tuple[dict[str, Any], env.Step, Any]:
    """`cycle.run_day(on)` in a fresh process (`child.py`), so that its memory is its own and not
    the seeding's: (report, measures, seconds per step)."""
    import subprocess

    from django.db import connections

    connections.close_all()
    command = [sys.executable, "-m", "billing.child", str(data_dir), on.isoformat()]
    if profile is not None:
        command.append(str(profile))
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the month-end run failed: {done.stderr[-3000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["report"], env.Step(**found["step"]), found["steps"]


def snapshot(path: Path) -> None:
    """A copy of the database as seeded, before the month-end run (to repeat the run on it)."""
    import sqlite3

    from django.db import connection

    connection.ensure_connection()
    with sqlite3.connect(path) as target:
        connection.connection.backup(target)
    log(f"seeded database copied to {path}")


def warm_up() -> None:
    """What a long-running worker has done before its daily run: the URLconf imported (the run
    reverses URLs for e-mails; importing every app's views costs seconds once per process)."""
    from django.urls import reverse

    reverse("billing_partner_status", args=[1])


def _count_by(items: Any, key: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[key(item)] = counts.get(key(item), 0) + 1
    return counts


def _outbox(folder: Path | None) -> tuple[int, int]:
    if folder is None or not folder.exists():
        return 0, 0
    files = list(folder.glob("*.eml"))
    return len(files), sum(f.stat().st_size for f in files)


class Counts:
    """Row counts before and after a run, to tell what it issued."""

    def __init__(self) -> None:
        self.invoices = 0
        self.lines = 0
        self.payments = 0
        self.pending = 0
        self.outbox = 0
        self.by_kind: dict[str, int] = {}
        self.by_payment: dict[str, int] = {}

    @classmethod
    def now(cls) -> Counts:
        from django.db.models import Count

        from backstop.billing.models import Invoice, InvoiceLine, Payment
        from backstop.mail import outbox_folder

        counts = cls()
        counts.invoices = Invoice.objects.count()
        counts.lines = InvoiceLine.objects.count()
        counts.payments = Payment.objects.count()
        counts.pending = Invoice.objects.filter(mail_pending=True).count()
        counts.outbox = _outbox(outbox_folder())[0]
        for plan, consolidated, n in (
            Invoice.objects.order_by().values_list("plan", "consolidated").annotate(n=Count("pk"))
        ):
            counts.by_kind[f"{plan} {'consolidated' if consolidated else 'individual'}"] = n
        for status, n in Payment.objects.order_by().values_list("status").annotate(n=Count("pk")):
            counts.by_payment[status] = n
        return counts

    def minus(self, before: Counts) -> dict[str, Any]:
        def diff(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
            return {k: a.get(k, 0) - b.get(k, 0) for k in sorted(a) if a.get(k, 0) != b.get(k, 0)}

        return {
            "invoices": self.invoices - before.invoices,
            "lines": self.lines - before.lines,
            "payments": self.payments - before.payments,
            "outbox": self.outbox - before.outbox,
            "by_kind": diff(self.by_kind, before.by_kind),
            "by_payment": diff(self.by_payment, before.by_payment),
        }


def check_month_end(on: date, seeded: Any, report: dict[str, Any]) -> list[str]:
    """What the month-end run must have done, from what was seeded: one consolidated monthly bill
    per partner with monthly accounts, one per excluded account; every card bill charged."""
    from backstop.billing.models import Invoice, Payment

    errors = []
    expected = {c.partner_pk for c in seeded.customers if c.kind == "monthly" and not c.exclude}
    got = set(
        Invoice.objects.filter(issue_date=on, plan="monthly", consolidated=True).values_list(
            "partner_id", flat=True
        )
    )
    if expected - got:
        errors.append(f"{len(expected - got)} partners got no consolidated monthly bill")
    apart = sum(1 for c in seeded.customers if c.kind == "monthly" and c.exclude)
    got_apart = Invoice.objects.filter(issue_date=on, plan="monthly", consolidated=False).count()
    if got_apart > apart:
        errors.append(f"{got_apart} bills of accounts billed apart, at most {apart} expected")
    card_bills = Invoice.objects.filter(issue_date=on, method="card").count()
    charged = Payment.objects.filter(invoice__issue_date=on).values("invoice").distinct().count()
    if charged != card_bills:
        errors.append(f"{charged} of {card_bills} card bills charged")
    return errors


if __name__ == "__main__":
    sys.exit(main())
