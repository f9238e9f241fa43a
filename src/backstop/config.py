"""Typed configuration read from the environment.

Every knob an operator sets lives here, parsed once and failing loudly with the variable's name
when a value is wrong. `<NAME>_FILE` may replace any secret (`BACKSTOP_MASTER_KEY_FILE=...`).
Knobs that support staff change per tenant (retention, frequency) live in the database instead.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from backstop.regions import REGIONS


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def _raw(env: Mapping[str, str], name: str) -> str | None:
    file_var = f"{name}_FILE"
    if env.get(file_var):
        path = Path(env[file_var])
        try:
            text = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{file_var}: cannot read {path}: {exc.strerror}") from exc
        if not text:
            # An unmounted secret must not fall back to a fresh key of our own.
            raise ConfigError(f"{file_var}: {path} is empty")
        return text
    value = env.get(name)
    return value if value not in (None, "") else None


def env_str(env: Mapping[str, str], name: str, default: str) -> str:
    value = _raw(env, name)
    return default if value is None else value


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _raw(env, name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}: expected true or false, got {value!r}")


def env_int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    value = _raw(env, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {number}")
    return number


def env_list(env: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    value = _raw(env, name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """IPv4/IPv6 addresses or networks (CIDR), normalised; a bad entry fails naming it."""
    networks = []
    for item in env_list(env, name, []):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(f"{name}: {item!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


def _url(env: Mapping[str, str], name: str, default: str, schemes: set[str]) -> str:
    value = env_str(env, name, default)
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise ConfigError(f"{name}: unsupported scheme {parts.scheme!r} in {value!r} (use {allowed})")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"{name}: the port in {value!r} is not a number") from None
    # PostgreSQL may name no host: it then uses its local socket.
    needs_host = parts.scheme in {"http", "https", "redis", "rediss", "smtp", "smtps"}
    if needs_host and not parts.hostname:
        raise ConfigError(f"{name}: no host name in {value!r}")
    return value


def _email_url(env: Mapping[str, str], data_dir: Path) -> str:
    value = _url(
        env, "BACKSTOP_EMAIL_URL", (data_dir / "outbox").as_uri(), {"file", "smtp", "smtps", "console"}
    )
    if value.startswith("smtps:") and "tls=1" in value:
        raise ConfigError(
            "BACKSTOP_EMAIL_URL: smtps:// already means TLS; drop ?tls=1 (or use smtp://...?tls=1)"
        )
    return value


def _base_url(env: Mapping[str, str]) -> str:
    value = _url(env, "BACKSTOP_BASE_URL", "http://127.0.0.1:8000", {"http", "https"}).rstrip("/")
    if urlsplit(value).path:
        raise ConfigError(f"BACKSTOP_BASE_URL: give the site's root, without a path: {value!r}")
    return value


def _key_file(path: Path, name: str, make: bool) -> bytes:
    """Reads a base64 key file, creating it with mode 0600 on first run."""
    if not path.exists():
        if not make:
            raise ConfigError(f"{name}: key file {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    return _decode_key(path.read_text().strip(), name)


def _decode_key(text: str, name: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        raise ConfigError(f"{name}: not valid base64") from None
    if len(key) != 32:
        raise ConfigError(f"{name}: expected 32 bytes of key, got {len(key)}")
    return key


@dataclass(frozen=True, slots=True)
class Config:
    data_dir: Path
    debug: bool
    secret_key: str
    master_key: bytes = field(repr=False)
    database_url: str
    broker_url: str
    cache_url: str | None
    storage: dict[str, str]
    email_url: str
    default_from_email: str
    base_url: str
    allowed_hosts: list[str]
    support_email: str
    google_client_id: str | None
    google_secret: str | None = field(repr=False)
    microsoft_client_id: str | None
    microsoft_secret: str | None = field(repr=False)
    microsoft_tenant: str
    trusted_proxies: tuple[str, ...]
    worker_threads: int
    scheduler_interval: int
    log_level: str
    job_lease_seconds: int = 120
    checkpoint_seconds: int = 120
    sandbox: bool = False
    sandbox_box_url: str = ""
    box_client_id: str | None = None
    box_client_secret: str | None = field(default=None, repr=False)
    export_private_endpoints: bool = False
    payment_gateway: str = "sandbox"
    stripe_secret_key: str | None = field(default=None, repr=False)
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = field(default=None, repr=False)
    stripe_api_base: str = "https://api.stripe.com"
    bank_transfer: str = ""
    seller: str = "Backstop"
    support_url: str = ""
    partner_zone_url: str = ""

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")


def load(env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    data_dir = Path(env_str(env, "BACKSTOP_DATA_DIR", "./var")).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)

    master_text = _raw(env, "BACKSTOP_MASTER_KEY")
    master_key = (
        _decode_key(master_text, "BACKSTOP_MASTER_KEY")
        if master_text
        else _key_file(data_dir / "master.key", "BACKSTOP_MASTER_KEY", make=True)
    )
    secret_key = _raw(env, "BACKSTOP_SECRET_KEY")
    if secret_key is None:
        secret_key = base64.b64encode(
            _key_file(data_dir / "secret.key", "BACKSTOP_SECRET_KEY", make=True)
        ).decode()

    storage = {}
    for region in REGIONS:
        var = f"BACKSTOP_STORAGE_{region.code.upper().replace('-', '_')}"
        default = (data_dir / "storage" / region.code).as_uri()
        storage[region.code] = _url(env, var, default, {"file", "s3", "az", "gs", "memory"})

    log_level = env_str(env, "BACKSTOP_LOG_LEVEL", "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"BACKSTOP_LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, got {log_level}")

    return Config(
        data_dir=data_dir,
        debug=env_bool(env, "BACKSTOP_DEBUG", False),
        secret_key=secret_key,
        master_key=master_key,
        database_url=_url(
            env,
            "DATABASE_URL",
            f"sqlite:///{data_dir / 'backstop.db'}",
            {"sqlite", "postgres", "postgresql"},
        ),
        broker_url=_url(
            env,
            "BACKSTOP_BROKER_URL",
            f"sqlite:///{data_dir / 'queue.db'}",
            {"sqlite", "redis", "rediss"},
        ),
        cache_url=(
            _url(env, "BACKSTOP_CACHE_URL", "", {"redis", "rediss"})
            if _raw(env, "BACKSTOP_CACHE_URL")
            else None
        ),
        storage=storage,
        email_url=_email_url(env, data_dir),
        default_from_email=env_str(env, "BACKSTOP_FROM_EMAIL", "Backstop <no-reply@backstop.localhost>"),
        base_url=_base_url(env),
        allowed_hosts=env_list(env, "BACKSTOP_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"]),
        support_email=env_str(env, "BACKSTOP_SUPPORT_EMAIL", "support@backstop.localhost"),
        google_client_id=_raw(env, "BACKSTOP_GOOGLE_CLIENT_ID"),
        google_secret=_raw(env, "BACKSTOP_GOOGLE_SECRET"),
        microsoft_client_id=_raw(env, "BACKSTOP_MICROSOFT_CLIENT_ID"),
        microsoft_secret=_raw(env, "BACKSTOP_MICROSOFT_SECRET"),
        microsoft_tenant=env_str(env, "BACKSTOP_MICROSOFT_TENANT", "organizations"),
        trusted_proxies=_networks(env, "BACKSTOP_TRUSTED_PROXIES"),
        worker_threads=env_int(env, "BACKSTOP_WORKER_THREADS", 4, minimum=1),
        scheduler_interval=env_int(env, "BACKSTOP_SCHEDULER_INTERVAL", 60, minimum=1),
        log_level=log_level,
        job_lease_seconds=env_int(env, "BACKSTOP_JOB_LEASE_SECONDS", 120, minimum=1),
        checkpoint_seconds=env_int(env, "BACKSTOP_CHECKPOINT_SECONDS", 120, minimum=1),
        sandbox=env_bool(env, "BACKSTOP_SANDBOX", False),
        sandbox_box_url=env_str(env, "BACKSTOP_SANDBOX_BOX_URL", "").rstrip("/"),
        box_client_id=_raw(env, "BACKSTOP_BOX_CLIENT_ID"),
        box_client_secret=_raw(env, "BACKSTOP_BOX_CLIENT_SECRET"),
        export_private_endpoints=env_bool(env, "BACKSTOP_EXPORT_PRIVATE_ENDPOINTS", False),
        payment_gateway=_gateway(env),
        bank_transfer=env_str(env, "BACKSTOP_BANK_TRANSFER", "Bank transfer details are sent on request."),
        seller=env_str(env, "BACKSTOP_SELLER", "Backstop\nbilling@backstop.localhost"),
        stripe_secret_key=_raw(env, "BACKSTOP_STRIPE_SECRET_KEY"),
        stripe_publishable_key=_raw(env, "BACKSTOP_STRIPE_PUBLISHABLE_KEY"),
        stripe_webhook_secret=_raw(env, "BACKSTOP_STRIPE_WEBHOOK_SECRET"),
        stripe_api_base=env_str(env, "BACKSTOP_STRIPE_API_BASE", "https://api.stripe.com").rstrip("/"),
        support_url=_link(env, "BACKSTOP_SUPPORT_URL"),
        partner_zone_url=_link(env, "BACKSTOP_PARTNER_ZONE_URL"),
    )


def _link(env: Mapping[str, str], name: str) -> str:
    """An optional web page shown to users (support, partner zone): http(s), or empty for none."""
    return _url(env, name, "", {"http", "https"}) if _raw(env, name) else ""


def _gateway(env: Mapping[str, str]) -> str:
    """`sandbox` (the default: test cards, no money moves) or `stripe` (needs its keys)."""
    name = env_str(env, "BACKSTOP_PAYMENT_GATEWAY", "sandbox")
    if name not in ("sandbox", "stripe"):
        raise ConfigError(f"BACKSTOP_PAYMENT_GATEWAY: expected sandbox or stripe, got {name}")
    if name == "stripe":
        for var in (
            "BACKSTOP_STRIPE_SECRET_KEY",
            "BACKSTOP_STRIPE_PUBLISHABLE_KEY",
            "BACKSTOP_STRIPE_WEBHOOK_SECRET",
        ):
            if not _raw(env, var):
                raise ConfigError(f"{var} is needed when BACKSTOP_PAYMENT_GATEWAY is stripe")
    return name
