"""Hardening a user would notice only by its absence: the content security policy, cookies
scripts cannot read, HSTS behind TLS, and secrets never sent back in a page."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from backstop.backups.services import create_task
from tests.conftest import PASSWORD, Personas

pytestmark = pytest.mark.django_db

SRC = Path(__file__).resolve().parents[2] / "src" / "backstop"


def test_pages_carry_a_content_security_policy_whose_nonce_their_inline_scripts_use(
    personas: Personas,
) -> None:
    alice = personas.client(personas.alice)
    response = alice.get(reverse("account_jobs", args=[personas.a.pk]))
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    nonce = re.search(r"'nonce-([^']+)'", directives["script-src"])
    assert nonce and directives["script-src"].startswith("'self'")
    assert "unsafe-inline" not in directives["script-src"] and "unsafe-eval" not in policy
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    scripts = re.findall(r"<script([^>]*)>", response.content.decode())
    inline = [attrs for attrs in scripts if "src=" not in attrs]
    assert inline and all(f'nonce="{nonce.group(1)}"' in attrs for attrs in inline)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    # A new nonce for every response.
    again = alice.get(reverse("account_jobs", args=[personas.a.pk]))["Content-Security-Policy"]
    assert nonce.group(0) not in again


def test_no_template_has_an_inline_handler_or_a_script_without_the_nonce() -> None:
    offenders = []
    for template in SRC.rglob("templates/**/*.html"):
        text = template.read_text()
        if re.search(r"<[a-z][^>]*\son[a-z]+\s*=", text):
            offenders.append(f"{template.relative_to(SRC)}: inline event handler")
        for attrs in re.findall(r"<script([^>]*)>", text):
            if "src=" not in attrs and "csp_nonce" not in attrs:
                offenders.append(f"{template.relative_to(SRC)}: inline script without the nonce")
    assert offenders == []


def test_cookies_are_http_only_and_the_sign_in_sets_them_so(personas: Personas, client: object) -> None:
    from django.test import Client

    browser = Client()
    page = browser.get(reverse("account_login"))
    assert page.cookies["csrftoken"]["httponly"]
    browser.post(reverse("account_login"), {"login": personas.alice.email, "password": PASSWORD})
    session = browser.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"


def test_behind_tls_cookies_are_secure_and_hsts_is_sent(tmp_path: Path) -> None:
    probe = (
        "import json; from django.conf import settings as s; import django; django.setup(); "
        "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "getattr(s, 'SECURE_HSTS_SECONDS', 0)]))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backstop.settings", "BACKSTOP_DATA_DIR": str(tmp_path)}
    plain = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "BACKSTOP_BASE_URL": "http://127.0.0.1:8000"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(plain.stdout.splitlines()[-1]) == [False, False, 0]
    tls = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "BACKSTOP_BASE_URL": "https://backup.example.com"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(tls.stdout.splitlines()[-1]) == [True, True, 365 * 24 * 3600]


def test_a_task_secret_is_never_rendered_back(personas: Personas) -> None:
    secret = "pw-Very-Secret-4711"
    task = create_task(
        personas.a,
        "imap",
        "Office mail",
        connector_settings={"host": "127.0.0.1", "port": 1, "security": "none", "username": "u"},
        secrets={"password": secret},
    )
    alice = personas.client(personas.alice)
    for name in ("backup_task", "backup_task_reconnect"):
        response = alice.get(reverse(name, args=[personas.a.pk, task.pk]))
        assert response.status_code in (200, 302) and secret not in response.content.decode(), name
    for url in (
        reverse("account_home", args=[personas.a.pk]),
        reverse("account_security", args=[personas.a.pk]),
    ):
        assert secret not in alice.get(url).content.decode()
