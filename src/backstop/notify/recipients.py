"""Who receives which notice: the one lookup every sender uses.

`addresses(account, kind)` gives the (e-mail, display name) pairs of the account's recipients
that have `kind` ticked. For the exceptions and the summary report, an account without any such
recipient falls back to its own e-mail address (`Account.email`), so failures never go unseen.
Recovery, exception and auto-discovery notices also go to the recipients of the partners that
manage the account (its partner and the partners above it), while the partner has access;
`addressees(account, kind)` gives the same list saying whose recipient each address is, so that
a partner's recipient is told which partner it receives the customer's notice for.

`partner_addresses(partner, kind)` is the partner's own list: the summary report on its customers
(falling back to `Partner.email` like an account's) and the trial accounts report.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from backstop.notify.models import Recipient
from backstop.tenancy.models import Account, Partner

SUMMARY: Final = "summary_report"
RECOVERY: Final = "recovery"
EXCEPTIONS: Final = "exceptions"
DISCOVERY: Final = "auto_discovery"
SMART_ALERTS: Final = "smart_alerts"
TRIAL: Final = "trial_report"

KINDS: Final = (SUMMARY, RECOVERY, EXCEPTIONS, DISCOVERY, SMART_ALERTS)
PARTNER_KINDS: Final = (SUMMARY, RECOVERY, EXCEPTIONS, DISCOVERY, TRIAL)
LABELS: Final = {
    SUMMARY: "Summary report",
    RECOVERY: "Recovery",
    EXCEPTIONS: "Exceptions",
    DISCOVERY: "Auto-discovery",
    SMART_ALERTS: "Smart alerts",
    TRIAL: "Trial accounts report",
}
# Kinds that go to the account's own address when nobody is ticked for them.
DEFAULTS_TO_ACCOUNT: Final = frozenset({SUMMARY, EXCEPTIONS})
# A partner's report on its customers goes to the partner's address when nobody is ticked.
DEFAULTS_TO_PARTNER: Final = frozenset({SUMMARY})
# An account's notices its managing partners' recipients receive as well.
SHARED_WITH_PARTNER: Final = frozenset({RECOVERY, EXCEPTIONS, DISCOVERY})


def managing_partner_ids(account: Account) -> list[int]:
    """The partner of the account and the partners above it, while the partner has access."""
    if account.partner_id is None or not account.partner_access:
        return []
    partner = account.partner
    ids = [int(part) for part in (partner.lineage if partner else "").strip("/").split("/") if part.isdigit()]
    return ids if account.partner_id in ids else [*ids, account.partner_id]


class Addressee(NamedTuple):
    email: str
    name: str
    partner: Partner | None  # the managing partner whose recipient this is; None: the account's own


def addressees(account: Account, kind: str) -> list[Addressee]:
    """The account's recipients of `kind`, in e-mail order, then those of its managing partners
    for the kinds shared with them. An address on several partners' lists comes first as the
    recipient of the nearest one (the account's own partner before a distributor above it)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown notification kind: {kind!r}")
    own = Recipient.objects.filter(account=account, **{kind: True}).values_list("email", "name")
    rows = [Addressee(email, name, None) for email, name in own]
    if not rows and kind in DEFAULTS_TO_ACCOUNT and account.email:
        rows = [Addressee(account.email, account.name, None)]
    if kind in SHARED_WITH_PARTNER:
        partner_ids = managing_partner_ids(account)
        if partner_ids:
            theirs = Recipient.objects.filter(partner_id__in=partner_ids, **{kind: True}).select_related(
                "partner"
            )
            depth = {pk: level for level, pk in enumerate(partner_ids)}
            nearest_first = sorted(theirs, key=lambda r: (r.email.lower(), -depth.get(r.partner_id or 0, 0)))
            rows += [Addressee(r.email, r.name, r.partner) for r in nearest_first]
    return rows


def addresses(account: Account, kind: str) -> list[tuple[str, str]]:
    """(e-mail, display name) of `addressees(account, kind)`."""
    return [(found.email, found.name) for found in addressees(account, kind)]


def partner_addresses(partner: Partner, kind: str) -> list[tuple[str, str]]:
    """(e-mail, display name) of the partner's recipients of `kind`, in e-mail order."""
    if kind not in PARTNER_KINDS:
        raise ValueError(f"Unknown partner notification kind: {kind!r}")
    rows = list(Recipient.objects.filter(partner=partner, **{kind: True}).values_list("email", "name"))
    if not rows and kind in DEFAULTS_TO_PARTNER and partner.email:
        return [(partner.email, partner.name)]
    return rows
