"""Settings read from the environment, checked once, with one-line errors."""

import os
from dataclasses import dataclass

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"", "0", "false", "no", "off"}


class ConfigurationError(SystemExit):
    """A setting is unusable; exits with one readable line."""

    def __init__(self, message: str) -> None:
        super().__init__(f"masterplan: {message}")


def flag(name: str) -> bool:
    """A yes/no environment variable."""
    value = os.environ.get(name, "").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ConfigurationError(f"{name} must be one of 1/0, true/false, yes/no, on/off")


@dataclass(frozen=True)
class AdminSettings:
    """How the operator admin protects its sessions.

    MASTERPLAN_PRODUCTION=1 marks the session cookie Secure (HTTPS only);
    MASTERPLAN_ALLOWED_HOSTS (comma-separated) lists the hosts whose Origin or
    Referer the CSRF check accepts over HTTPS.
    """

    production: bool
    allowed_hosts: tuple[str, ...]

    @classmethod
    def from_environment(cls) -> "AdminSettings":
        hosts = os.environ.get("MASTERPLAN_ALLOWED_HOSTS", "")
        return cls(
            production=flag("MASTERPLAN_PRODUCTION"),
            allowed_hosts=tuple(host.strip() for host in hosts.split(",") if host.strip()),
        )


@dataclass(frozen=True)
class WhatsAppSettings:
    """The Meta app's secrets: WHATSAPP_APP_SECRET signs webhook bodies,
    WHATSAPP_VERIFY_TOKEN answers the subscription handshake. One Meta app serves
    every workspace's numbers. Without both, the webhook is off (503)."""

    app_secret: str
    verify_token: str

    @classmethod
    def from_environment(cls) -> "WhatsAppSettings | None":
        secret = os.environ.get("WHATSAPP_APP_SECRET", "").strip()
        token = os.environ.get("WHATSAPP_VERIFY_TOKEN", "").strip()
        if not secret and not token:
            return None
        if not secret or not token:
            missing = "WHATSAPP_APP_SECRET" if not secret else "WHATSAPP_VERIFY_TOKEN"
            raise ConfigurationError(f"{missing} must be set as well to turn WhatsApp on")
        return cls(app_secret=secret, verify_token=token)
