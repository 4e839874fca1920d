"""Settings for the portal: one module, configured by environment variables.

Safe by default: DEBUG is off unless DJANGO_DEBUG says otherwise, and with DEBUG off the secret key,
the allowed hosts and the e-mail server must be given (no defaults for production secrets).
With nothing set but DJANGO_DEBUG=1, the portal runs on an embedded database (SQLite in var/) and an
embedded broker (kombu's filesystem transport in var/), so it works on a machine with no PostgreSQL
and no Redis. README.md lists every variable.
"""

import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from portal.broker import broker_kind
from portal.http import trusted_proxies_parse

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)


def _dev_secret_key() -> str:
    """A random key kept in var/ so dev sessions survive a restart; never used in production."""
    path = VAR_DIR / "dev-secret-key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off.")
    SECRET_KEY = _dev_secret_key()

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS is required when DJANGO_DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# The public address of the portal, used for links in e-mails (no request object in a Celery task).
# Unset, the development server's own address: `make run` serves on PORT (default 8000), and the
# links in e-mails and the passkeys' origin must follow the port actually served.
PORTAL_BASE_URL = env.str(
    "PORTAL_BASE_URL", default=f"http://localhost:{env.int('PORT', default=8000)}"
).rstrip("/")

INSTALLED_APPS = [
    "authorities.admin_site.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp_webauthn",
    "axes",
    "csp",
    "django_ratelimit",
    "django_prometheus",
    "portal",
    "authorities",
    "requests_app",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    # First: every log line of the request carries its id, and every response says it.
    "portal.logs.RequestIdMiddleware",
    # django-prometheus times the whole stack between its Before and After middlewares.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.UserTimeZoneMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: it must see the authenticated user and the verified device.
    "axes.middleware.AxesMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
    "portal.middleware.SessionTimeoutMiddleware",
    "portal.middleware.SecondFactorRequiredMiddleware",
    "authorities.middleware.OfficerStandingMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "requests_app.context_processors.legal_team",
                "portal.context_processors.session_clock",
            ],
        },
    },
]

# Database: DATABASE_URL (PostgreSQL in production and in tests); SQLite in var/ when unset.
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web (threaded), worker and beat share the file. WAL lets readers run while one writer
    # writes; the busy timeout makes a writer wait for the lock rather than fail at once; and
    # IMMEDIATE takes the write lock when a transaction begins: a transaction that read first
    # and wrote later could not wait (SQLite answers "database is locked" at once to avoid a
    # deadlock), which was a 500 for submissions and review actions under a few users.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# django-prometheus's backends: the same engines, counting queries, errors and connections.
_PROMETHEUS_ENGINES = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}
DATABASES["default"]["ENGINE"] = _PROMETHEUS_ENGINES.get(
    DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"]
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "authorities.User"
AUTHENTICATION_BACKENDS = [
    # django-axes first, so a locked-out account is refused before its password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "authorities:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "landing"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Compiled catalogues are committed (locale/fr/LC_MESSAGES/django.mo): no gettext on servers.
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Uploaded documents live outside the web root and are served only by access-checked views.
PRIVATE_MEDIA_ROOT = Path(env.str("PORTAL_PRIVATE_MEDIA_ROOT", default=str(VAR_DIR / "private")))
MEDIA_ROOT = PRIVATE_MEDIA_ROOT
# The platform's seal (docs/receipts.md): a PKCS#12 file (key and certificate, with its chain)
# that seals each submitted request's receipt (PAdES). No default in production: without a
# readable seal the portal does not start (system check requests_app.E004). With DJANGO_DEBUG=1,
# `make run` writes a self-signed DEMO seal into var/ (manage.py make_demo_seal).
PORTAL_SEAL_P12 = env.str(
    "PORTAL_SEAL_P12", default=str(VAR_DIR / "demo-seal.p12") if DEBUG else ""
)
PORTAL_SEAL_PASSPHRASE = env.str("PORTAL_SEAL_PASSPHRASE", default="demo-seal" if DEBUG else "")
# An RFC 3161 time-stamping authority: receipts are then PAdES B-T (a trusted time), else B-B.
PORTAL_TSA_URL = env.str("PORTAL_TSA_URL", default="")
# Signed orders (docs/security.md, "Signature verification"): PEM files of CA certificates whose
# signatures are trusted besides the qualified CAs of imported EU trusted lists
# (manage.py import_trust_list), and the instruments (codes, e.g. epoc,tco_removal) whose order
# must carry a valid signature of the issuing authority to be submitted.
PORTAL_SIGNATURE_TRUST_ANCHORS = env.list("PORTAL_SIGNATURE_TRUST_ANCHORS", default=[])
PORTAL_SIGNATURE_REQUIRED_INSTRUMENTS = env.list(
    "PORTAL_SIGNATURE_REQUIRED_INSTRUMENTS", default=[]
)
# Custody (docs/security.md, "Custody: encryption at rest and purge"): the master keys that wrap
# each stored file's data key, Fernet keys, newest first (the first wraps; all unwrap, so an old
# one stays listed until `manage.py rotate_data_keys` has re-wrapped every data key). No default
# in production: without them the portal does not start (system check requests_app.E007). With
# DJANGO_DEBUG=1, `make run` writes a DEMO key into var/ (manage.py make_demo_master_key).
PORTAL_MASTER_KEYS = env.list("PORTAL_MASTER_KEYS", default=[])
if not PORTAL_MASTER_KEYS and DEBUG and (VAR_DIR / "demo-master-key").exists():
    PORTAL_MASTER_KEYS = [(VAR_DIR / "demo-master-key").read_text().strip()]
# Days a request's files are kept once their use is over (produced data: after the download
# link expires; documents: after the request ends), unless its instrument's law sets another
# period (requests_app/instruments.py, retention_days); then purged, data key and bytes.
PORTAL_RETENTION_DAYS = env.int("PORTAL_RETENTION_DAYS", default=30)
# One uploaded document at most (the front proxy should cap request bodies a little above this).
PORTAL_MAX_UPLOAD_BYTES = env.int("PORTAL_MAX_UPLOAD_MB", default=20) * 1024 * 1024
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# --- Legal requests ---------------------------------------------------------------------------
# The platform's own hosts: target links must point here.
PORTAL_PLATFORM_DOMAINS = env.list(
    "PORTAL_PLATFORM_DOMAINS", default=["platform.example", "www.platform.example"]
)
# e-Evidence Art. 8: the Member State where the platform's designated establishment or legal
# representative is (Directive (EU) 2023/1544). Its registry authority marked as able to enforce
# is the enforcing authority, and its calendar, public holidays and time zone count the legal time
# limits (docs/instruments.md). The default is the State of this platform's legal representative.
PORTAL_ENFORCING_STATE = env.str("PORTAL_ENFORCING_STATE", default="IE").upper()
# Internal deadlines set by platform policy (the law says "without undue delay"), in minutes.
PORTAL_DEADLINE_MINUTES = {
    "epoc_pr_confirm": env.int("PORTAL_DEADLINE_EPOC_PR_MINUTES", default=24 * 60),
    "dsa_art9": env.int("PORTAL_DEADLINE_DSA_ART9_MINUTES", default=24 * 60),
    "dsa_art10": env.int("PORTAL_DEADLINE_DSA_ART10_MINUTES", default=10 * 24 * 60),
    "emergency_disclosure": env.int("PORTAL_DEADLINE_EMERGENCY_MINUTES", default=60),
    "inquiry": env.int("PORTAL_DEADLINE_INQUIRY_MINUTES", default=14 * 24 * 60),
}
# CSV (network,country) exported from a GeoIP database, for the "login from abroad" risk signal.
PORTAL_IP_COUNTRY_FILE = env.str("PORTAL_IP_COUNTRY_FILE", default="") or None
# How long the authority's download link to produced data works.
PORTAL_PRODUCED_DATA_DAYS = env.int("PORTAL_PRODUCED_DATA_DAYS", default=14)
# Deadline alerts (docs/deadlines.md): at these percents of the time allowed, at the deadline,
# then escalation to leads every PORTAL_OVERDUE_REPEAT_MINUTES until resolved.
PORTAL_ALERT_FRACTIONS = [int(v) for v in env.list("PORTAL_ALERT_FRACTIONS", default=["50", "80"])]
PORTAL_OVERDUE_REPEAT_MINUTES = env.int("PORTAL_OVERDUE_REPEAT_MINUTES", default=60)
PORTAL_PRESERVATION_NOTICE_DAYS = env.int("PORTAL_PRESERVATION_NOTICE_DAYS", default=7)
# After this many failed attempts at an e-mail, leads see a banner in the portal.
PORTAL_ALERT_FAILURE_BANNER = env.int("PORTAL_ALERT_FAILURE_BANNER", default=3)
PORTAL_DEADLINE_SWEEP_SECONDS = env.int("PORTAL_DEADLINE_SWEEP_SECONDS", default=60)
# How long a send holds its outbox row; longer than EMAIL_TIMEOUT. Tests shorten it.
PORTAL_NOTIFICATION_LEASE_SECONDS = env.int("PORTAL_NOTIFICATION_LEASE_SECONDS", default=300)
# How long a worker holds a receipt it is sealing (docs/receipts.md): far more than a sealing
# takes, a time-stamping authority's 10-second timeout included.
PORTAL_RECEIPT_LEASE_SECONDS = env.int("PORTAL_RECEIPT_LEASE_SECONDS", default=120)

# --- Sessions and security headers ------------------------------------------------------------
SESSION_COOKIE_AGE = env.int("PORTAL_SESSION_ABSOLUTE_SECONDS", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Flash messages live in the session, so they end with it: a message about one officer's request
# can never be shown to the next person who logs in on the same browser.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
PORTAL_SESSION_IDLE_SECONDS = env.int("PORTAL_SESSION_IDLE_SECONDS", default=30 * 60)
# How long before the idle timeout the page warns "You will be signed out in N minutes" with a
# "Stay signed in" button (static/js/session.js).
PORTAL_SESSION_WARN_SECONDS = env.int("PORTAL_SESSION_WARN_SECONDS", default=5 * 60)
PORTAL_EMAIL_LINK_HOURS = env.int("PORTAL_EMAIL_LINK_HOURS", default=24)
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# Served over HTTPS in production: secure cookies, HSTS and the HTTPS redirect follow DEBUG unless
# overridden (a TLS-terminating proxy in front sets DJANGO_SECURE_PROXY_SSL_HEADER=1).
_https = env.bool("DJANGO_HTTPS", default=not DEBUG)
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
LANGUAGE_COOKIE_SECURE = _https
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=_https)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_HSTS_PRELOAD = _https
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The proxies allowed to say who the client is in X-Forwarded-For (portal/http.py client_ip):
# a count of hops ("1") or networks ("127.0.0.1/32"). Unset, the header is ignored entirely.
PORTAL_TRUSTED_PROXIES = trusted_proxies_parse(env.str("PORTAL_TRUSTED_PROXIES", default=""))
X_FRAME_OPTIONS = "DENY"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    }
}

# --- Login throttling (django-axes) -----------------------------------------------------------
AXES_FAILURE_LIMIT = env.int("PORTAL_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("PORTAL_LOGIN_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "authorities/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
# Lockouts per username and *client* address, the same address every other control sees.
AXES_CLIENT_IP_CALLABLE = "portal.http.client_ip"

# django-otp names the issuer in the QR code. Its own throttle (a back-off per device, which any
# password holder could trigger to lock the real officer out) is off: wrong codes are counted per
# browser bucket by authorities.second_factor.otp_check, at most PORTAL_OTP_FAILURES_PER_HOUR per
# bucket in a rolling hour (12 at most: the guessing rate the back-off allowed).
OTP_TOTP_ISSUER = env.str("PORTAL_OTP_ISSUER", default="EU Request Portal")
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
PORTAL_OTP_FAILURES_PER_HOUR = env.int("PORTAL_OTP_FAILURES_PER_HOUR", default=10)
if not 1 <= PORTAL_OTP_FAILURES_PER_HOUR <= 12:
    raise ImproperlyConfigured("PORTAL_OTP_FAILURES_PER_HOUR must be between 1 and 12.")

# --- Passkeys (django-otp-webauthn) -------------------------------------------------------------
# A second factor bound to this site's domain, so a phishing page on another domain cannot relay
# it. The relying party ID scopes every passkey: by default the host of PORTAL_BASE_URL (a parent
# domain may be named instead); changing it later makes every enrolled passkey unusable.
# Browsers allow WebAuthn on https, and on http only for localhost (make run).
_base = urlsplit(PORTAL_BASE_URL)
OTP_WEBAUTHN_RP_ID = env.str("PORTAL_WEBAUTHN_RP_ID", default="") or (_base.hostname or "")
if _base.hostname != OTP_WEBAUTHN_RP_ID and not (_base.hostname or "").endswith(
    "." + OTP_WEBAUTHN_RP_ID
):
    raise ImproperlyConfigured(
        f"PORTAL_WEBAUTHN_RP_ID ({OTP_WEBAUTHN_RP_ID}) must be the host of PORTAL_BASE_URL "
        f"({_base.hostname}) or a parent domain of it."
    )
OTP_WEBAUTHN_RP_NAME = OTP_TOTP_ISSUER
OTP_WEBAUTHN_ALLOWED_ORIGINS = [f"{_base.scheme}://{_base.netloc}"]
# A passkey is the second factor after the password, never a login on its own.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False

# The actions that need a session verified with a passkey (comma-separated names; empty: none).
PORTAL_PHISHING_RESISTANT_ACTIONS = ("emergency_submit", "emergency_approval", "admin")
PORTAL_PHISHING_RESISTANT_FOR = frozenset(
    name.strip()
    for name in env.str(
        "PORTAL_PHISHING_RESISTANT_FOR", default=",".join(PORTAL_PHISHING_RESISTANT_ACTIONS)
    ).split(",")
    if name.strip()
)
if _unknown := PORTAL_PHISHING_RESISTANT_FOR - set(PORTAL_PHISHING_RESISTANT_ACTIONS):
    raise ImproperlyConfigured(
        f"PORTAL_PHISHING_RESISTANT_FOR names unknown actions: {', '.join(sorted(_unknown))} "
        f"(known: {', '.join(PORTAL_PHISHING_RESISTANT_ACTIONS)})."
    )

# --- E-mail -----------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="portal@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_DEV_FOLDER = VAR_DIR / "mail"
if env.str("EMAIL_URL", default=""):
    # smtp+tls://user:password@host:587 (see README); django-environ parses it.
    vars().update(env.email_url("EMAIL_URL"))
elif DEBUG:
    # Development: every message to the console and, one file each, to var/mail/.
    EMAIL_BACKEND = "portal.mail.DevelopmentEmailBackend"
else:
    raise ImproperlyConfigured("EMAIL_URL is required when DJANGO_DEBUG is off.")
EMAIL_TIMEOUT = env.int("DJANGO_EMAIL_TIMEOUT", default=20)

# --- Celery -----------------------------------------------------------------------------------
# Broker: RabbitMQ (amqp://) or Redis (redis://) in production, README "Brokers"; with none set,
# kombu's filesystem transport in var/broker. Whichever it is, the outbox in PostgreSQL is what
# guarantees delivery: a broker that loses its queues delays alerts, loses none.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
BROKER_KIND = broker_kind(CELERY_BROKER_URL)
if BROKER_KIND not in ("redis", "amqp", "filesystem"):
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL must be an amqp://, redis:// or filesystem:// URL."
    )
if BROKER_KIND == "filesystem":
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # The exchange table: kombu's default is "control" in the working directory (the repo).
        "control_folder": str(_broker_dir / "control"),
    }
elif BROKER_KIND == "redis":
    # kombu's Redis transport with its crash after a lost connection fixed (portal/broker.py).
    CELERY_BROKER_TRANSPORT = "portal.broker:RedisTransport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A task not acknowledged within this time is redelivered (acks_late). Longer than the hard
        # time limit, so a slow task is never run twice while still running.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=600),
    }
else:
    # RabbitMQ redelivers an unacknowledged task when the worker's connection closes, and
    # closes a channel whose delivery stays unacknowledged past its consumer_timeout (30 minutes
    # by default): tasks end within CELERY_TASK_TIME_LIMIT and nothing is scheduled with an ETA,
    # so that never happens. Publisher confirms: a task handed over after commit is on the
    # broker (or the publish raises) before the request goes on; the outbox sweep covers the rest.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 5
# Results are written to PostgreSQL by the tasks themselves; Celery keeps none.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Reliability: acknowledge after the task ran, hand it back if the worker dies, take one at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Let a running send finish when the broker connection drops: its ack is lost and the message
# comes back, but the database claim makes the second run a no-op. Cancelling it mid-send
# instead would open the one window in which an e-mail can go twice.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=180)
CELERY_TIMEZONE = "UTC"
# Overridable so tests can run their own worker on a queue no other worker takes from.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
HEARTBEAT_INTERVAL_SECONDS = env.int("PORTAL_HEARTBEAT_SECONDS", default=30)
CELERY_BEAT_SCHEDULE = {
    # Proves beat and a worker are alive: the task stamps a row that /healthz reads.
    "beat-heartbeat": {
        "task": "portal.tasks.beat_heartbeat",
        "schedule": HEARTBEAT_INTERVAL_SECONDS,
    },
    # The outbox sweep: re-sends what a lost task or a Redis flush left pending.
    "notifications-sweep": {
        "task": "requests_app.tasks.sweep_notifications",
        "schedule": env.int("PORTAL_NOTIFICATION_SWEEP_SECONDS", default=60),
    },
    # The webhooks' outbox sweep: retries whose time came, and what a lost task left pending.
    "webhooks-sweep": {
        "task": "requests_app.tasks.sweep_webhooks",
        "schedule": env.int("PORTAL_WEBHOOK_SWEEP_SECONDS", default=30),
    },
    # The receipts' sweep: seals the receipts still owed (a lost task, a crash; docs/receipts.md).
    "receipts-sweep": {
        "task": "requests_app.tasks.sweep_receipts",
        "schedule": env.int("PORTAL_RECEIPT_SWEEP_SECONDS", default=30),
    },
    # The deadline sweep: queues every alert whose time has come (docs/deadlines.md).
    "deadline-sweep": {
        "task": "requests_app.tasks.sweep_deadlines",
        "schedule": env.int("PORTAL_DEADLINE_SWEEP_SECONDS", default=60),
    },
    "daily-digest": {
        "task": "requests_app.tasks.send_daily_digest",
        "schedule": crontab(hour=env.int("PORTAL_DIGEST_HOUR_UTC", default=7), minute=0),
    },
    # The files past their retention: data key and bytes deleted (docs/security.md, "Custody").
    "files-purge": {
        "task": "requests_app.tasks.purge_due_files",
        "schedule": crontab(minute=41),
    },
    # The API's idempotency keys past their retention (docs/api.md, "Idempotency").
    # Finished webhook deliveries past their retention (docs/api.md, "Webhooks").
    "webhook-deliveries-purge": {
        "task": "requests_app.tasks.purge_webhook_deliveries",
        "schedule": crontab(hour=3, minute=41),
    },
    "idempotency-keys-purge": {
        "task": "requests_app.tasks.purge_idempotency_keys",
        "schedule": crontab(minute=17),
    },
}

# --- Cache (rate limits) ----------------------------------------------------------------------
# A shared cache with atomic increments: Redis in production (CACHE_URL, or the broker's Redis on
# its next database). The embedded mode (one development server) keeps counters in memory.
_cache_url = env.str("CACHE_URL", default="")
if not _cache_url and BROKER_KIND == "redis":
    _base, _, _db = CELERY_BROKER_URL.rpartition("/")
    _cache_url = f"{_base}/{int(_db) + 1 if _db.isdigit() else 1}"
if _cache_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="portal"),
        }
    }
elif DEBUG:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured("CACHE_URL (Redis) is required when DJANGO_DEBUG is off.")
SILENCED_SYSTEM_CHECKS = [
    # Django's own RedisCache increments atomically (INCR); django-ratelimit only lists the
    # third-party django-redis as "officially supported".
    "django_ratelimit.W001",
]
if DEBUG and not _cache_url:
    # Development server only: one process, so an in-memory counter is shared by all requests.
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")
RATELIMIT_VIEW = "portal.views.rate_limited"
# Requests per hour (per IP for anonymous forms, per account once logged in).
PORTAL_RATE_SIGNUP = env.str("PORTAL_RATE_SIGNUP", default="10/h")
PORTAL_RATE_LOGIN = env.str("PORTAL_RATE_LOGIN", default="30/h")
PORTAL_RATE_PASSWORD_RESET = env.str("PORTAL_RATE_PASSWORD_RESET", default="5/h")
PORTAL_RATE_SUBMISSION = env.str("PORTAL_RATE_SUBMISSION", default="60/h")
PORTAL_RATE_UPLOAD = env.str("PORTAL_RATE_UPLOAD", default="60/h")
# Every API call of one client (api/ratelimits.py): a case system polls, but not without end.
PORTAL_RATE_API = env.str("PORTAL_RATE_API", default="3000/h")

# --- Metrics ----------------------------------------------------------------------------------
# /metrics (portal/metrics.py): Prometheus sends "Authorization: Bearer <token>". No default:
# unset, only a logged-in staff member with a verified second factor can open it.
PORTAL_METRICS_TOKEN = env.str("PORTAL_METRICS_TOKEN", default="")
if PORTAL_METRICS_TOKEN and len(PORTAL_METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("PORTAL_METRICS_TOKEN must be at least 32 characters long.")

# --- Logging ----------------------------------------------------------------------------------
# One JSON object per line in production (python-json-logger), with the request id, the legal
# request's reference and the Celery task id (portal/logs.py); readable text with DJANGO_DEBUG=1.
# PORTAL_LOG_FORMAT=json|text overrides. Never a target identifier nor a request's content.
PORTAL_LOG_FORMAT = env.str("PORTAL_LOG_FORMAT", default="text" if DEBUG else "json")
if PORTAL_LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("PORTAL_LOG_FORMAT must be json or text.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "portal.logs.LogContextFilter"}},
    "formatters": {
        "text": {
            "()": "portal.logs.ContextTextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {
            "()": "portal.logs.PortalJsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": PORTAL_LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}


# --- The API for authorities' case systems (docs/api.md) -----------------------------------------
# Bearer tokens of approved API clients only: no session, so no CSRF and no cookie to steal.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["requests_app.api.authentication.ClientTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["requests_app.api.permissions.ClientScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "requests_app.api.problems.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Legal request portal API",
    "DESCRIPTION": "Requests, targets, documents, messages, deliveries and events of one "
    "authority, for its case system; for an enforcing authority, the e-Evidence orders notified "
    "to it and its answers. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI from our own static files (drf-spectacular-sidecar): no CDN, the CSP stays.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set used by several fields (the enforcing authority's orders show a
    # request's status and data categories under other field names).
    "ENUM_NAME_OVERRIDES": {
        "RequestStatusEnum": "requests_app.models.Status",
        "DataCategoryEnum": "requests_app.instruments.DataCategory",
    },
    # Problem answers (application/problem+json) and the links between operations.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "requests_app.api.schema.problems_and_links",
    ],
}
# The longest an API client's token lives (issue 19: at most 90 days).
PORTAL_API_TOKEN_MAX_DAYS = 90
# How long an Idempotency-Key's answer is kept: a retry later than this acts afresh.
PORTAL_API_IDEMPOTENCY_HOURS = env.int("PORTAL_API_IDEMPOTENCY_HOURS", default=48)
# Webhooks go to public HTTPS addresses only. Tests set this to let a receiver on a loopback
# port take plain HTTP (docs/api.md, "Webhooks"); never in a deployment.
PORTAL_WEBHOOKS_ALLOW_INSECURE_LOOPBACK = False
# How long a finished webhook delivery and its attempts are kept (the client's page lists them).
PORTAL_WEBHOOK_RETENTION_DAYS = env.int("PORTAL_WEBHOOK_RETENTION_DAYS", default=30)
