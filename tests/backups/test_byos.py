"""The customer's own storage (BYOS, P-ADD): checked before anything is saved, credentials sealed
at rest and never shown, and the account's backups land in that bucket, not in the data center.

S3 is moto's server with IAM authentication on (wrong keys are refused as by AWS); Azure is
Azurite with its development account; Google Cloud Storage is tests/engine/fake_gcs.py, which checks
the service account's signed tokens as Google does."""

from __future__ import annotations

import json
import socket
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.db import connection
from django.urls import reverse

from backstop.accounts.models import User
from backstop.audit.models import AuditEvent
from backstop.backups import byos, runner
from backstop.backups.models import AccountStorage, Job
from backstop.backups.repos import open_repository, repository_location, repository_url
from backstop.backups.services import backup_now
from backstop.engine.stores import open_store
from backstop.sandbox.box import BoxSandbox
from backstop.secrets import SecretUnreadable
from backstop.tenancy.models import Account, Membership
from tests.backups.sandbox import entity_of, seed_tenant
from tests.backups.test_export import AuthMoto, moto_auth
from tests.conftest import Personas
from tests.engine.conftest import azurite, fake_gcs
from tests.engine.servers import Azurite, FakeGCS, ServiceAccount
from tests.factories import MembershipFactory, UserFactory

__all__ = ["azurite", "fake_gcs", "moto_auth"]

PASSWORD = "kettle-orbit-lantern-42"


@pytest.fixture(autouse=True)
def _byos_settings(settings: LazySettings) -> None:
    # The emulators listen on 127.0.0.1: let the storage check reach them.
    settings.BACKSTOP_EXPORT_PRIVATE_ENDPOINTS = True
    settings.BACKSTOP_SANDBOX = True


@pytest.fixture
def olivia(personas: Personas) -> User:
    user = UserFactory(email="olivia@northwind.test")
    MembershipFactory(user=user, partner=personas.partner, role=Membership.Role.ADMIN)
    return user


def own_storage_form(storage: dict[str, str], changes: dict[str, Any]) -> dict[str, Any]:
    """Add account with the customer's own storage: the account's fields, then the storage's."""
    return {
        "name": "Initech",
        "email": "it@initech.test",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "where": "own",
        "region": "us-east",
        "path_prefix": "backstop",
        "subscription_kind": "trial",
        "plan": "monthly",
        **storage,
        **changes,
    }


def s3_form(moto: AuthMoto, bucket: str, **changes: Any) -> dict[str, Any]:
    storage = {
        "storage_kind": "s3_compatible",
        "endpoint": moto.endpoint,
        "bucket": bucket,
        "storage_region": "us-east-1",
        "access_key_id": moto.access_key_id,
        "secret_access_key": moto.secret_access_key,
    }
    return own_storage_form(storage, changes)


def nothing_saved() -> bool:
    return not (
        Account.objects.filter(name="Initech").exists()
        or User.objects.filter(email="it@initech.test").exists()
        or AccountStorage.objects.exists()
        or AuditEvent.objects.filter(activity="account_created").exists()
    )


def add(personas: Personas, user: User, data: dict[str, Any]) -> Any:
    return personas.client(user).post(reverse("partner_add_account", args=[personas.partner.pk]), data)


def errors_of(response: Any) -> dict[str, list[str]]:
    return {name: [str(e) for e in errs] for name, errs in response.context["form"].errors.items()}


@pytest.mark.django_db(transaction=True)
def test_bad_storage_credentials_are_refused_clearly_and_nothing_is_saved(
    personas: Personas, olivia: User, moto_auth: AuthMoto
) -> None:
    bucket = moto_auth.new_bucket()
    wrong_secret = add(personas, olivia, s3_form(moto_auth, bucket, secret_access_key="not-the-secret"))
    assert wrong_secret.status_code == 200
    assert errors_of(wrong_secret)["access_key_id"] == [
        "The access key was refused: the secret access key does not match the access key ID."
    ]
    assert b"not-the-secret" not in wrong_secret.content, "a secret is never written back"
    unknown_key = add(personas, olivia, s3_form(moto_auth, bucket, access_key_id="AKIAIOSFODNN7EXAMPLE"))
    assert errors_of(unknown_key)["access_key_id"][0].startswith("The access key was refused")
    missing = add(personas, olivia, s3_form(moto_auth, "no-such-bucket-here"))
    assert errors_of(missing)["bucket"] == [
        "The bucket “no-such-bucket-here” does not exist (or is not visible with these credentials)."
    ]
    unreachable = add(personas, olivia, s3_form(moto_auth, bucket, endpoint="http://127.0.0.1:9"))
    assert errors_of(unreachable)["endpoint"][0].startswith("Cannot reach http://127.0.0.1:9")
    blank = add(personas, olivia, s3_form(moto_auth, "", secret_access_key=""))
    assert errors_of(blank)["bucket"] == ["Required for this storage."]
    assert errors_of(blank)["secret_access_key"] == ["Required for this storage."]
    assert nothing_saved()
    assert moto_auth.objects(bucket) == {}, "a refused check leaves nothing behind"


@pytest.mark.django_db(transaction=True)
def test_a_private_endpoint_is_refused_unless_the_installation_allows_it(
    personas: Personas, olivia: User, moto_auth: AuthMoto, settings: LazySettings
) -> None:
    settings.BACKSTOP_EXPORT_PRIVATE_ENDPOINTS = False
    response = add(personas, olivia, s3_form(moto_auth, moto_auth.new_bucket()))
    assert "resolves to a private or reserved address" in errors_of(response)["endpoint"][0]
    assert nothing_saved()


@pytest.mark.django_db(transaction=True)
def test_credentials_are_sealed_at_rest_and_never_shown(
    personas: Personas, olivia: User, moto_auth: AuthMoto
) -> None:
    bucket = moto_auth.new_bucket()
    response = add(personas, olivia, s3_form(moto_auth, bucket))
    assert response.status_code == 302, errors_of(response)
    account = Account.objects.get(name="Initech")
    storage = AccountStorage.objects.get(account=account)
    assert (storage.kind, storage.bucket, storage.prefix, storage.endpoint) == (
        "s3_compatible",
        bucket,
        "backstop",
        moto_auth.endpoint,
    )
    assert moto_auth.objects(bucket) == {}, "the check's test object is deleted"

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM backups_accountstorage WHERE account_id = %s", [account.pk])
        raw_row = cursor.fetchone()
    raw = b"".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in raw_row)
    assert moto_auth.secret_access_key.encode() not in raw
    assert moto_auth.access_key_id.encode() not in raw
    assert storage.get_credentials() == {
        "access_key_id": moto_auth.access_key_id,
        "secret_access_key": moto_auth.secret_access_key,
    }
    # Sealed for this account: the same bytes on another account's row do not open.
    other = AccountStorage(account=personas.b, sealed_credentials=storage.sealed_credentials)
    with pytest.raises(SecretUnreadable):
        other.get_credentials()

    done = personas.client(olivia).get(response["Location"]).content.decode()
    assert bucket in done and moto_auth.secret_access_key not in done
    assert moto_auth.access_key_id not in done
    (event,) = AuditEvent.objects.filter(activity="account_created")
    assert bucket in event.description and moto_auth.secret_access_key not in event.description
    assert moto_auth.secret_access_key not in repository_url(account)
    # The account's home and settings say where its backups are kept.
    for page in ("account_home", "account_settings"):
        html = personas.client(olivia).get(reverse(page, args=[account.pk])).content.decode()
        assert f"Own storage: S3-compatible storage, {bucket}" in html, page


@pytest.mark.django_db(transaction=True)
def test_a_byos_account_backs_up_into_its_own_bucket(
    personas: Personas, olivia: User, moto_auth: AuthMoto, box_sandbox: BoxSandbox, settings: LazySettings
) -> None:
    bucket = moto_auth.new_bucket()
    response = add(personas, olivia, s3_form(moto_auth, bucket))
    assert response.status_code == 302, errors_of(response)
    account = Account.objects.get(name="Initech")
    url, options = repository_location(account)
    assert url == f"s3://{bucket}/backstop/accounts/a{account.pk}"
    assert options["secret_access_key"] == moto_auth.secret_access_key

    tenant = seed_tenant(box_sandbox, users=1, files_per_user=6)
    task = tenant.task(account)
    entity = entity_of(task, tenant.users[0])
    (job,) = backup_now([entity])
    runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error

    stored = moto_auth.objects(bucket)
    prefix = f"backstop/accounts/a{account.pk}/"
    assert stored and all(key.startswith(prefix) for key in stored), sorted(stored)
    kinds = {key[len(prefix) :].split("/", 1)[0] for key in stored}
    assert {"keys", "data", "index", "snapshots"} <= kinds, sorted(stored)
    # Encrypted before it left: no file's content is readable in the bucket.
    assert not any(b"user 0 file 0" in data for data in stored.values())
    # Nothing of this account in its data center's store.
    region_store = Path(settings.BACKSTOP_STORAGE[account.region].removeprefix("file://"))
    assert not (region_store / "accounts" / f"a{account.pk}").exists()
    # The repository reads back from the bucket.
    entity.refresh_from_db()
    repo = open_repository(account, create=False)
    snapshot = repo.snapshot(entity.last_snapshot)
    files = {path for path, e in repo.walk(snapshot) if not e.is_folder}
    assert len(files) == 6


@pytest.mark.django_db(transaction=True)
def test_azure_with_a_connection_string(
    personas: Personas,
    olivia: User,
    azurite: Azurite,
) -> None:
    container = azurite.new_container()
    data = {
        "name": "Initech",
        "email": "it@initech.test",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "where": "own",
        "storage_kind": "azure",
        "bucket": container,
        "connection_string": azurite.connection_string,
        "subscription_kind": "no_trial",
        "plan": "annual",
    }
    wrong = azurite.connection_string.replace(azurite.account_key, "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw")
    refused = add(personas, olivia, dict(data, connection_string=wrong))
    assert errors_of(refused)["account_key"][0].startswith("The storage account key was refused")
    other_name = add(personas, olivia, dict(data, account_name="someoneelse"))
    assert "is for the storage account “devstoreaccount1”" in errors_of(other_name)["connection_string"][0]
    assert nothing_saved()

    response = add(personas, olivia, data)
    assert response.status_code == 302, errors_of(response)
    storage = AccountStorage.objects.get(account__name="Initech")
    assert (storage.kind, storage.account_name, storage.endpoint) == (
        "azure",
        azurite.account_name,
        azurite.endpoint,
    )
    assert storage.get_credentials() == {"account_key": azurite.account_key}
    repo = open_repository(storage.account)
    assert repo is not None
    raw = open_store(f"az://{container}", azurite.options())
    keys = [info.key for info in raw.list("")]
    assert keys and all(key.startswith(f"accounts/a{storage.account_id}/") for key in keys)


def test_google_cloud_storage_needs_a_service_account_key(personas: Personas, olivia: User) -> None:
    data = {
        "name": "Initech",
        "email": "it@initech.test",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "where": "own",
        "storage_kind": "gcs",
        "bucket": "initech-backups",
        "service_account_key": json.dumps({"type": "authorized_user"}),
        "subscription_kind": "trial",
    }
    response = add(personas, olivia, data)
    assert errors_of(response)["service_account_key"] == [
        "Paste the JSON key file of a Google Cloud service account."
    ]
    bad_bucket = add(personas, olivia, dict(data, bucket="Bad_Bucket!"))
    assert "bucket" in errors_of(bad_bucket)
    assert nothing_saved()


@pytest.fixture
def gcs(fake_gcs: FakeGCS, settings: LazySettings) -> FakeGCS:
    """The GCS emulator, named as this installation's own: customers' keys may point only there."""
    settings.BACKSTOP_GCS_EMULATOR_URL = fake_gcs.endpoint
    return fake_gcs


def gcs_form(bucket: str, key: str, **changes: Any) -> dict[str, Any]:
    return own_storage_form({"storage_kind": "gcs", "bucket": bucket, "service_account_key": key}, changes)


def bucket_objects(gcs: FakeGCS, bucket: str) -> dict[str, bytes]:
    """Every object in the bucket, listed and read through the emulator."""
    store = open_store(f"gs://{bucket}", gcs.options())
    return {info.key: store.get(info.key) for info in store.list("")}


@pytest.mark.django_db(transaction=True)
def test_a_bad_google_key_or_bucket_is_refused_clearly_and_nothing_is_saved(
    personas: Personas, olivia: User, gcs: FakeGCS
) -> None:
    bucket = gcs.new_bucket()
    stranger = add(personas, olivia, gcs_form(bucket, gcs.key_json(ServiceAccount.new("stranger"))))
    assert errors_of(stranger)["service_account_key"] == [
        "The service account key was refused: Google Cloud does not accept it "
        "(the key may have been deleted or disabled)."
    ]
    missing = add(personas, olivia, gcs_form("no-such-bucket-here", gcs.key_json()))
    assert errors_of(missing)["bucket"] == [
        "The bucket “no-such-bucket-here” does not exist (or is not visible with these credentials)."
    ]
    broken = json.loads(gcs.key_json())
    broken["private_key"] = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    unreadable = add(personas, olivia, gcs_form(bucket, json.dumps(broken)))
    assert errors_of(unreadable)["service_account_key"][0].startswith(
        "The private key in this key file cannot be read"
    )
    assert b"PRIVATE KEY" not in unreadable.content, "a secret is never written back"
    assert nothing_saved()
    assert bucket_objects(gcs, bucket) == {}, "a refused check leaves nothing behind"


@pytest.mark.django_db(transaction=True)
def test_a_google_cloud_storage_account_backs_up_into_its_own_bucket(
    personas: Personas, olivia: User, gcs: FakeGCS, box_sandbox: BoxSandbox, settings: LazySettings
) -> None:
    bucket = gcs.new_bucket()
    response = add(personas, olivia, gcs_form(bucket, gcs.key_json()))
    assert response.status_code == 302, errors_of(response)
    account = Account.objects.get(name="Initech")
    storage = AccountStorage.objects.get(account=account)
    assert (storage.kind, storage.bucket, storage.prefix) == ("gcs", bucket, "backstop")
    assert storage.get_credentials() == {"service_account_key": gcs.key_json()}
    assert bucket_objects(gcs, bucket) == {}, "the check's test object is deleted"
    url, options = repository_location(account)
    assert url == f"gs://{bucket}/backstop/accounts/a{account.pk}"
    assert options == {"service_account_key": gcs.key_json()}
    html = personas.client(olivia).get(reverse("account_settings", args=[account.pk])).content.decode()
    assert f"Own storage: Google Cloud Storage, {bucket}" in html
    assert gcs.account.key_id not in html

    tenant = seed_tenant(box_sandbox, users=1, files_per_user=6)
    entity = entity_of(tenant.task(account), tenant.users[0])
    (job,) = backup_now([entity])
    runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error

    stored = bucket_objects(gcs, bucket)
    prefix = f"backstop/accounts/a{account.pk}/"
    assert stored and all(key.startswith(prefix) for key in stored), sorted(stored)
    assert {"keys", "data", "index", "snapshots"} <= {key[len(prefix) :].split("/", 1)[0] for key in stored}
    assert not any(b"user 0 file 0" in data for data in stored.values()), "encrypted before it left"
    region_store = Path(settings.BACKSTOP_STORAGE[account.region].removeprefix("file://"))
    assert not (region_store / "accounts" / f"a{account.pk}").exists()
    entity.refresh_from_db()
    repo = open_repository(account, create=False)
    files = {path for path, e in repo.walk(repo.snapshot(entity.last_snapshot)) if not e.is_folder}
    assert len(files) == 6
    # The emulator's address is checked at every opening, not only when the key is entered.
    settings.BACKSTOP_GCS_EMULATOR_URL = ""
    with pytest.raises(byos.DestinationError, match="another server than Google Cloud Storage"):
        repository_location(account)


@pytest.mark.django_db(transaction=True)
def test_a_google_key_naming_another_server_is_refused_without_contacting_it(
    personas: Personas, olivia: User, fake_gcs: FakeGCS, settings: LazySettings
) -> None:
    """object_store sends a key file's requests to its `gcs_base_url`: a customer must not be able to
    point Backstop at a host of their choosing (an internal one, say), only the tests at their emulator."""
    with closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        elsewhere = f"http://127.0.0.1:{listener.getsockname()[1]}"
        keys = {
            "another server": fake_gcs.account.key_file(gcs_base_url=elsewhere),
            "no OAuth": fake_gcs.account.key_file(disable_oauth=True),
            "the emulator, not allowed here": fake_gcs.account.key_file(gcs_base_url=fake_gcs.endpoint),
        }
        settings.BACKSTOP_GCS_EMULATOR_URL = ""
        for why, key in keys.items():
            response = add(personas, olivia, gcs_form("initech-backups", json.dumps(key)))
            assert errors_of(response)["service_account_key"][0].startswith(
                "This key file sends Backstop to another server than Google Cloud Storage"
            ), why
        settings.BACKSTOP_GCS_EMULATOR_URL = fake_gcs.endpoint  # a test installation: still only its own
        response = add(personas, olivia, gcs_form("initech-backups", json.dumps(keys["another server"])))
        assert "(gcs_base_url)" in errors_of(response)["service_account_key"][0]
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody ever connected to the named host
    assert nothing_saved()


def test_connection_strings_are_read() -> None:
    parsed = byos.parse_azure_connection_string(
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=a2V5;EndpointSuffix=core.windows.net"
    )
    assert parsed == {"account_name": "acme", "account_key": "a2V5"}
    china = byos.parse_azure_connection_string(
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn;"
    )
    assert china["endpoint"] == "https://acme.blob.core.chinacloudapi.cn"
    sas = byos.parse_azure_connection_string(
        "BlobEndpoint=https://acme.blob.core.windows.net/;SharedAccessSignature=sv=2024&sig=abc"
    )
    assert sas == {"sas_token": "sv=2024&sig=abc", "endpoint": "https://acme.blob.core.windows.net"}
    for bad in ("just text", "AccountName=acme", "=x"):
        with pytest.raises(byos.DestinationError) as caught:
            byos.parse_azure_connection_string(bad)
        assert caught.value.field == "connection_string"
