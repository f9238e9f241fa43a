"""Who receives which notice: the one lookup every sender uses.

`addresses(account, kind)` gives the (e-mail, display name) pairs of the account's recipients
that have `kind` ticked. For the exceptions and the summary report, an account without any such
recipient falls back to its own e-mail address (`Account.email`), so failures never go unseen.
"""

from __future__ import annotations

from typing import Final

from backstop.notify.models import Recipient
from backstop.tenancy.models import Account

SUMMARY: Final = "summary_report"
RECOVERY: Final = "recovery"
EXCEPTIONS: Final = "exceptions"
DISCOVERY: Final = "auto_discovery"
SMART_ALERTS: Final = "smart_alerts"

KINDS: Final = (SUMMARY, RECOVERY, EXCEPTIONS, DISCOVERY, SMART_ALERTS)
LABELS: Final = {
    SUMMARY: "Summary report",
    RECOVERY: "Recovery",
    EXCEPTIONS: "Exceptions",
    DISCOVERY: "Auto-discovery",
    SMART_ALERTS: "Smart alerts",
}
# Kinds that go to the account's own address when nobody is ticked for them.
DEFAULTS_TO_ACCOUNT: Final = frozenset({SUMMARY, EXCEPTIONS})


def addresses(account: Account, kind: str) -> list[tuple[str, str]]:
    """(e-mail, display name) of the account's recipients of `kind`, in e-mail order."""
    if kind not in KINDS:
        raise ValueError(f"Unknown notification kind: {kind!r}")
    rows = list(Recipient.objects.filter(account=account, **{kind: True}).values_list("email", "name"))
    if not rows and kind in DEFAULTS_TO_ACCOUNT and account.email:
        return [(account.email, account.name)]
    return rows
