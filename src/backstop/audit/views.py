"""The Activity section: System Activity (A-SYSACT) and the Security Audit of an account
(A-AUDIT) or of a partner with its customers (P-AUDIT).

Both tables keep their filters in the query string (bookmarkable, working without JavaScript);
with htmx the results fragment is swapped in place. The CSV export is the same URL with
`format=csv`: it reads the very filters the table reads, through the same `apply`, and streams.

Rows are reached only through the tenant scoping: an account's pages read `restrict(user,
VIEW_ACTIVITY)` within the open account; the partner's audit covers the partner's subtree: the
portal events of the partner and of every partner below it (a distributor sees its resellers'
sign-ins and changes), and the events of the accounts its role reaches (`reach_of`, the
dashboard's rule: a role limited to some accounts sees only theirs; a sibling's or a parent's
events are never reached, their portals being outside the subtree).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from backstop.audit import events
from backstop.audit.models import AuditEvent
from backstop.backups.models import ActivityEvent, Job
from backstop.backups.views.common import SERVICE_ICONS
from backstop.tenancy import permissions as perms
from backstop.tenancy.account_search import account_page, search_text
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import AccountAccess, reach_of, subtree_filter
from backstop.tenancy.views.decorators import account_view, is_htmx, partner_view
from backstop.web import csvexport

PAGE_SIZE = 25
ACCOUNT_SEARCH = "account_search"  # the partner audit's account search box (not a filter)
SERVICE_LABELS = {service.code: service.label for service in perms.SERVICES}
AUDIT_STYLES: dict[str, str] = {AuditEvent.Status.SUCCEEDED: "success", AuditEvent.Status.FAILED: "danger"}
ACTIVITY_STYLES: dict[str, str] = {
    ActivityEvent.Status.SUCCEEDED: "success",
    ActivityEvent.Status.PARTIAL: "warning",
    ActivityEvent.Status.FAILED: "danger",
    ActivityEvent.Status.CANCELED: "secondary",
}
ACTIVITY_KINDS = (Job.Kind.BACKUP, Job.Kind.RESTORE, Job.Kind.EXPORT)
ITEMS_LABELS: dict[str, str] = {
    Job.Kind.BACKUP: "Items changed",
    Job.Kind.RESTORE: "Items restored",
    Job.Kind.EXPORT: "Items exported",
}
ACTIVITY_ICONS: dict[str, str] = {
    Job.Kind.BACKUP: "cloud-arrow-up",
    Job.Kind.RESTORE: "arrow-counterclockwise",
    Job.Kind.EXPORT: "cloud-download",
}


# -- filter values ------------------------------------------------------------------------------


def _day(value: Any) -> date | None:
    try:
        return parse_date(str(value or "").strip()[:10])
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None


def _text(data: Mapping[str, Any], key: str, limit: int = 200) -> str:
    return str(data.get(key) or "").strip()[:limit]


def in_days(rows: QuerySet[Any], since: date | None, until: date | None) -> QuerySet[Any]:
    """Rows whose `at` falls on the days from `since` to `until`, both included, in local time."""
    zone = timezone.get_current_timezone()
    if since:
        rows = rows.filter(at__gte=datetime.combine(since, time.min, tzinfo=zone))
    if until:
        rows = rows.filter(at__lt=datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone))
    return rows


def _pairs(values: tuple[tuple[str, Any], ...]) -> list[tuple[str, str]]:
    return [(key, str(value)) for key, value in values if value not in (None, "")]


@dataclass(frozen=True, slots=True)
class StatusCount:
    """A coloured count of the filtered rows with one status; a click filters by it."""

    code: str
    label: str
    style: str
    count: int
    active: bool
    query: str


def status_counts(
    rows: QuerySet[Any], filters: Any, choices: list[tuple[str, str]], styles: Mapping[str, str]
) -> list[StatusCount]:
    """One count per status over the rows as filtered by everything but the status."""
    found = {row["status"]: row["n"] for row in rows.order_by().values("status").annotate(n=Count("pk"))}
    counts = []
    for code, label in choices:
        active = filters.status == code
        query = replace(filters, status="" if active else code).query()
        style = styles.get(code, "secondary")
        counts.append(StatusCount(code, label, style, found.get(code, 0), active, query))
    return counts


# -- Security Audit -----------------------------------------------------------------------------


class QueryString:
    """What both pages' filters share: their query string, and whether any filter is set."""

    __slots__ = ()

    def pairs(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def query(self) -> str:
        return urlencode(self.pairs())

    @property
    def any(self) -> bool:
        return bool(self.pairs())


@dataclass(frozen=True, slots=True)
class AuditFilters(QueryString):
    since: date | None = None
    until: date | None = None
    activity: str = ""
    status: str = ""
    user: str = ""
    account: int | None = None
    partner: int | None = None  # the partner audit: events that belong to this partner
    q: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> AuditFilters:
        activity, status = _text(data, "activity"), _text(data, "status")
        return cls(
            since=_day(data.get("from")),
            until=_day(data.get("to")),
            activity=activity if activity in events.LABELS else "",
            status=status if status in AuditEvent.Status.values else "",
            user=_text(data, "user", 300),
            account=_int(data.get("account")),
            partner=_int(data.get("partner")),
            q=_text(data, "q"),
        )

    def pairs(self) -> list[tuple[str, str]]:
        return _pairs(
            (
                ("from", self.since.isoformat() if self.since else ""),
                ("to", self.until.isoformat() if self.until else ""),
                ("activity", self.activity),
                ("status", self.status),
                ("user", self.user),
                ("account", self.account or ""),
                ("partner", self.partner or ""),
                ("q", self.q),
            )
        )

    def apply(self, rows: QuerySet[AuditEvent], with_status: bool = True) -> QuerySet[AuditEvent]:
        rows = in_days(rows, self.since, self.until)
        if self.activity:
            rows = rows.filter(activity=self.activity)
        if self.user:
            rows = rows.filter(performed_by__iexact=self.user)
        if self.account:
            rows = rows.filter(account_id=self.account)
        if self.partner:  # its portal's events and its own customers' (not those of partners below)
            rows = rows.filter(
                Q(account__isnull=True, partner_id=self.partner) | Q(account__partner_id=self.partner)
            )
        if self.q:
            rows = rows.filter(
                Q(description__icontains=self.q)
                | Q(performed_by__icontains=self.q)
                | Q(task_name__icontains=self.q)
            )
        if with_status and self.status:
            rows = rows.filter(status=self.status)
        return rows


@dataclass(frozen=True, slots=True)
class AuditScope:
    """Whose audit a page shows: one account's, or a partner's subtree (its own portal, the
    portals below it, and the customers its role reaches)."""

    rows: QuerySet[AuditEvent]
    url: str
    account: Account | None = None
    partner: Partner | None = None
    # The accounts the partner page's role reaches: searched and checked, never listed (there
    # may be 10,000 of them).
    reach: QuerySet[Account] | None = None
    # The partner and those below it in tree order, each with its level below the page's partner.
    partners: list[tuple[Partner, int]] = field(default_factory=list)

    @property
    def for_partner(self) -> bool:
        return self.partner is not None

    @property
    def many_partners(self) -> bool:
        """The audit covers partners below the page's: it says whose each event is."""
        return len(self.partners) > 1


def account_audit_scope(request: HttpRequest, access: AccountAccess) -> AuditScope:
    """The open account's events; those about one service only when the role sees the service."""
    services = [code for code in SERVICE_LABELS if access.can(perms.VIEW_ACTIVITY, code)]
    rows = AuditEvent.objects.restrict(request.user, perms.VIEW_ACTIVITY).filter(
        Q(service="") | Q(service__in=services), account=access.account
    )
    return AuditScope(rows, reverse("account_audit", args=[access.account.pk]), account=access.account)


def partner_audit_scope(partner: Partner, membership: Membership) -> AuditScope:
    """The portal events of the partner and of every partner below it, and the events of the
    customer accounts this partner role reaches (in this partner's subtree). A role limited to
    some accounts sees those accounts' events and, of the portals' events, only its own doings:
    others' portal events (a user added with their accessible accounts, an account's access
    removed) name accounts it must never see."""
    reach = role_reach(partner, membership)
    portals = Q(account__isnull=True) & subtree_filter(partner, "partner__")
    if not membership.all_accounts:
        portals &= Q(user_id=membership.user_id)
    rows = AuditEvent.objects.filter(portals | Q(account__in=reach.values("pk")))
    url = reverse("partner_audit", args=[partner.pk])
    partners = as_tree(partner, list(Partner.objects.filter(subtree_filter(partner))))
    return AuditScope(rows, url, partner=partner, reach=reach, partners=partners)


def role_reach(partner: Partner, membership: Membership) -> QuerySet[Account]:
    """The customer accounts the role reaches in this partner's subtree: the audit's rows, its
    account search and the account it names are all read within it."""
    return Account.objects.filter(reach_of(membership, partner)).distinct()


def chosen_account(scope: AuditScope, filters: AuditFilters) -> Account | None:
    """The account the filter names, if the role reaches it: an id from elsewhere names nothing
    (its rows are outside the scope already; its name must not show either)."""
    if scope.reach is None or not filters.account:
        return None
    return scope.reach.select_related("partner").filter(pk=filters.account).first()


def as_tree(top: Partner, partners: list[Partner]) -> list[tuple[Partner, int]]:
    """`partners` (`top` and those below it) in tree order, each right after its parent and
    siblings by name, with its level below `top`."""
    by_pk = {p.pk: p for p in partners}

    def path(p: Partner) -> list[str]:
        ids = [*p.ancestor_ids(), p.pk]
        below_top = ids[ids.index(top.pk) :] if top.pk in ids else [p.pk]
        return [by_pk[pk].name.lower() if pk in by_pk else "" for pk in below_top]

    paths = {p.pk: path(p) for p in partners}
    ordered = sorted(partners, key=lambda p: (paths[p.pk], p.pk))
    return [(p, len(paths[p.pk]) - 1) for p in ordered]


RELATED = ("account", "account__partner", "partner")  # the Account and Partner columns, no query per row


def owner_of(event: AuditEvent) -> Partner | None:
    """The partner an event belongs to: its account's partner, or the portal's for a portal event
    (an account event may also name the partner whose user acted; it is still the account's)."""
    return event.account.partner if event.account is not None else event.partner


@dataclass(frozen=True, slots=True)
class AuditRow:
    event: AuditEvent
    activity: str
    service: str
    style: str
    browser: str
    # The browser and address under the description, unless the description says them already.
    show_origin: bool
    owner: Partner | None = None


def audit_row(event: AuditEvent) -> AuditRow:
    browser = events.browser_of(event.user_agent)
    return AuditRow(
        owner=owner_of(event),
        event=event,
        activity=events.LABELS.get(event.activity, event.activity.replace("_", " ").capitalize()),
        service=SERVICE_LABELS.get(event.service, event.service),
        style=AUDIT_STYLES.get(event.status, "secondary"),
        browser=browser,
        show_origin=bool(event.ip or browser) and not (event.ip and str(event.ip) in event.description),
    )


def audit_results(scope: AuditScope, filters: AuditFilters, page_number: str | None) -> dict[str, Any]:
    rows = filters.apply(scope.rows).select_related(*RELATED).order_by("-at", "-pk")
    page = Paginator(rows, PAGE_SIZE).get_page(page_number)
    choices = [(code, label) for code, label in AuditEvent.Status.choices]
    return {
        "scope": scope,
        "filters": filters,
        "page": page,
        "rows": [audit_row(event) for event in page],
        "counts": status_counts(filters.apply(scope.rows, with_status=False), filters, choices, AUDIT_STYLES),
        "pager_query": filters.query(),
        "results_url": scope.url,
        "chosen_account": chosen_account(scope, filters),
        "without_account": replace(filters, account=None).query(),
    }


USER_SUGGESTIONS = 50


def audit_form(scope: AuditScope) -> dict[str, Any]:
    performers = (
        scope.rows.exclude(performed_by="").order_by("performed_by").values_list("performed_by", flat=True)
    )
    return {
        "activity_choices": sorted(events.LABELS.items(), key=lambda pair: pair[1]),
        "status_choices": AuditEvent.Status.choices,
        # Suggestions only (the box takes any address): a big partner's actors would fill a page.
        "user_choices": list(performers.distinct()[:USER_SUGGESTIONS]),
        "partner_choices": [(p.pk, INDENT * depth + p.name) for p, depth in scope.partners]
        if scope.many_partners
        else [],
    }


INDENT = "\N{NO-BREAK SPACE}" * 4  # a level of the partner filter's tree (an option holds no markup)


def account_matches(scope: AuditScope, filters: AuditFilters, query: str) -> dict[str, Any]:
    """The Account filter's matches for `query`: one short page of the role's reach, each with
    the link that picks it (the other filters kept), and its partner's name where the audit
    covers partners below (two resellers' customers may share a name)."""
    assert scope.reach is not None
    page = account_page(scope.reach.select_related("partner"), query)
    return {
        "matches": [(account, replace(filters, account=account.pk).query()) for account in page],
        "match_page": page,
        "account_query": query,
    }


def audit_csv_rows(scope: AuditScope, filters: AuditFilters) -> Iterator[list[Any]]:
    header = ["Date", "Activity", "Service", "Status", "Task", "Performed by", "IP address", "Browser"]
    if scope.for_partner:
        header[1:1] = ["Partner", "Partner id", "Account"]
    yield [*header, "Description"]
    rows = filters.apply(scope.rows).select_related(*RELATED).order_by("-at", "-pk")
    for event in rows.iterator(chunk_size=500):
        row = audit_row(event)
        values: list[Any] = [
            event.at,
            row.activity,
            row.service,
            event.get_status_display(),
            event.task_name,
            event.performed_by,
            event.ip or "",
            row.browser,
        ]
        if scope.for_partner:
            owner = row.owner
            account = event.account.name if event.account else ""
            values[1:1] = [owner.name if owner else "", owner.code if owner else "", account]
        yield [*values, event.description]


def audit_response(request: HttpRequest, scope: AuditScope, context: dict[str, Any]) -> HttpResponse:
    """The audit page, its htmx fragment, or its CSV: one reading of the filters for all three."""
    filters = AuditFilters.parse(request.GET)
    if request.GET.get("format") == "csv":
        name = f"security-audit-{timezone.localdate().isoformat()}.csv"
        return csvexport.response(name, audit_csv_rows(scope, filters))
    context = {**context, **audit_results(scope, filters, request.GET.get("page"))}
    if is_htmx(request):
        return render(request, "audit/partials/audit_results.html", {**context, "oob": True})
    context.update(audit_form(scope))
    # Without JavaScript the search box is submitted with the filters: its matches show open.
    query = search_text(request.GET.get(ACCOUNT_SEARCH))
    if scope.for_partner and query and not filters.account:
        context.update(account_matches(scope, filters, query))
    return render(request, "audit/audit.html", context)


@vary_on_headers("HX-Request")
@account_view(perms.VIEW_ACTIVITY)
def account_audit(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    scope = account_audit_scope(request, access)
    return audit_response(request, scope, {"access": access, "account": access.account, "tab": "audit"})


@vary_on_headers("HX-Request")
@partner_view(perms.PARTNER_VIEW_AUDIT)
def partner_audit(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    scope = partner_audit_scope(partner, membership)
    return audit_response(request, scope, {"partner": partner, "membership": membership})


@partner_view(perms.PARTNER_VIEW_AUDIT)
@require_GET
def partner_audit_accounts(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    """The Account filter's search (htmx): the accounts the role reaches whose name or e-mail
    holds the text, never more than a page; the form's other filters come along so that each
    match links to the filtered page it picks."""
    scope = partner_audit_scope(partner, membership)
    filters = AuditFilters.parse(request.GET)
    context = {"scope": scope, "results_url": scope.url}
    context.update(account_matches(scope, filters, search_text(request.GET.get(ACCOUNT_SEARCH))))
    return render(request, "audit/partials/account_matches.html", context)


# -- System Activity ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActivityFilters(QueryString):
    since: date | None = None
    until: date | None = None
    activity: str = ""
    service: str = ""
    status: str = ""
    q: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ActivityFilters:
        activity, service, status = _text(data, "activity"), _text(data, "service"), _text(data, "status")
        return cls(
            since=_day(data.get("from")),
            until=_day(data.get("to")),
            activity=activity if activity in ACTIVITY_KINDS else "",
            service=service if service in SERVICE_LABELS else "",
            status=status if status in ActivityEvent.Status.values else "",
            q=_text(data, "q"),
        )

    def pairs(self) -> list[tuple[str, str]]:
        return _pairs(
            (
                ("from", self.since.isoformat() if self.since else ""),
                ("to", self.until.isoformat() if self.until else ""),
                ("activity", self.activity),
                ("service", self.service),
                ("status", self.status),
                ("q", self.q),
            )
        )

    def apply(self, rows: QuerySet[ActivityEvent], with_status: bool = True) -> QuerySet[ActivityEvent]:
        rows = in_days(rows, self.since, self.until)
        if self.activity:
            rows = rows.filter(activity=self.activity)
        if self.service:
            rows = rows.filter(service=self.service)
        if self.q:
            rows = rows.filter(Q(task_name__icontains=self.q) | Q(item__icontains=self.q))
        if with_status and self.status:
            rows = rows.filter(status=self.status)
        return rows


def activity_services(access: AccountAccess) -> list[str]:
    return [code for code in SERVICE_LABELS if access.can(perms.VIEW_ACTIVITY, code)]


def visible_activity(request: HttpRequest, access: AccountAccess) -> QuerySet[ActivityEvent]:
    """The open account's System Activity on the services the role sees."""
    return ActivityEvent.objects.restrict(request.user, perms.VIEW_ACTIVITY).filter(
        account=access.account, service__in=activity_services(access)
    )


@dataclass(frozen=True, slots=True)
class ActivityRow:
    event: ActivityEvent
    activity: str
    icon: str
    service: str
    service_icon: str
    style: str


def activity_row(event: ActivityEvent) -> ActivityRow:
    return ActivityRow(
        event=event,
        activity=event.activity.capitalize(),
        icon=ACTIVITY_ICONS.get(event.activity, "gear"),
        service=SERVICE_LABELS.get(event.service, event.service),
        service_icon=SERVICE_ICONS.get(event.service, "cloud"),
        style=ACTIVITY_STYLES.get(event.status, "secondary"),
    )


def activity_results(
    request: HttpRequest, access: AccountAccess, filters: ActivityFilters, page_number: str | None
) -> dict[str, Any]:
    base = visible_activity(request, access)
    rows = filters.apply(base).order_by("-at", "-pk")
    page = Paginator(rows, PAGE_SIZE).get_page(page_number)
    return {
        "account": access.account,
        "filters": filters,
        "page": page,
        "rows": [activity_row(event) for event in page],
        "counts": status_counts(
            filters.apply(base, with_status=False), filters, ActivityEvent.Status.choices, ACTIVITY_STYLES
        ),
        "pager_query": filters.query(),
        "results_url": reverse("account_activity", args=[access.account.pk]),
    }


def activity_csv_rows(rows: QuerySet[ActivityEvent]) -> Iterator[list[Any]]:
    yield [
        "Date",
        "Activity",
        "Service",
        "Sub-service",
        "Status",
        "Task",
        "Item",
        "Execution time (s)",
        "Items",
        "Bytes",
        "Summary",
    ]
    for event in rows.order_by("-at", "-pk").iterator(chunk_size=500):
        yield [
            event.at,
            event.activity.capitalize(),
            SERVICE_LABELS.get(event.service, event.service),
            event.sub_service,
            event.get_status_display(),
            event.task_name,
            event.item,
            round(event.duration.total_seconds()) if event.duration is not None else "",
            event.items,
            event.bytes,
            event.summary,
        ]


@vary_on_headers("HX-Request")
@account_view(perms.VIEW_ACTIVITY)
def account_activity(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    filters = ActivityFilters.parse(request.GET)
    if request.GET.get("format") == "csv":
        rows = filters.apply(visible_activity(request, access))
        name = f"system-activity-{timezone.localdate().isoformat()}.csv"
        return csvexport.response(name, activity_csv_rows(rows))
    context = activity_results(request, access, filters, request.GET.get("page"))
    if is_htmx(request):
        return render(request, "audit/partials/activity_results.html", {**context, "oob": True})
    used = set(visible_activity(request, access).order_by().values_list("service", flat=True).distinct())
    context.update(
        access=access,
        tab="system",
        activity_choices=[(kind.value, kind.label) for kind in ACTIVITY_KINDS],
        service_choices=[(code, SERVICE_LABELS[code]) for code in activity_services(access) if code in used],
        status_choices=ActivityEvent.Status.choices,
    )
    return render(request, "audit/activity.html", context)


# -- the info pop-up ----------------------------------------------------------------------------


def duration_text(value: timedelta | None) -> str:
    if value is None:
        return ""
    seconds = max(0, round(value.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes or hours:
        parts.append(f"{minutes} min")
    parts.append(f"{seconds} s")
    return " ".join(parts)


def _count(result: Mapping[str, Any], key: str) -> int | None:
    value = result.get(key)
    return int(value) if isinstance(value, int | float) and value >= 0 else None


@dataclass(frozen=True, slots=True)
class Info:
    row: ActivityRow
    execution_time: str
    started: datetime | None
    ended: datetime | None
    items: int
    items_label: str
    items_total: int | None  # a backup: how many items the snapshot holds
    entities: int
    size: int
    stored: int | None  # a backup: new bytes written after deduplication and compression
    failed: int


def info_of(event: ActivityEvent) -> Info:
    job = event.job
    result: Mapping[str, Any] = job.result if job is not None and isinstance(job.result, dict) else {}
    backup = event.activity == Job.Kind.BACKUP
    failed = result.get("failed")
    return Info(
        row=activity_row(event),
        execution_time=duration_text(event.duration),
        started=job.started_at if job else None,
        ended=job.ended_at if job else None,
        items=event.items,
        items_label=ITEMS_LABELS.get(event.activity, "Items"),
        items_total=_count(result, "items") if backup else None,
        entities=1 if event.item else 0,
        size=(_count(result, "size") or event.bytes) if backup else event.bytes,
        stored=_count(result, "bytes_stored") if backup else None,
        failed=len(failed) if isinstance(failed, list) else (job.items_failed if job else 0),
    )


@account_view(perms.VIEW_ACTIVITY)
def activity_info(request: HttpRequest, access: AccountAccess, event_id: int) -> HttpResponse:
    event = visible_activity(request, access).select_related("job").filter(pk=event_id).first()
    if event is None:
        raise Http404("No such activity")
    context = {
        "access": access,
        "account": access.account,
        "info": info_of(event),
        "event": event,
        "back_query": ActivityFilters.parse(request.GET).query(),
        "tab": "system",
    }
    template = "audit/partials/activity_info.html" if is_htmx(request) else "audit/activity_info.html"
    return render(request, template, context)
