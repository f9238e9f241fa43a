"""A customer account's own storage (BYOS, P-ADD): checking it, keeping it, opening it.

The fields and their messages are the export destinations' (`export.validate_destination`), so a
bucket is described and refused the same way wherever a customer gives one. Before anything is
saved, `check_storage` writes a small object there and deletes it again; the credentials are then
sealed on the account's `AccountStorage` row and only the engine sees them again, as the options
of `open_store`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from backstop.backups import export
from backstop.backups.export import DestinationError
from backstop.backups.models import AccountStorage
from backstop.tenancy.models import Account

__all__ = ["KINDS", "DestinationError", "check_storage", "location", "parse_azure_connection_string"]

KINDS = tuple(AccountStorage.Kind.values)
# Where Azure's own cloud keeps blobs; a connection string naming another suffix (a national
# cloud) gets an explicit endpoint.
AZURE_SUFFIX = "core.windows.net"


def parse_azure_connection_string(text: str) -> dict[str, str]:
    """The account name, key or SAS token, and endpoint of an Azure storage connection string
    (`DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=...`)."""
    parts: dict[str, str] = {}
    for piece in text.strip().strip(";").split(";"):
        name, sep, value = piece.partition("=")
        if not sep or not name.strip():
            raise DestinationError(
                "The connection string is not valid: it is a list of Name=value pairs separated by ;.",
                "connection_string",
            )
        parts[name.strip().lower()] = value.strip()
    result = {"account_name": parts.get("accountname", "")}
    if parts.get("accountkey"):
        result["account_key"] = parts["accountkey"]
    elif parts.get("sharedaccesssignature"):
        result["sas_token"] = parts["sharedaccesssignature"]
    else:
        raise DestinationError(
            "The connection string has neither an AccountKey nor a SharedAccessSignature.",
            "connection_string",
        )
    if parts.get("blobendpoint"):
        result["endpoint"] = parts["blobendpoint"].rstrip("/")
    else:
        suffix = parts.get("endpointsuffix", AZURE_SUFFIX)
        protocol = parts.get("defaultendpointsprotocol", "https")
        if suffix != AZURE_SUFFIX and result["account_name"]:
            result["endpoint"] = f"{protocol}://{result['account_name']}.blob.{suffix}"
    if not result["account_name"]:
        if "endpoint" not in result:
            raise DestinationError("The connection string has no AccountName.", "connection_string")
        del result["account_name"]
    return result


def check_storage(
    destination: Mapping[str, Any], credentials: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    """The destination checked and normalised, and the credentials to keep; raises
    DestinationError (naming the field) unless a test object can be written there and deleted."""
    if destination.get("kind") not in KINDS:
        raise DestinationError("Choose where the customer's backups are kept.", "storage_kind")
    clean = export.validate_destination(destination)
    export.check_destination(clean, credentials)
    return clean, {key: value for key, value in credentials.items() if value}


def save_storage(
    account: Account, destination: Mapping[str, str], credentials: Mapping[str, Any]
) -> AccountStorage:
    """Keeps a checked storage on the account (call inside the transaction creating it)."""
    storage = AccountStorage(
        account=account,
        kind=destination["kind"],
        bucket=destination["bucket"],
        prefix=destination.get("prefix", ""),
        region=destination.get("region", ""),
        endpoint=destination.get("endpoint", ""),
        account_name=destination.get("account_name", ""),
        checked_at=timezone.now(),
    )
    storage.set_credentials(dict(credentials))
    storage.save()
    return storage


def location(storage: AccountStorage) -> tuple[str, dict[str, Any]]:
    """(url, options) for `engine.stores.open_store`: the storage's bucket and folder, and the
    credentials as the engine's stores take them. The URL carries no secret."""
    destination = export.validate_destination(storage.destination())
    # The export module's own helpers: one place knows how a destination becomes a store.
    options = export._store_options(destination, storage.get_credentials())
    return export._url(destination), options
