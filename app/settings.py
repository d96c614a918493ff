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
