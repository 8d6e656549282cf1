"""Settings, read from the environment (django-environ).

Every setting a deployer may change is listed, with its default, in the README's
"Settings" table. A `.env` file in the project folder is read when present.
"""

import json
import sys
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The fallback key is only good for local use: with DEBUG off, a system check (project.E001)
# refuses to start on it, so production must set SECRET_KEY.
INSECURE_SECRET_KEY = "insecure-local-only-key-change-me-0123456789abcdef"
SECRET_KEY = env("SECRET_KEY", default=INSECURE_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])
# Served over https (SITE_URL): the session and CSRF cookies never travel over plain http.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=SITE_URL.startswith("https://"))
# How many reverse proxies in front of the web server append to X-Forwarded-For. 0: the header
# is ignored (any client can send it) and the audited address is the connection's.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "corsheaders",
    "axes",
    "csp",
    "django_htmx",
    "template_partials",
    "schedules",
    "runs",
    "audit",
    "config.apps.ProjectConfig",  # system checks on these settings (config/checks.py)
    "automation",
]

MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header on every answer (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    # Static files straight from the web process (no front proxy needed): after the security
    # headers, before sessions and the rest, which a stylesheet does not need.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before CommonMiddleware, so a preflight is answered before anything else looks at it.
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it answers a locked-out sign-in with the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# SQLite is the embedded default; PostgreSQL (postgres://...) is the production database.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the scheduler share the file: WAL plus IMMEDIATE transactions and
    # a busy timeout avoid "database is locked" between the two processes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": env("SQLITE_TEST_NAME", default="") or None}
else:
    # Persistent connections, checked before reuse: a request no longer pays for a new
    # connection (and PostgreSQL for a new backend process), and a connection the server or a
    # proxy dropped is replaced instead of failing the request. One connection per gunicorn
    # thread and per scheduler thread; docs/deploy.md counts them. DB_POOL_MAX_SIZE > 0 uses
    # Django's psycopg pool instead (one pool per process; it cannot be combined with
    # persistent connections), for databases short of connection slots.
    pool_size = env.int("DB_POOL_MAX_SIZE", default=0)
    if pool_size > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, pool_size),
            "max_size": pool_size,
            # Waiting longer than this for a free connection fails the request: a pool smaller
            # than the threads that share it shows up as errors, not as a hang.
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
    else:
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=300))
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out user or address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row

# Password guessing (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords in a row for one
# username, or from one address, signing in is refused for LOGIN_LOCKOUT_MINUTES, the right
# password included; each wrong try meanwhile counts again. The sign-in page and the admin's
# both. Lift it at once: `manage.py axes_reset_username <name>` or `axes_reset_ip <address>`
# (docs/operations.md, "Locked out").
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: per user and per address
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.middleware.client_ip"  # the audited address, proxies counted alike
AXES_LOCKOUT_CALLABLE = "config.lockout.locked_out"  # the page that says for how long
AXES_VERBOSE = False  # one log line per lockout is the operator's (structlog), not three

# People sign in on the pages' styled login; the admin has its own login, for staff only.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = None  # the styled "signed out" page

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# --- Content-Security-Policy (django-csp 4) --------------------------------------------
# Strict: scripts, styles and connections from this origin only; no inline script or style,
# no eval (the templates put none inline; htmx is told not to add its indicator <style>, in
# base.html). A page that needs more says so on its view (csp_update), never here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF],
        "style-src": [CSP_SELF],
        "connect-src": [CSP_SELF],
        "img-src": [CSP_SELF, "data:"],
        "font-src": [CSP_SELF],
        "object-src": [CSP_NONE],
        "base-uri": [CSP_SELF],
        "form-action": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
    },
}

# --- I18n -----------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# `collectstatic` copies the files here (make serve, the deployment); WhiteNoise serves them.
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (cached for a year by browsers) and gzip/brotli copies. It needs
    # `collectstatic` first: a page naming a file it has not collected fails loudly instead of
    # linking a 404. The tests use the plain storage (tests/conftest.py).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- API ------------------------------------------------------------------------------
# A chat app on another origin may call the API (with a token: cookies are never sent
# cross-origin, CORS_ALLOW_CREDENTIALS stays off), e.g. "https://chat.example.com".
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/v1/.*$"
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes a missing credential a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # JSON bounded in size (DATA_UPLOAD_MAX_MEMORY_SIZE) and depth: never a RecursionError.
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "config.api.errors.exception_handler",
    # Throttles that key on the address peel the same proxies as the audit trail.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    # Per-user limits on writes (run-now and retry have their own); rates below.
    "DEFAULT_THROTTLE_CLASSES": ["config.api.throttling.WriteThrottle"],
}
# Requests per period per user ("120/min", "10/s", "5000/day"); empty: no limit.
API_THROTTLE_WRITE = env("API_THROTTLE_WRITE", default="120/min")
API_THROTTLE_RUN = env("API_THROTTLE_RUN", default="30/min")
# Test alerts per org ("Send test alert" on the alerts page), whoever sends them.
ALERT_TEST_THROTTLE = env("ALERT_TEST_THROTTLE", default="5/hour")
# Where throttle counts live. The default is per process; a shared cache (e.g.
# "redis://host:6379/0" with redis installed, or "dbcache://cache_table" after
# `manage.py createcachetable`) makes one count across web processes.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
SPECTACULAR_SETTINGS = {
    "TITLE": "Agent schedules API",
    "DESCRIPTION": "Schedules that run AI agents on time, and the record of every run.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs page are public on purpose (see the README): they describe the
    # API's shape, the same for every caller, and hold no data; every operation they list
    # still needs a login.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_PUBLIC": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.errors.add_common_errors",
    ],
}

# --- Schedules and the scheduler -----------------------------------------------------
SCHEDULE_MIN_INTERVAL_SECONDS = env.int("SCHEDULE_MIN_INTERVAL_SECONDS", default=60)
SCHEDULE_MAX_INTERVAL_SECONDS = env.int("SCHEDULE_MAX_INTERVAL_SECONDS", default=366 * 86400)
SCHEDULE_PROMPT_MAX_LENGTH = env.int("SCHEDULE_PROMPT_MAX_LENGTH", default=20_000)
# How long a draft from chat (POST /api/v1/schedule-drafts/) waits to be saved, in seconds.
SCHEDULE_DRAFT_TTL = env.int("SCHEDULE_DRAFT_TTL", default=24 * 3600)
# The demo chat page (/demo/chat/<session_id>/) stands in for the chat app locally; never in
# production unless asked for.
DEMO_CHAT = env.bool("DEMO_CHAT", default=False)
SCHEDULER_POLL_SECONDS = env.float("SCHEDULER_POLL_SECONDS", default=1.0)
SCHEDULER_BATCH_SIZE = env.int("SCHEDULER_BATCH_SIZE", default=500)
SCHEDULER_WORKERS = env.int("SCHEDULER_WORKERS", default=8)
# Threads that claim and fire batches side by side in a burst (PostgreSQL; SQLite fires in one).
SCHEDULER_FIRING_THREADS = env.int("SCHEDULER_FIRING_THREADS", default=2)
SCHEDULER_LEASE_SECONDS = env.int("SCHEDULER_LEASE_SECONDS", default=60)
SCHEDULER_STALL_SECONDS = env.int("SCHEDULER_STALL_SECONDS", default=120)
# Bearer token Prometheus sends to /metrics; empty: the endpoint answers 404.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
SCHEDULER_POLL_PLANE_AFTER_SECONDS = env.int("SCHEDULER_POLL_PLANE_AFTER_SECONDS", default=30)
# Manual compensation (manage.py backfill, POST /api/v1/schedules/{id}/backfill/): runs queued
# per call, the longest range one call may cover, and the most occurrences it may look at
# (each is computed and checked: a month of a minutely schedule is 44,640).
BACKFILL_MAX_RUNS = env.int("BACKFILL_MAX_RUNS", default=1000)
BACKFILL_MAX_DAYS = env.int("BACKFILL_MAX_DAYS", default=31)
BACKFILL_MAX_OCCURRENCES = env.int("BACKFILL_MAX_OCCURRENCES", default=10_000)
# How often each replica checks the others' heartbeats (stalled-scheduler alerts) and sends
# pending alert deliveries: on its own timer, so an idle pass stays at one query.
SCHEDULER_ALERT_CHECK_SECONDS = env.float("SCHEDULER_ALERT_CHECK_SECONDS", default=15.0)

# --- Alerts (docs/operations.md, "Alerts") ------------------------------------------------
# Webhooks to private, loopback or link-local addresses are refused unless this is set (an
# org admin must not be able to make the scheduler call into the internal network).
ALERT_WEBHOOK_ALLOW_PRIVATE = env.bool("ALERT_WEBHOOK_ALLOW_PRIVATE", default=False)
# The most alert channels one org may have (each is called on every alert).
ALERT_MAX_CHANNELS_PER_ORG = env.int("ALERT_MAX_CHANNELS_PER_ORG", default=10)
# The whole call, from connecting to the last byte of the answer (a dripping answer is cut).
ALERT_WEBHOOK_TIMEOUT_SECONDS = env.float("ALERT_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Deliveries sent at once per replica (a bounded pool): one slow webhook holds one of them.
ALERT_DELIVERY_WORKERS = env.int("ALERT_DELIVERY_WORKERS", default=4)


# Success checks (runs/outcomes.py). The control plane never downloads an output by default:
# a text check reads the agent's answer. Naming hosts here (e.g. "files.example.com") lets a
# text check fetch an output from those hosts only, under the alert webhooks' address rules,
# at most OUTPUT_FETCH_MAX_BYTES and OUTPUT_FETCH_TIMEOUT_SECONDS.
OUTPUT_FETCH_HOSTS = env.list("OUTPUT_FETCH_HOSTS", default=[])
OUTPUT_FETCH_MAX_BYTES = env.int("OUTPUT_FETCH_MAX_BYTES", default=1024 * 1024)
OUTPUT_FETCH_TIMEOUT_SECONDS = env.float("OUTPUT_FETCH_TIMEOUT_SECONDS", default=5.0)
# Wait before each retry of a failed delivery; after the last, the delivery is given up.
ALERT_DELIVERY_BACKOFF_SECONDS = env.list("ALERT_DELIVERY_BACKOFF_SECONDS", cast=int, default=[10, 60, 300])
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="alerts@localhost")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)

# --- The execution plane ---------------------------------------------------------------
EXECUTION_PLANE_URL = env("EXECUTION_PLANE_URL", default="").rstrip("/")
EXECUTION_PLANE_SECRET = env("EXECUTION_PLANE_SECRET", default="")
# "http" when a URL is set, else the embedded "local" plane (subprocesses from LOCAL_AGENTS).
EXECUTION_PLANE = env("EXECUTION_PLANE", default="http" if EXECUTION_PLANE_URL else "local")
EXECUTION_PLANE_TIMEOUT_SECONDS = env.float("EXECUTION_PLANE_TIMEOUT_SECONDS", default=10.0)
# Link from a run on the pages to its chat session, e.g. "https://chat.example.com/chat/{session_id}"
# ({message_id} may appear too). Empty: session ids are shown without a link.
EXECUTION_PLANE_SESSION_URL = env("EXECUTION_PLANE_SESSION_URL", default="")
# EXECUTION_PLANE=langgraph: a LangGraph Agent Server (Agent Protocol), docs/execution-plane.md.
LANGGRAPH_URL = env("LANGGRAPH_URL", default="").rstrip("/")
# Sent as X-Api-Key when set (LangGraph Platform); a local `langgraph dev` needs none.
LANGGRAPH_API_KEY = env("LANGGRAPH_API_KEY", default="")
# Links from a run on the pages to its thread and run, e.g. LangGraph Studio's
# "https://smith.langchain.com/studio/thread/{thread_id}?baseUrl=http://127.0.0.1:2024"
# ({thread_id} and {run_id} are replaced). Empty: the ids are shown without a link.
LANGGRAPH_THREAD_URL = env("LANGGRAPH_THREAD_URL", default="")
LANGGRAPH_RUN_URL = env("LANGGRAPH_RUN_URL", default="")
# Agent slug -> command (argv list). Only settings name commands; the API and pages cannot.
LOCAL_AGENTS = json.loads(
    env(
        "LOCAL_AGENTS",
        default=json.dumps({"echo": [sys.executable, str(BASE_DIR / "agents" / "echo_agent.py")]}),
    )
)
# The local plane is for development, not a sandbox: when set (and the scheduler runs as
# root), agents run as this user instead of the scheduler's own, e.g. "nobody".
LOCAL_AGENTS_RUN_AS = env("LOCAL_AGENTS_RUN_AS", default="")
# Most stdout a local agent may write (kept as the run's output); more kills it.
LOCAL_AGENT_MAX_OUTPUT_BYTES = env.int("LOCAL_AGENT_MAX_OUTPUT_BYTES", default=1 << 20)

# --- Logging (structlog) ---------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="console" if DEBUG else "json")

from config.logging import configure_logging  # noqa: E402

LOGGING = configure_logging(LOG_FORMAT, LOG_LEVEL)
