"""Every setting the README lists is read by one typed object, once; a bad value is
one readable line (app/settings.py)."""

import re

import pytest

from app.settings import ConfigurationError, Settings, settings
from tests.database_setup import PROJECT_ROOT

# A value for each setting that differs from its default, and is valid.
DISTINCT_VALUES = {
    "DATABASE_URL": "postgresql://app@db.internal:5432/masterplan",
    "MASTERPLAN_PGDATA": "/var/lib/masterplan",
    "DATABASE_POOL_URL": "postgresql://app@bouncer:6432",
    "DATABASE_REPLICA_URLS": "postgresql://r1:5432,postgresql://r2",
    "DATABASE_REPLICA_MAX_LAG_SECONDS": "2.5",
    "HOST": "0.0.0.0",
    "PORT": "8443",
    "FORWARDED_ALLOW_IPS": "10.0.0.1",
    "ADMIN_USERNAME": "ops",
    "ADMIN_PASSWORD": "correct horse battery staple",
    "MASTERPLAN_PRODUCTION": "yes",
    "MASTERPLAN_ALLOWED_HOSTS": "crm.example.com",
    "WHATSAPP_APP_SECRET": "app-secret",
    "WHATSAPP_VERIFY_TOKEN": "verify-token",
    "LOG_FORMAT": "json",
    "METRICS_TOKEN": "a-scraper-token-of-some-length",
    "WHATSAPP_APP_SECRET_PREVIOUS": "app-secret-before-the-rotation",
    "ADMIN_MFA": "required-for-all",
    "ADMIN_MFA_KEY": "bWFzdGVycGxhbi10ZXN0LWtleS0zMi1ieXRlcy1vayE=",
    "ADMIN_MFA_KEY_FILE": "/var/lib/masterplan/admin-mfa.key",
}

BAD_VALUES = {
    "DATABASE_URL": ("mysql://db/app", "DATABASE_URL must be a PostgreSQL URL"),
    "DATABASE_POOL_URL": ("postgresql://bouncer:port", "DATABASE_POOL_URL has an invalid port"),
    "DATABASE_REPLICA_URLS": ("postgresql://r1,r2", "DATABASE_REPLICA_URLS must be a PostgreSQL"),
    "DATABASE_REPLICA_MAX_LAG_SECONDS": ("-1", "DATABASE_REPLICA_MAX_LAG_SECONDS must be"),
    "PORT": ("http", "PORT must be a port number from 1 to 65535, not 'http'"),
    "MASTERPLAN_PRODUCTION": ("maybe", "MASTERPLAN_PRODUCTION must be one of 1/0"),
    "WHATSAPP_APP_SECRET": ("only-half", "WHATSAPP_VERIFY_TOKEN must be set as well"),
    "LOG_FORMAT": ("yaml", "LOG_FORMAT must be text or json, not 'yaml'"),
    "METRICS_TOKEN": ("short", "METRICS_TOKEN must be at least 16 characters"),
    "WHATSAPP_APP_SECRET_PREVIOUS": ("old", "WHATSAPP_APP_SECRET must be set as well"),
    "ADMIN_MFA": ("sometimes", "ADMIN_MFA must be one of required-for-superusers,"),
    "ADMIN_MFA_KEY": ("short", "ADMIN_MFA_KEY must be a Fernet key"),
}


def readme_settings() -> list[str]:
    table = re.search(
        r"^## Settings\n(.*?)\n## ", (PROJECT_ROOT / "README.md").read_text(), re.S | re.M
    )
    assert table is not None, "the README has a Settings section"
    return re.findall(r"`([A-Z][A-Z0-9_]+)`", table.group(1))


def test_every_setting_the_readme_lists_is_read_by_the_settings_object():
    listed = readme_settings()
    assert sorted(listed) == sorted(DISTINCT_VALUES)
    defaults = Settings.from_environment({})
    for name in listed:
        changed = Settings.from_environment({name: DISTINCT_VALUES[name]} | _partner(name))
        assert changed != defaults, f"{name} changes nothing"


def _partner(name: str) -> dict[str, str]:
    """WhatsApp's two secrets are set together or not at all; production needs the
    two-factor key."""
    if name.startswith("WHATSAPP_"):
        return {key: DISTINCT_VALUES[key] for key in DISTINCT_VALUES if key.startswith("WHATSAPP_")}
    if name == "MASTERPLAN_PRODUCTION":
        return {"ADMIN_MFA_KEY": DISTINCT_VALUES["ADMIN_MFA_KEY"]}
    return {}


def test_the_values_read_are_typed():
    read = Settings.from_environment(DISTINCT_VALUES)
    assert read.server.port == 8443
    assert read.database.replica_max_lag_seconds == 2.5
    assert read.database.replica_urls == ("postgresql://r1:5432", "postgresql://r2")
    assert read.admin.production is True
    assert read.admin.allowed_hosts == ("crm.example.com",)
    assert read.admin.mfa.required_for_all is True
    assert str(read.admin.mfa.key_file) == "/var/lib/masterplan/admin-mfa.key"
    assert read.whatsapp is not None and read.whatsapp.verify_token == "verify-token"
    assert read.whatsapp.app_secrets == ("app-secret", "app-secret-before-the-rotation")


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_a_bad_value_is_one_readable_line_naming_the_setting(name):
    value, message = BAD_VALUES[name]
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment({name: value})
    text = str(refused.value.code)
    assert text.startswith(f"masterplan: {message}")
    assert "\n" not in text


def test_the_settings_are_read_once_until_cleared(monkeypatch):
    first = settings()
    monkeypatch.setenv("ADMIN_USERNAME", "someone-else")
    assert settings() is first
    settings.cache_clear()
    assert settings().first_admin.username == "someone-else"
