"""Billing's signals, for the pages that keep figures derived from bills (the partner dashboard's
billing column and tiles)."""

from django.dispatch import Signal

# A bill was issued, paid, or its charge failed. Arguments: `invoice`.
bill_changed = Signal()
