"""Real object-store emulators for the engine tests, started by the tests themselves.

- `MotoS3`: moto's S3 server (`moto_server`, from the dev dependencies);
- `Azurite`: Microsoft's Azure blob emulator, installed into .tools/azurite by `scripts/azurite`;
- `FakeGCS`: Google Cloud Storage's XML API (tests/engine/fake_gcs.py), which object_store speaks and
  no emulator on PyPI does; it checks the service account's signed tokens like Google.

Each runs as a child process on a free 127.0.0.1 port. A server that does not start is an error
carrying its output, never a skip.
"""

from __future__ import annotations

import base64
import ctypes
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AZURITE_SCRIPT = ROOT / "scripts" / "azurite"
AZURITE_BLOB = ROOT / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
FAKE_GCS = Path(__file__).with_name("fake_gcs.py")

# Azurite's well-known development account (public, the same in every Azurite).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class ServerFailed(RuntimeError):
    """An emulator did not start; the message carries its output."""


def _die_with_parent() -> None:
    """In the child: on Linux, be terminated when the test process dies, even by SIGKILL."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique_name(kind: str) -> str:
    """A bucket or container name valid on both S3 and Azure (lower case, digits, dashes)."""
    return f"{kind}-{uuid.uuid4().hex[:16]}"


class Server:
    """A child process whose output goes to a log file, reachable over HTTP once started."""

    def __init__(self, name: str, argv: list[str], url: str, log: Path, cwd: Path | None = None) -> None:
        self.name = name
        self.argv = argv
        self.url = url
        self.log_path = log
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace").strip() or "(no output)"
        except FileNotFoundError:
            return "(no output)"

    def start(self, timeout: float = 60) -> None:
        with self.log_path.open("wb") as log:
            try:
                self.process = subprocess.Popen(
                    self.argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.cwd,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise ServerFailed(f"cannot run {self.name} ({' '.join(self.argv)}): {exc}") from exc
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise ServerFailed(
                    f"{self.name} exited with status {code} before answering on {self.url}.\n"
                    f"command: {' '.join(self.argv)}\noutput:\n{self.output()}"
                )
            if _answers(self.url):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ServerFailed(
                    f"{self.name} did not answer on {self.url} within {timeout:.0f} s.\n"
                    f"command: {' '.join(self.argv)}\noutput:\n{self.output()}"
                )
            time.sleep(0.1)

    def stop(self, within: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(within)


def _answers(url: str) -> bool:
    """Any HTTP answer, even an error status, means the server is up."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@dataclass
class MotoS3:
    """moto's S3 server. Any access key is accepted; buckets are created per test."""

    endpoint: str
    region: str = "us-east-1"
    access_key_id: str = "test"
    secret_access_key: str = "test"
    buckets: list[str] = field(default_factory=list)

    def new_bucket(self) -> str:
        name = unique_name("bucket")
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=30) as answer:
            if answer.status != 200:
                raise ServerFailed(f"moto did not create bucket {name}: HTTP {answer.status}")
        self.buckets.append(name)
        return name

    def options(self) -> dict[str, Any]:
        """The `open_store` options for s3:// URLs on this server."""
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
        }


@dataclass
class Azurite:
    """Azurite's blob service with the well-known development account."""

    endpoint: str  # http://127.0.0.1:PORT/devstoreaccount1
    account_name: str = AZURITE_ACCOUNT
    account_key: str = AZURITE_KEY
    containers: list[str] = field(default_factory=list)

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.endpoint};"
        )

    def new_container(self) -> str:
        from azure.storage.blob import BlobServiceClient

        name = unique_name("container")
        with BlobServiceClient.from_connection_string(self.connection_string) as client:
            client.create_container(name)
        self.containers.append(name)
        return name

    def options(self, account_key: str | None = None) -> dict[str, Any]:
        """The `open_store` options for az:// URLs on this server."""
        return {
            "account_name": self.account_name,
            "account_key": account_key or self.account_key,
            "endpoint": self.endpoint,
        }


@dataclass
class ServiceAccount:
    """A Google Cloud service account with one RSA key, as its JSON key file describes it."""

    client_email: str
    key_id: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def new(cls, name: str = "backstop-tests") -> ServiceAccount:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(f"{name}@backstop-tests.iam.gserviceaccount.com", uuid.uuid4().hex, key)

    def public_pem(self) -> str:
        public = self.private_key.public_key()
        return public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def key_file(self, **extra: Any) -> dict[str, Any]:
        """The JSON key file Google Cloud hands out, plus `extra` fields (gcs_base_url for an emulator)."""
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": "backstop-tests",
            "private_key_id": self.key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "token_uri": "https://oauth2.googleapis.com/token",
            **extra,
        }

    def bearer(self) -> str:
        """A self-signed JWT, as object_store makes from the key file."""

        def part(data: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        now = int(time.time())
        claims = {"iss": self.client_email, "sub": self.client_email, "iat": now, "exp": now + 600}
        message = f"{part({'alg': 'RS256', 'typ': 'JWT', 'kid': self.key_id})}.{part(claims)}"
        signature = self.private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{message}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


@dataclass
class FakeGCS:
    """The GCS emulator, knowing one service account; buckets are created per test."""

    endpoint: str
    account: ServiceAccount
    buckets: list[str] = field(default_factory=list)

    def new_bucket(self) -> str:
        name = unique_name("bucket")
        headers = {"Authorization": f"Bearer {self.account.bearer()}"}
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as answer:
            if answer.status != 200:
                raise ServerFailed(f"the GCS emulator did not create bucket {name}: HTTP {answer.status}")
        self.buckets.append(name)
        return name

    def key_json(self, account: ServiceAccount | None = None) -> str:
        """The service account key file pointing at this emulator (another account's when given)."""
        return json.dumps((account or self.account).key_file(gcs_base_url=self.endpoint))

    def options(self, account: ServiceAccount | None = None) -> dict[str, Any]:
        """The `open_store` options for gs:// URLs on this server."""
        return {"service_account_key": self.key_json(account)}


def start_fake_gcs(workdir: Path) -> tuple[Server, FakeGCS]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    account = ServiceAccount.new()
    accounts = workdir / "accounts.json"
    entry = {"key_id": account.key_id, "public_key": account.public_pem()}
    accounts.write_text(json.dumps({account.client_email: entry}))
    server = Server(
        "fake GCS",
        [sys.executable, str(FAKE_GCS), "--port", str(port), "--accounts", str(accounts)],
        endpoint + "/",
        workdir / "fake-gcs.log",
        cwd=workdir,
    )
    server.start()
    return server, FakeGCS(endpoint, account)


def start_moto(workdir: Path) -> tuple[Server, MotoS3]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    server = Server(
        "moto_server",
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        endpoint + "/moto-api/",
        workdir / "moto.log",
        cwd=workdir,
    )
    server.start()
    return server, MotoS3(endpoint)


def install_azurite() -> None:
    """`scripts/azurite`: installs the pinned Azurite into .tools/azurite when missing."""
    result = subprocess.run([str(AZURITE_SCRIPT)], capture_output=True, text=True, timeout=600)
    if result.returncode != 0 or not AZURITE_BLOB.exists():
        raise ServerFailed(
            f"scripts/azurite failed (status {result.returncode}):\n{result.stdout}\n{result.stderr}".strip()
        )


def start_azurite(workdir: Path) -> tuple[Server, Azurite]:
    install_azurite()
    port = free_port()
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    server = Server(
        "azurite-blob",
        [
            str(AZURITE_BLOB),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(data),
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--disableProductStyleUrl",
            "--silent",
        ],
        f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}?comp=list",
        workdir / "azurite.log",
        cwd=workdir,
    )
    server.start()
    return server, Azurite(f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}")
