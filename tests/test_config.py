"""backstop.config.load: keys made once with mode 0600, *_FILE secrets, and loud failures that
name the variable."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from backstop.config import ConfigError, load


def key_text(size: int = 32, fill: bytes = b"k") -> str:
    return base64.b64encode(fill * size).decode()


def test_master_key_is_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data" / "new"  # missing folders are created
    env = {"BACKSTOP_DATA_DIR": str(data_dir)}
    first = load(env)
    key_file = data_dir / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / "secret.key").stat().st_mode) == 0o600
    assert len(first.master_key) == 32
    second = load(env)
    assert second.master_key == first.master_key
    assert second.secret_key == first.secret_key
    assert first.data_dir == data_dir.resolve()


def test_defaults_are_embedded_sqlite(tmp_path: Path) -> None:
    config = load({"BACKSTOP_DATA_DIR": str(tmp_path)})
    data_dir = tmp_path.resolve()
    assert config.uses_sqlite
    assert config.database_url == f"sqlite:///{data_dir / 'backstop.db'}"
    assert config.broker_url == f"sqlite:///{data_dir / 'queue.db'}"
    assert config.email_url == (data_dir / "outbox").as_uri()
    assert config.scheduler_interval == 60
    assert not config.debug


def test_a_master_key_from_the_environment_writes_no_key_file(tmp_path: Path) -> None:
    config = load({"BACKSTOP_DATA_DIR": str(tmp_path), "BACKSTOP_MASTER_KEY": key_text()})
    assert config.master_key == b"k" * 32
    assert not (tmp_path / "master.key").exists()


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    master = tmp_path / "master"
    master.write_text(key_text(fill=b"m") + "\n")  # trailing newline, as editors leave it
    secret = tmp_path / "secret"
    secret.write_text("s3cret-from-a-file\n")
    database = tmp_path / "database"
    database.write_text("postgresql://app:pw@db.internal/backstop\n")
    config = load(
        {
            "BACKSTOP_DATA_DIR": str(tmp_path / "data"),
            "BACKSTOP_MASTER_KEY_FILE": str(master),
            "BACKSTOP_SECRET_KEY_FILE": str(secret),
            "DATABASE_URL_FILE": str(database),
            "BACKSTOP_MASTER_KEY": "ignored when the _FILE variable is set",
        }
    )
    assert config.master_key == b"m" * 32
    assert config.secret_key == "s3cret-from-a-file"
    assert config.database_url == "postgresql://app:pw@db.internal/backstop"
    assert not config.uses_sqlite


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://db/backstop", "unsupported scheme 'mysql'"),
        ("BACKSTOP_BROKER_URL", "amqp://mq", "unsupported scheme 'amqp'"),
        ("BACKSTOP_DEBUG", "maybe", "expected true or false"),
        ("BACKSTOP_MASTER_KEY", key_text(16), "expected 32 bytes of key, got 16"),
        ("BACKSTOP_MASTER_KEY", "not base64 at all!", "not valid base64"),
        ("BACKSTOP_WORKER_THREADS", "0", "must be at least 1"),
        ("BACKSTOP_SCHEDULER_INTERVAL", "soon", "expected a whole number"),
        ("BACKSTOP_LOG_LEVEL", "chatty", "expected DEBUG, INFO, WARNING or ERROR"),
        ("BACKSTOP_EMAIL_URL", "smtp://mail.example.com:25x", "port"),
        ("BACKSTOP_EMAIL_URL", "smtps://mail.example.com?tls=1", "already means TLS"),
        ("BACKSTOP_BASE_URL", "https://", "no host name"),
        ("BACKSTOP_BASE_URL", "https://backup.example.com/app", "without a path"),
        ("BACKSTOP_TRUSTED_PROXIES", "10.0.0.1,proxy.local", "'proxy.local' is not an IP address"),
    ],
)
def test_bad_values_fail_naming_the_variable(tmp_path: Path, variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load({"BACKSTOP_DATA_DIR": str(tmp_path), variable: value})
    assert str(error.value).startswith(f"{variable}:")
    assert message in str(error.value)


@pytest.mark.parametrize("target", ["missing", "a-folder"])
def test_an_unreadable_file_fails_naming_the_variable(tmp_path: Path, target: str) -> None:
    (tmp_path / "a-folder").mkdir()
    path = tmp_path / target
    with pytest.raises(ConfigError) as error:
        load({"BACKSTOP_DATA_DIR": str(tmp_path), "BACKSTOP_SECRET_KEY_FILE": str(path)})
    assert str(error.value).startswith(f"BACKSTOP_SECRET_KEY_FILE: cannot read {path}")


def test_a_damaged_key_file_fails_naming_the_variable(tmp_path: Path) -> None:
    (tmp_path / "master.key").write_text(key_text(8))
    with pytest.raises(ConfigError, match=r"^BACKSTOP_MASTER_KEY: expected 32 bytes"):
        load({"BACKSTOP_DATA_DIR": str(tmp_path)})


def test_an_empty_secret_file_fails_instead_of_making_a_new_key(tmp_path: Path) -> None:
    empty = tmp_path / "mounted-later"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match=r"BACKSTOP_MASTER_KEY_FILE: .* is empty"):
        load({"BACKSTOP_DATA_DIR": str(tmp_path), "BACKSTOP_MASTER_KEY_FILE": str(empty)})
    assert not (tmp_path / "master.key").exists()
