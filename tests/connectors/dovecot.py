"""A private Dovecot for the IMAP connector's tests: started as a subprocess on free ports, with its
own base_dir, state_dir, users file and self-signed certificate under a temporary directory.

One instance serves plain IMAP (with STARTTLS) on `port` and IMAP over TLS on `tls_port`. Users
are added at run time (Dovecot re-reads its passwd-file when the file changes). XOAUTH2 goes to an
oauth2 passdb whose introspection URL is a tiny HTTP server in the test process (`TokenServer`).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

MAIL_UID = 65534  # nobody/nogroup: Dovecot refuses uid 0 and uids below first_valid_uid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A CA-less self-signed certificate for 127.0.0.1 and localhost; returns (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "backstop-test-dovecot")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class TokenServer:
    """An OAuth2 token introspection endpoint (RFC 7662 style) for Dovecot's oauth2 passdb:
    POST token=... answers {"active": true, "username": ...} for tokens it issued."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.requests = 0
        tokens = self.tokens
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                token = (form.get("token") or [""])[0]
                owner.requests += 1
                user = tokens.get(token)
                body = json.dumps({"active": True, "username": user} if user else {"active": False})
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/introspect"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Dovecot:
    """One private Dovecot master process. Use `start()` / `stop()` or as a context manager."""

    def __init__(self, root: Path | None = None, oauth_url: str | None = None, layout: str = "") -> None:
        """`layout="index"` keeps folder names in the index, so a name may hold "/" beside the "."
        separator (and Dovecot 2.3 then sends no HIGHESTMODSEQ on SELECT: the NOMODSEQ case)."""
        binary = shutil.which("dovecot") or (
            "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
        )
        if binary is None:
            raise RuntimeError(
                "Dovecot is not installed: run `scripts/system-deps dovecot-imapd` as root "
                "(the IMAP connector's tests need a real Dovecot)"
            )
        if os.geteuid() != 0:
            raise RuntimeError("the Dovecot test fixture runs Dovecot as root (as the tests do)")
        self.binary = binary
        self.root = root or Path(tempfile.mkdtemp(prefix="backstop-dovecot-"))
        self.oauth_url = oauth_url
        self.layout = layout
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.users_file = self.root / "users"
        self.mail = self.root / "mail"
        self.conf = self.root / "dovecot.conf"
        self._passwords: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stamp = 0.0
        self._next_pool = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def _write_config(self) -> None:
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chown(self.mail, MAIL_UID, MAIL_UID)
        self.root.chmod(0o755)
        self.cert, self.key = self_signed(self.root)
        self.users_file.touch()
        oauth = ""
        mechanisms = "plain login"
        if self.oauth_url:
            mechanisms += " xoauth2 oauthbearer"
            oauth_conf = self.root / "oauth2.conf.ext"
            oauth_conf.write_text(
                f"introspection_mode = post\n"
                f"introspection_url = {self.oauth_url}\n"
                f"username_attribute = username\n"
                f"active_attribute = active\n"
                f"active_value = true\n"
                f"tls_ca_cert_file = {self.cert}\n"
            )
            oauth = (
                "passdb {\n"
                "  driver = oauth2\n"
                "  mechanisms = xoauth2 oauthbearer\n"
                f"  args = {oauth_conf}\n"
                "}\n"
            )
        self.conf.write_text(
            f"""protocols = imap
listen = {self.host}
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
info_log_path = {self.root}/dovecot.log
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{self.key}
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
mail_location = maildir:~/Maildir{":LAYOUT=" + self.layout if self.layout else ""}
auth_failure_delay = 0
mail_max_userip_connections = 200
namespace inbox {{
  inbox = yes
  separator = .
}}
{oauth}passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {self.users_file}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.users_file}
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.tls_port}
    ssl = yes
  }}
}}
# No auth penalty: the tests fail logins on purpose and go on logging in from 127.0.0.1.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""
        )

    def start(self) -> Dovecot:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # the auth and mail processes run as other users
        self._write_config()
        with self._lock:
            for n in range(self.POOL):
                self._passwords[f"pool{n}@example.test"] = f"secret-{n}"
            self._write_users()
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.conf)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                out = self.process.stdout.read().decode(errors="replace") if self.process.stdout else ""
                raise RuntimeError(
                    f"Dovecot exited at start ({self.process.returncode}): {out}\n{self.log()}"
                )
            if self._answers(self.port) and self._answers(self.tls_port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Dovecot did not listen on {self.port}/{self.tls_port}:\n{self.log()}")

    def _answers(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stdout:
            process.stdout.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # -- users -------------------------------------------------------------------------------
    def _write_users(self) -> None:
        lines = [
            f"{user}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_UID}::{self.mail / user}::\n"
            for user, password in self._passwords.items()
        ]
        tmp = self.users_file.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        tmp.chmod(0o644)  # Dovecot's auth worker reads it, whatever the process umask is
        os.replace(tmp, self.users_file)
        # Dovecot looks at a passwd-file's mtime at most once a second, and whole seconds of it:
        # make the mtime move, and let a second pass so that the next lookup sees the change.
        self._stamp = max(time.time(), self._stamp + 1)
        os.utime(self.users_file, (self._stamp, self._stamp))
        if self.process is not None:
            time.sleep(1.1)

    POOL = 400

    def new_user(self) -> tuple[str, str]:
        """A fresh mailbox (user, password) from the pool written before start: no waiting."""
        with self._lock:
            n = self._next_pool
            if n >= self.POOL:
                raise RuntimeError("the Dovecot fixture's user pool is used up: raise Dovecot.POOL")
            self._next_pool += 1
        return f"pool{n}@example.test", f"secret-{n}"

    def add_user(self, user: str, password: str) -> None:
        """A user added while Dovecot runs (costs a second, see _write_users)."""
        with self._lock:
            self._passwords[user] = password
            self._write_users()

    def set_password(self, user: str, password: str) -> None:
        self.add_user(user, password)
