"""Django settings, read from the environment with django-environ.

Every variable read here is documented in the README's "Configuration" table.
The defaults run the demo with no services at all: SQLite, a filesystem Celery
broker and a file-based cache. Tests and production set ``DATABASE_URL``,
``CELERY_BROKER_URL`` and ``CACHE_URL`` to PostgreSQL and Redis.
"""
import datetime as dt
from pathlib import Path

import environ
from kombu import Queue
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("WEDSYNC_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    default="insecure-dev-only-key-set-DJANGO_SECRET_KEY-in-production" if DEBUG else environ.Env.NOTSET,
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "django_htmx",
    "axes",
    "wedsync.events",
    "outlook_sync",
    "calendar_ui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "wedsync.api_errors.ApiErrorShapeMiddleware",  # every error under /api/ in the one JSON shape
    # Microsoft's notification POSTs go from here straight to the receiver (no session, auth, CSRF, CSP, axes).
    "wedsync.fast_paths.NotificationFastPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "wedsync.security.ContentSecurityPolicyMiddleware",  # django-csp + the sign-in origin in form-action
    # Last, as django-axes requires: turns a locked-out login into a 429 page or error.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "wedsync.urls"
WSGI_APPLICATION = "wedsync.wsgi.application"

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
                "calendar_ui.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
# A kept connection is checked before a request reuses it (a PostgreSQL restart costs one reconnect, not an error).
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", DATABASES["default"]["CONN_MAX_AGE"] != 0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs web and worker against one SQLite file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})

CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}
#: Prefix of every Redis key we write (cache, locks, Celery broker): lets several deployments, or
#: several test runs on one machine, share one Redis without seeing each other's keys.
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="")
if REDIS_KEY_PREFIX:
    CACHES["default"]["KEY_PREFIX"] = REDIS_KEY_PREFIX

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "outlook-settings"
LOGOUT_REDIRECT_URL = "login"

# --- Security (production values come from the environment; see README) ---
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False) else None
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
#: Sign a supplier out after this many seconds without a request (requests renew the session, see wedsync/sessions.py).
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=2 * 60 * 60)
#: Database sessions whose expiry is written only when it lags by more than SESSION_RENEWAL_INTERVAL_SECONDS
#: (instead of SESSION_SAVE_EVERY_REQUEST's write on every request).
SESSION_ENGINE = "wedsync.sessions"
SESSION_RENEWAL_INTERVAL_SECONDS = env.int("SESSION_RENEWAL_INTERVAL_SECONDS", default=5 * 60)

# Content-Security-Policy (django-csp): scripts and styles only from this site; inline styles are
# allowed for the admin's formatted cells, inline scripts never.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],  # + MICROSOFT_AUTHORITY's origin, added per response by wedsync.security
        "frame-ancestors": [NONE],
    },
}

# Login floods (django-axes): a username + address pair is locked out after this many wrong passwords.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
#: ... for this long (a timedelta; axes answers 429 with Retry-After meanwhile).
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "wedsync.security.lockout_response"
AXES_SENSITIVE_PARAMETERS = ["password"]
AXES_IPWARE_PROXY_COUNT = 1 if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False) else None
AXES_VERBOSE = False

# --- REST API ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "wedsync.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Per-user limits on the expensive endpoints (rates below); 429 in the error shape with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": ["wedsync.security.EndpointThrottle"],
}
#: Requests per user per scope: "<count>/<second|minute|hour|day>".
API_THROTTLE_RATES = {
    "sync": env.str("THROTTLE_SYNC_RATE", default="20/minute"),  # POST /sync
    "force_sync": env.str("THROTTLE_FORCE_SYNC_RATE", default="30/minute"),  # POST /events/<id>/force-sync
    "availability": env.str("THROTTLE_AVAILABILITY_RATE", default="120/minute"),  # GET /availability
    "auth": env.str("THROTTLE_AUTH_RATE", default="10/minute"),  # GET /auth, POST /auth/callback
}
SPECTACULAR_SETTINGS = {
    "TITLE": "WedSync Outlook Calendar Sync API",
    "DESCRIPTION": "The JSON contract of WS-217 (camelCase) plus the WedSync events API.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs are for signed-in users only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "outlook_sync.api.schema.drop_optional_from_required",
        "outlook_sync.api.schema.document_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "EventTypeEnum": "wedsync.events.models.EventType.choices",
        "MappingSyncStatusEnum": ["synced", "pending", "conflict", "error"],
        "RunStatusEnum": ["queued", "in_progress", "completed", "failed", "cancelled"],
        "SyncStartStatusEnum": ["started", "queued"],
        "DisconnectStatusEnum": "outlook_sync.models.DisconnectStatus.choices",
    },
}

# --- Celery ---
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
#: Redis redelivers a task whose worker died (acks_late) after this many seconds; longer than any
#: countdown we use (retries wait at most 600 s), shorter than the default hour.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900)}
if REDIS_KEY_PREFIX:
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = f"{REDIS_KEY_PREFIX}:"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery-queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(VAR_DIR / "celery-control"),
    }
    # kombu's filesystem transport does not create its folders.
    for _folder in (_queue_dir, VAR_DIR / "celery-control"):
        _folder.mkdir(parents=True, exist_ok=True)
#: The interactive queue; the background one is this name + "-background" (wedsync/queues.py, README "Workers and queues").
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="wedsync")
#: Beat's fan-out and its per-integration tasks go to the background queue; the rest to the interactive one.
CELERY_TASK_ROUTES = ("wedsync.queues.route",)
#: What a worker started without -Q consumes: both queues (the demo). Production runs one worker per queue (-Q).
CELERY_TASK_QUEUES = (Queue(CELERY_TASK_DEFAULT_QUEUE), Queue(f"{CELERY_TASK_DEFAULT_QUEUE}-background"))
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE: dict = {}  # filled in below, once the sync settings are read

# --- Token encryption (Fernet keys, newest first; never the SECRET_KEY) ---
TOKEN_ENCRYPTION_KEYS = env.list("TOKEN_ENCRYPTION_KEYS", default=[])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # msal logs authorization codes and PKCE verifiers at DEBUG: never below INFO.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}, "msal": {"level": "INFO"}},
}

SPECTACULAR_SETTINGS.update({"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR"})
INSTALLED_APPS.append("drf_spectacular_sidecar")

# --- Microsoft identity platform and Graph (the demo and tests point these at graph_emulator) ---
MICROSOFT_CLIENT_ID = env.str("MICROSOFT_CLIENT_ID", default="")
MICROSOFT_CLIENT_SECRET = env.str("MICROSOFT_CLIENT_SECRET", default="")
MICROSOFT_AUTHORITY = env.str("MICROSOFT_AUTHORITY", default="https://login.microsoftonline.com/common")
MICROSOFT_REDIRECT_URI = env.str("MICROSOFT_REDIRECT_URI", default="http://127.0.0.1:8000/calendar/outlook/callback/")
GRAPH_BASE_URL = env.str("GRAPH_BASE_URL", default="https://graph.microsoft.com/v1.0").rstrip("/")
#: CA bundle to trust for Microsoft endpoints (the emulator's CA in the demo and tests); empty = system CAs.
GRAPH_CA_BUNDLE = env.str("GRAPH_CA_BUNDLE", default="")
GRAPH_TIMEOUT_SECONDS = env.float("GRAPH_TIMEOUT_SECONDS", default=30.0)
#: Public https base URL where Microsoft can reach this app's webhook endpoints.
WEBHOOK_PUBLIC_BASE_URL = env.str("WEBHOOK_PUBLIC_BASE_URL", default="").rstrip("/")
#: Refused (forged or stale) notifications are counted and logged once per this many seconds.
WEBHOOK_REFUSED_LOG_INTERVAL_SECONDS = env.int("WEBHOOK_REFUSED_LOG_INTERVAL_SECONDS", default=60)

# --- Sync behaviour ---
#: The synced window: from this many days ago ...
SYNC_WINDOW_PAST_DAYS = env.int("SYNC_WINDOW_PAST_DAYS", default=30)
#: ... to this many days ahead (calendarView delta is always over a bounded window).
SYNC_WINDOW_FUTURE_DAYS = env.int("SYNC_WINDOW_FUTURE_DAYS", default=365)
#: Minutes between safety-net incremental syncs of every healthy integration (Celery beat).
SAFETY_NET_SYNC_MINUTES = env.int("SAFETY_NET_SYNC_MINUTES", default=15)
#: The sweeps (safety net, subscription upkeep) send per-integration tasks in chunks of this many ...
FAN_OUT_CHUNK_SIZE = env.int("FAN_OUT_CHUNK_SIZE", default=100)
#: ... spread evenly over at most this many seconds (below CELERY_VISIBILITY_TIMEOUT: a countdown longer than it is
#: redelivered), or the sweep's period if shorter ...
FAN_OUT_SPREAD_SECONDS = env.int("FAN_OUT_SPREAD_SECONDS", default=600)
#: ... but never more than this many seconds apart (a small fleet is swept at once, a large one over the period).
FAN_OUT_MAX_GAP_SECONDS = env.float("FAN_OUT_MAX_GAP_SECONDS", default=1.0)
#: The safety-net sweep skips an integration whose last sync succeeded less than this many seconds ago.
SAFETY_NET_SKIP_RECENT_SECONDS = env.int("SAFETY_NET_SKIP_RECENT_SECONDS", default=300)
#: Parallel $batch requests per bulk run (Graph allows 4 concurrent requests per mailbox).
SYNC_BATCH_CONCURRENCY = env.int("SYNC_BATCH_CONCURRENCY", default=4)
# How many items of one $batch Outlook runs at once (Microsoft: up to 4); a batch holds that many of the mailbox's 4 slots.
GRAPH_BATCH_PARALLELISM = env.int("GRAPH_BATCH_PARALLELISM", default=4)
#: Days the change journal (what each sync changed, for undo) is kept; pruned daily by beat.
OUTLOOK_SYNC_JOURNAL_RETENTION_DAYS = env.int("OUTLOOK_SYNC_JOURNAL_RETENTION_DAYS", default=30)
#: First wait (seconds) before a disconnect that Outlook throttled or did not answer tries again; doubles per attempt, at most 600.
DISCONNECT_RETRY_SECONDS = env.float("DISCONNECT_RETRY_SECONDS", default=30.0)
#: A disconnect no worker has begun this long (seconds) after it was asked had its task lost: the safety-net beat sends it again.
DISCONNECT_RESEND_AFTER_SECONDS = env.float("DISCONNECT_RESEND_AFTER_SECONDS", default=300.0)

CELERY_BEAT_SCHEDULE.update({
    "outlook-safety-net-sync": {"task": "outlook_sync.tasks.safety_net_sync", "schedule": SAFETY_NET_SYNC_MINUTES * 60.0},
    "outlook-refresh-tokens": {"task": "outlook_sync.tasks.refresh_expiring_tokens", "schedule": 300.0},
    "outlook-maintain-subscriptions": {"task": "outlook_sync.tasks.maintain_subscriptions", "schedule": 3600.0},
    "outlook-prune-change-journal": {"task": "outlook_sync.tasks.prune_change_journal", "schedule": 86400.0},
})
