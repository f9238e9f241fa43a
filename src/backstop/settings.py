"""Django settings, all derived from `backstop.config` (the environment). Edit nothing here to
configure an install: set the variables listed in `.env.example` instead."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url
from django.utils.csp import CSP

from backstop import config as _config

CONFIG = _config.load()

DEBUG = CONFIG.debug
SECRET_KEY = CONFIG.secret_key
ALLOWED_HOSTS = CONFIG.allowed_hosts
CSRF_TRUSTED_ORIGINS = [CONFIG.base_url]
BACKSTOP_BASE_URL = CONFIG.base_url
BACKSTOP_SUPPORT_EMAIL = CONFIG.support_email
BACKSTOP_MASTER_KEY = CONFIG.master_key
BACKSTOP_STORAGE = CONFIG.storage
BACKSTOP_DATA_DIR = CONFIG.data_dir
# Exports to object stores on private addresses (on-premises MinIO): off, so a customer's
# endpoint cannot reach the installation's own network.
BACKSTOP_EXPORT_PRIVATE_ENDPOINTS = CONFIG.export_private_endpoints

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "backstop.web",  # above allauth: its templates override allauth's
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.microsoft",
    "allauth.socialaccount.providers.saml",
    "allauth.mfa",
    "backstop.accounts",
    "backstop.tenancy",
    "backstop.backups",
    "backstop.audit",
    "backstop.security",
    "backstop.sso",
    "backstop.notify",
    "backstop.billing",
    "backstop.hub",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "backstop.security.middleware.SecurityPolicyMiddleware",
    "backstop.accounts.middleware.UnconfiguredProviderMiddleware",
]

ROOT_URLCONF = "backstop.urls"
WSGI_APPLICATION = "backstop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "backstop.web.context.navigation",
                "backstop.billing.context.billing_banner",  # after navigation: reads what it found
            ],
        },
    },
]


def _databases() -> dict[str, Any]:
    db = dj_database_url.parse(CONFIG.database_url, conn_max_age=0 if CONFIG.uses_sqlite else 60)
    if CONFIG.uses_sqlite:
        # WAL lets the web process read while a worker writes; IMMEDIATE avoids lock upgrades
        # failing half-way through a transaction.
        db["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    else:
        db["CONN_HEALTH_CHECKS"] = True
    # Tests on SQLite use a file like the embedded default does (WAL, a busy timeout), not the
    # shared-cache memory database, whose table locks fail at once when a job runs in a thread.
    db["TEST"] = {"NAME": str(CONFIG.data_dir / "test.sqlite3") if CONFIG.uses_sqlite else None}
    return {"default": db}


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if CONFIG.cache_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CONFIG.cache_url,
        }
    }
else:
    # Shared by the web process and the workers of one machine (rate limits, locks).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(CONFIG.data_dir / "cache"),
        }
    }

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# django-allauth: e-mail is the identity; activation by link is mandatory for password sign-ups.
ACCOUNT_ADAPTER = "backstop.accounts.adapter.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "backstop.accounts.adapter.SocialAccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_FORMS = {"signup": "backstop.accounts.forms.SignupForm"}
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 1  # links are valid 24 hours
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Backstop] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = urlsplit(CONFIG.base_url).scheme
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
ACCOUNT_RATE_LIMITS = {
    # Failed sign-ins: 5 per 5 minutes per address, 20 a minute per IP.
    "login_failed": "20/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}
# Two-factor authentication (allauth.mfa): an authenticator app and recovery codes. A code is
# refused when it was already used (allauth remembers used codes in the cache for one period).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Backstop"
MFA_RECOVERY_CODE_COUNT = 10
# SAML metadata URLs must be https on public addresses; tests (and the sandbox) lift that.
BACKSTOP_SAML_INSECURE_METADATA_URLS = False

# An address the provider vouches for (Google does) needs no activation e-mail; one it does not
# (Microsoft: any tenant admin can set any address) is confirmed by link like a password sign-up.
SOCIALACCOUNT_EMAIL_VERIFICATION = "mandatory"
# A user an administrator added by e-mail may sign in with Google or Microsoft for that address,
# when the provider says it verified it.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_FORMS = {"signup": "backstop.accounts.forms.SocialSignupForm"}
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, Any]] = {}
if CONFIG.google_client_id and CONFIG.google_secret:
    SOCIALACCOUNT_PROVIDERS["google"] = {
        "APPS": [{"client_id": CONFIG.google_client_id, "secret": CONFIG.google_secret}],
        "SCOPE": ["profile", "email"],
    }
if CONFIG.microsoft_client_id and CONFIG.microsoft_secret:
    SOCIALACCOUNT_PROVIDERS["microsoft"] = {
        "APPS": [
            {
                "client_id": CONFIG.microsoft_client_id,
                "secret": CONFIG.microsoft_secret,
                "settings": {"tenant": CONFIG.microsoft_tenant},
            }
        ],
    }


def _mailer() -> dict[str, Any]:
    url = urlsplit(CONFIG.email_url)
    if url.scheme == "file":
        return {"BACKEND": "backstop.mail.OutboxBackend", "OPTIONS": {"folder": unquote(url.path)}}
    if url.scheme == "console":
        return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    query = parse_qs(url.query)
    return {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": url.hostname or "localhost",
            "port": url.port or (465 if url.scheme == "smtps" else 25),
            "username": unquote(url.username or ""),
            "password": unquote(url.password or ""),
            "use_ssl": url.scheme == "smtps",
            "use_tls": query.get("tls", ["0"])[0] in {"1", "true", "yes"},
            "timeout": 30,
        },
    }


MAILERS = {"default": _mailer()}
DEFAULT_FROM_EMAIL = CONFIG.default_from_email
SERVER_EMAIL = CONFIG.default_from_email

# Behind a load balancer: requests from these addresses carry the client's address and scheme in
# their headers (backstop.security.client; allauth's rate limits ask the account adapter).
BACKSTOP_TRUSTED_PROXIES = CONFIG.trusted_proxies
if CONFIG.trusted_proxies:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Hardening. Cookies: never readable by scripts (htmx sends the CSRF token from the page), only over
# https when the site is served over https, not sent on cross-site sub-requests.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = CONFIG.base_url.startswith("https:")
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if SESSION_COOKIE_SECURE:
    # Behind TLS: browsers remember to come back over https only (sent on https responses only).
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = False  # the operator's other sub-domains are not ours to decide
# Content security policy: scripts only from this site or inline with the page's nonce (no inline
# handlers, no eval); nothing framed, no plugins. Inline style attributes stay allowed (progress
# bars set their width), and images may be data: URIs (the 2FA QR code).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = CONFIG.data_dir / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # `collectstatic` fills it in scale-out; WhiteNoise wants it to exist
# WhiteNoise serves the apps' static folders directly: nothing to collect on an embedded install.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# The task queue (see backstop.queue).
BACKSTOP_BROKER_URL = CONFIG.broker_url
BACKSTOP_WORKER_THREADS = CONFIG.worker_threads
BACKSTOP_JOB_LEASE_SECONDS = CONFIG.job_lease_seconds
BACKSTOP_CHECKPOINT_SECONDS = CONFIG.checkpoint_seconds
BACKSTOP_SANDBOX = CONFIG.sandbox
BACKSTOP_SANDBOX_BOX_URL = CONFIG.sandbox_box_url
BACKSTOP_BOX_CLIENT_ID = CONFIG.box_client_id
BACKSTOP_BOX_CLIENT_SECRET = CONFIG.box_client_secret
BACKSTOP_SCHEDULER_INTERVAL = CONFIG.scheduler_interval

# Payments (backstop.billing.gateways): the sandbox takes test card numbers and moves no money.
BACKSTOP_PAYMENT_GATEWAY = CONFIG.payment_gateway
BACKSTOP_STRIPE_SECRET_KEY = CONFIG.stripe_secret_key
BACKSTOP_STRIPE_PUBLISHABLE_KEY = CONFIG.stripe_publishable_key
BACKSTOP_STRIPE_WEBHOOK_SECRET = CONFIG.stripe_webhook_secret
BACKSTOP_STRIPE_API_BASE = CONFIG.stripe_api_base
# Printed on invoices the payer may settle by bank transfer (over about 1,000 USD).
BACKSTOP_BANK_TRANSFER = CONFIG.bank_transfer
BACKSTOP_SELLER = CONFIG.seller
# The Support and Partner Zone links of the partner portal (P-HUB); empty: support by e-mail, no zone.
BACKSTOP_SUPPORT_URL = CONFIG.support_url
BACKSTOP_PARTNER_ZONE_URL = CONFIG.partner_zone_url

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": CONFIG.log_level},
    # huey and httpx log every task and every request at INFO: too much for a backup service.
    "loggers": {
        name: {"level": "WARNING" if CONFIG.log_level == "INFO" else CONFIG.log_level}
        for name in ("huey", "httpx", "httpcore")
    },
}
