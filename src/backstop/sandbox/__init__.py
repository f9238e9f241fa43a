"""Emulators of the services Backstop backs up (a plain library: no Django).

Each emulator serves the subset of the vendor's API the connector uses, with the same URLs, JSON
shapes, paging and change cursors, OAuth included, plus a seeded data generator and fault
injection. See `backstop.sandbox.box` (Box) and `backstop.sandbox.mail` (RFC 822 messages for the
IMAP tests and the demo).
"""
