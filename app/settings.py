"""Every setting, read from the environment once into one typed object.

``settings()`` is that object (read on first use, then kept); a bad value ends
with one readable line (``ConfigurationError``, a non-zero exit). The README's
settings table lists the same variables. Standard library only: ``python3 -m app``
checks the settings before anything is installed.
"""

import base64
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"", "0", "false", "no", "off"}
DEFAULT_MAX_LAG_SECONDS = 5.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EMBEDDED_DATA_DIR = PROJECT_ROOT / ".pgdata"
DEFAULT_MFA_KEY_FILE = PROJECT_ROOT / ".admin-mfa-key"

Environment = Mapping[str, str]


class ConfigurationError(SystemExit):
    """A setting is unusable; exits with one readable line."""

    def __init__(self, message: str) -> None:
        super().__init__(f"masterplan: {message}")


def _text(environ: Environment, name: str) -> str:
    return environ.get(name, "").strip()


def flag(name: str, environ: Environment = os.environ) -> bool:
    """A yes/no environment variable."""
    value = _text(environ, name).lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ConfigurationError(f"{name} must be one of 1/0, true/false, yes/no, on/off")


def validated_url(url: str, setting: str = "DATABASE_URL") -> str:
    """``url`` if it is a PostgreSQL URL, else one readable line naming the ``setting``."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigurationError(
            f"{setting} must be a PostgreSQL URL such as "
            "postgresql://user:password@host:5432/dbname"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ConfigurationError(f"{setting} has an invalid port") from None
    return url


def _url_list(environ: Environment, name: str) -> tuple[str, ...]:
    urls = (url.strip() for url in _text(environ, name).split(","))
    return tuple(validated_url(url, name) for url in urls if url)


def _seconds(environ: Environment, name: str, default: float, most: float) -> float:
    configured = _text(environ, name)
    if not configured:
        return default
    try:
        seconds = float(configured)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= most:
        raise ConfigurationError(f"{name} must be a number of seconds from 0 to {most:g}")
    return seconds


def port_number(text: str, name: str = "PORT") -> int:
    """A TCP port from 1 to 65535."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ConfigurationError(f"{name} must be a port number from 1 to 65535, not {text!r}")
    return int(text)


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the database is (app/db/): ``DATABASE_URL`` (empty: the embedded
    server, its data in ``MASTERPLAN_PGDATA``), the transaction pooler in front of it
    (``DATABASE_POOL_URL``), its read replicas (``DATABASE_REPLICA_URLS``) and how far
    behind one may be (``DATABASE_REPLICA_MAX_LAG_SECONDS``)."""

    url: str = ""
    embedded_data_dir: Path = DEFAULT_EMBEDDED_DATA_DIR
    pool_url: str = ""
    replica_urls: tuple[str, ...] = ()
    replica_max_lag_seconds: float = DEFAULT_MAX_LAG_SECONDS

    @classmethod
    def from_environment(cls, environ: Environment = os.environ) -> "DatabaseSettings":
        url = _text(environ, "DATABASE_URL")
        pool_url = _text(environ, "DATABASE_POOL_URL")
        data_dir = _text(environ, "MASTERPLAN_PGDATA")
        return cls(
            url=validated_url(url) if url else "",
            embedded_data_dir=Path(data_dir).resolve() if data_dir else DEFAULT_EMBEDDED_DATA_DIR,
            pool_url=validated_url(pool_url, "DATABASE_POOL_URL") if pool_url else "",
            replica_urls=_url_list(environ, "DATABASE_REPLICA_URLS"),
            replica_max_lag_seconds=_seconds(
                environ, "DATABASE_REPLICA_MAX_LAG_SECONDS", DEFAULT_MAX_LAG_SECONDS, 3600
            ),
        )


@dataclass(frozen=True)
class ServerSettings:
    """Where ``python3 -m app run`` listens (``HOST``, ``PORT``) and whose
    ``X-Forwarded-For`` it trusts (``FORWARDED_ALLOW_IPS``, uvicorn's meaning)."""

    host: str = "127.0.0.1"
    port: int = 8000
    forwarded_allow_ips: str = "127.0.0.1"

    @classmethod
    def from_environment(cls, environ: Environment = os.environ) -> "ServerSettings":
        return cls(
            host=_text(environ, "HOST") or cls.host,
            port=port_number(_text(environ, "PORT") or str(cls.port)),
            forwarded_allow_ips=_text(environ, "FORWARDED_ALLOW_IPS") or cls.forwarded_allow_ips,
        )


@dataclass(frozen=True)
class FirstAdminSettings:
    """The first operator account ``run`` creates: ``ADMIN_USERNAME`` (default
    "admin") and ``ADMIN_PASSWORD`` (empty: one is generated and shown once)."""

    username: str = "admin"
    password: str = ""

    @classmethod
    def from_environment(cls, environ: Environment = os.environ) -> "FirstAdminSettings":
        return cls(
            username=_text(environ, "ADMIN_USERNAME") or cls.username,
            password=environ.get("ADMIN_PASSWORD", ""),
        )


MFA_MODES = ("required-for-superusers", "required-for-all", "off")
MFA_KEY_BYTES = 32  # a Fernet key: 32 bytes, url-safe base64


def is_fernet_key(key: str | bytes) -> bool:
    """Whether ``key`` is a Fernet key: 32 bytes in url-safe base64."""
    try:
        return len(base64.urlsafe_b64decode(key)) == MFA_KEY_BYTES
    except ValueError:  # not base64, or not ASCII
        return False


def _fernet_key(environ: Environment, name: str) -> str:
    key = _text(environ, name)
    if key and not is_fernet_key(key):
        raise ConfigurationError(
            f"{name} must be a Fernet key (32 bytes in url-safe base64), e.g. from: python3 -c "
            '"import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
        )
    return key


@dataclass(frozen=True)
class OperatorMFASettings:
    """Operators' two-factor sign-in (app/admin/two_factor.py).

    ADMIN_MFA: ``required-for-superusers`` (default), ``required-for-all`` or ``off``.
    ADMIN_MFA_KEY: the Fernet key that encrypts the authenticator secrets in the
    database; required with MASTERPLAN_PRODUCTION=1. Without it (development), a key
    is generated once into ADMIN_MFA_KEY_FILE (default ``.admin-mfa-key`` in the
    checkout) and read from there afterwards.
    """

    mode: str = "required-for-superusers"
    key: str = ""
    key_file: Path = DEFAULT_MFA_KEY_FILE

    @classmethod
    def from_environment(
        cls, environ: Environment = os.environ, production: bool = False
    ) -> "OperatorMFASettings":
        mode = _text(environ, "ADMIN_MFA").lower() or cls.mode
        if mode not in MFA_MODES:
            raise ConfigurationError(
                f"ADMIN_MFA must be one of {', '.join(MFA_MODES)}, not {mode!r}"
            )
        key = _fernet_key(environ, "ADMIN_MFA_KEY")
        if production and mode != "off" and not key:
            raise ConfigurationError("ADMIN_MFA_KEY must be set when MASTERPLAN_PRODUCTION=1")
        key_file = _text(environ, "ADMIN_MFA_KEY_FILE")
        return cls(
            mode=mode, key=key, key_file=Path(key_file).resolve() if key_file else cls.key_file
        )

    @property
    def required_for_all(self) -> bool:
        return self.mode == "required-for-all"

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


@dataclass(frozen=True)
class AdminSettings:
    """How the operator admin protects its sessions.

    MASTERPLAN_PRODUCTION=1 marks the session cookie Secure (HTTPS only);
    MASTERPLAN_ALLOWED_HOSTS (comma-separated) lists the hosts whose Origin or
    Referer the CSRF check accepts over HTTPS.
    """

    production: bool = False
    allowed_hosts: tuple[str, ...] = ()
    mfa: OperatorMFASettings = OperatorMFASettings()

    @classmethod
    def from_environment(cls, environ: Environment = os.environ) -> "AdminSettings":
        hosts = _text(environ, "MASTERPLAN_ALLOWED_HOSTS")
        production = flag("MASTERPLAN_PRODUCTION", environ)
        return cls(
            production=production,
            allowed_hosts=tuple(host.strip() for host in hosts.split(",") if host.strip()),
            mfa=OperatorMFASettings.from_environment(environ, production),
        )


@dataclass(frozen=True)
class WhatsAppSettings:
    """The Meta app's secrets: WHATSAPP_APP_SECRET signs webhook bodies,
    WHATSAPP_VERIFY_TOKEN answers the subscription handshake. One Meta app serves
    every workspace's numbers. Without both, the webhook is off (503).
    WHATSAPP_APP_SECRET_PREVIOUS, while a rotation runs, is accepted as well: bodies
    Meta signed (or retries) with the old secret are not lost."""

    app_secret: str
    verify_token: str
    previous_app_secret: str = ""

    @property
    def app_secrets(self) -> tuple[str, ...]:
        """The secrets a body may be signed with: the current one, then the previous."""
        return tuple(secret for secret in (self.app_secret, self.previous_app_secret) if secret)

    @classmethod
    def from_environment(cls, environ: Environment = os.environ) -> "WhatsAppSettings | None":
        secret = _text(environ, "WHATSAPP_APP_SECRET")
        token = _text(environ, "WHATSAPP_VERIFY_TOKEN")
        previous = _text(environ, "WHATSAPP_APP_SECRET_PREVIOUS")
        if not secret and not token and not previous:
            return None
        if not secret or not token:
            missing = "WHATSAPP_APP_SECRET" if not secret else "WHATSAPP_VERIFY_TOKEN"
            raise ConfigurationError(f"{missing} must be set as well to turn WhatsApp on")
        return cls(app_secret=secret, verify_token=token, previous_app_secret=previous)


LOG_FORMATS = ("text", "json")
MIN_METRICS_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class ObservabilitySettings:
    """What an operator sees of the running service: ``LOG_FORMAT`` (``text``, or
    ``json`` for one JSON object per log line) and ``METRICS_TOKEN``, the bearer
    token that reads ``GET /metrics`` (at least 16 characters; unset: only a
    signed-in admin session reads it)."""

    log_format: str = "text"
    metrics_token: str = ""

    @classmethod
    def from_environment(cls, environ: Environment = os.environ) -> "ObservabilitySettings":
        log_format = _text(environ, "LOG_FORMAT").lower() or cls.log_format
        if log_format not in LOG_FORMATS:
            raise ConfigurationError(f"LOG_FORMAT must be text or json, not {log_format!r}")
        token = _text(environ, "METRICS_TOKEN")
        if token and len(token) < MIN_METRICS_TOKEN_LENGTH:
            raise ConfigurationError(
                f"METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_LENGTH} characters"
            )
        return cls(log_format=log_format, metrics_token=token)


@dataclass(frozen=True)
class Settings:
    """Every setting of the service, by the part it configures."""

    database: DatabaseSettings
    server: ServerSettings
    first_admin: FirstAdminSettings
    admin: AdminSettings
    whatsapp: WhatsAppSettings | None
    observability: ObservabilitySettings = ObservabilitySettings()

    @classmethod
    def from_environment(cls, environ: Environment = os.environ) -> "Settings":
        """All settings, each checked: the first bad one ends in one readable line."""
        return cls(
            database=DatabaseSettings.from_environment(environ),
            server=ServerSettings.from_environment(environ),
            first_admin=FirstAdminSettings.from_environment(environ),
            admin=AdminSettings.from_environment(environ),
            whatsapp=WhatsAppSettings.from_environment(environ),
            observability=ObservabilitySettings.from_environment(environ),
        )


@functools.cache
def settings() -> Settings:
    """The process's settings, read from the environment on first use.

    Code that changes the environment afterwards (a supervisor naming the database
    to its workers, a test) calls ``settings.cache_clear()`` to have it read again.
    """
    return Settings.from_environment()
