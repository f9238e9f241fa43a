"""Connectors: one package per service behind one interface (`base.Connector`). No Django."""
