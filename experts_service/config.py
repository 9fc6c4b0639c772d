"""Settings from the environment. Fails fast on values it cannot use."""
from __future__ import annotations

import json
import os
import re
import secrets
from email.utils import parseaddr
from pathlib import Path

from cryptography.fernet import Fernet

from experts_service.core.email_address import is_email_address


class ConfigError(RuntimeError):
    pass


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean, got {raw!r}")


def _text(name: str) -> str | None:
    raw = os.environ.get(name)
    return raw.strip() if raw and raw.strip() else None


MAX_TCP_PORT = 65535
DEFAULT_SMTP_PORT = 25
DEFAULT_SMTP_TIMEOUT_SECONDS = 30
DEFAULT_MAIL_MAX_ATTEMPTS = 5
DEFAULT_MAIL_RETRY_SECONDS = 60
# The smallest value each numeric mail setting accepts.
MAIL_MINIMUMS = {"SMTP_TIMEOUT_SECONDS": 1, "MAIL_MAX_ATTEMPTS": 1, "MAIL_RETRY_SECONDS": 0}


def _mail_settings(testing: bool) -> dict:
    """Outgoing mail (notifications.mail). No SMTP_HOST: mail stays queued, visible on the queue page."""
    return {
        "SMTP_HOST": _text("SMTP_HOST"),
        "SMTP_PORT": _int("SMTP_PORT", DEFAULT_SMTP_PORT, 1),
        "SMTP_SENDER": _text("SMTP_SENDER"),
        "SMTP_USERNAME": _text("SMTP_USERNAME"),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": _bool("SMTP_STARTTLS", False),
        "SMTP_TIMEOUT_SECONDS": _int("SMTP_TIMEOUT_SECONDS", DEFAULT_SMTP_TIMEOUT_SECONDS,
                                     MAIL_MINIMUMS["SMTP_TIMEOUT_SECONDS"]),
        "MAIL_MAX_ATTEMPTS": _int("MAIL_MAX_ATTEMPTS", DEFAULT_MAIL_MAX_ATTEMPTS, MAIL_MINIMUMS["MAIL_MAX_ATTEMPTS"]),
        # Base of the exponential backoff; 0 retries at the next drain.
        "MAIL_RETRY_SECONDS": _int("MAIL_RETRY_SECONDS", DEFAULT_MAIL_RETRY_SECONDS,
                                   MAIL_MINIMUMS["MAIL_RETRY_SECONDS"]),
        # Try mail right after the commit that queued it (the CLI drain catches up on the rest).
        "MAIL_SEND_ON_COMMIT": _bool("MAIL_SEND_ON_COMMIT", not testing),
        # Where users open the service (https://experts.example.gov.cn): links in mail are made absolute.
        "PUBLIC_BASE_URL": _text("PUBLIC_BASE_URL"),
    }


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_mail_settings(config: dict) -> None:
    """The final values (environment and overrides alike); ConfigError names the first bad one."""
    host = config.get("SMTP_HOST")
    if host is not None and (not isinstance(host, str) or not host or any(c.isspace() for c in host)):
        raise ConfigError(f"SMTP_HOST must be a host name without spaces, got {host!r}")
    port = config.get("SMTP_PORT")
    if not _is_int(port) or not 1 <= port <= MAX_TCP_PORT:
        raise ConfigError(f"SMTP_PORT must be an integer in 1-{MAX_TCP_PORT}, got {port!r}")
    for name, minimum in MAIL_MINIMUMS.items():
        value = config.get(name)
        if not _is_int(value) or value < minimum:
            raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    for name in ("SMTP_STARTTLS", "MAIL_SEND_ON_COMMIT"):
        if not isinstance(config.get(name), bool):
            raise ConfigError(f"{name} must be a boolean, got {config.get(name)!r}")
    sender = config.get("SMTP_SENDER")
    if sender is not None and (not isinstance(sender, str) or not is_email_address(parseaddr(sender)[1])):
        raise ConfigError(f"SMTP_SENDER must be an e-mail address (optionally 'Name <address>'), got {sender!r}")
    if host and sender is None:
        raise ConfigError("SMTP_SENDER is required when SMTP_HOST is set")
    if bool(config.get("SMTP_USERNAME")) != bool(config.get("SMTP_PASSWORD")):
        raise ConfigError("SMTP_USERNAME and SMTP_PASSWORD must be set together")
    base = config.get("PUBLIC_BASE_URL")
    if base is not None and (not isinstance(base, str) or not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", base)
                             or base.endswith("/")):
        raise ConfigError(f"PUBLIC_BASE_URL must be http(s)://host[/path] without a trailing slash, got {base!r}")
    if config.get("EXPERTS_ENV") == "production" and config.get("SMTP_USERNAME") and not config["SMTP_STARTTLS"]:
        raise ConfigError("production sends SMTP credentials only over STARTTLS: set SMTP_STARTTLS=true")


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgresql:// URLs (libpq style)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _development_secrets(instance_path: Path) -> dict[str, str]:
    """Keys for a development instance, created once and kept under instance/.

    Production must pass keys in the environment; see build_config.
    """
    path = instance_path / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PII_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PII_HASH_KEY": secrets.token_urlsafe(48),
    }
    instance_path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)
    return values


def build_config(instance_path: str, overrides: dict | None = None) -> dict:
    instance = Path(instance_path)
    env_name = os.environ.get("EXPERTS_ENV", "development")
    if env_name not in {"development", "production", "testing"}:
        raise ConfigError(f"EXPERTS_ENV must be development, production or testing, got {env_name!r}")
    production = env_name == "production"

    keys = {name: os.environ.get(name) for name in ("SECRET_KEY", "PII_ENCRYPTION_KEYS", "PII_HASH_KEY")}
    overrides = dict(overrides or {})
    for name in list(keys):
        if name in overrides:
            keys[name] = overrides[name]
    if not all(keys.values()):
        if production:
            missing = [name for name, value in keys.items() if not value]
            raise ConfigError(f"production needs {', '.join(missing)} in the environment")
        generated = _development_secrets(instance)
        keys = {name: value or generated[name] for name, value in keys.items()}
    for key in keys["PII_ENCRYPTION_KEYS"].split(","):
        try:
            Fernet(key.strip())
        except ValueError as exc:
            raise ConfigError("PII_ENCRYPTION_KEYS must be comma-separated Fernet keys") from exc

    default_db = f"sqlite:///{instance / 'experts.sqlite3'}"
    config = {
        "EXPERTS_ENV": env_name,
        **keys,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(os.environ.get("DATABASE_URL") or default_db),
        # hide_parameters: a failed statement logs no values (ID numbers, mobiles, addresses, hashes).
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
        "PERMANENT_SESSION_LIFETIME": _int("SESSION_MINUTES", 120, 5) * 60,
        "WTF_CSRF_TIME_LIMIT": None,  # token lives as long as the session
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 2 * 1024 * 1024, 1024),
        # Roster imports (.xlsx): upload size, data rows, and the unpacked size (zip bombs).
        "ROSTER_MAX_BYTES": _int("ROSTER_MAX_BYTES", 5 * 1024 * 1024, 1024),
        # One background material (背景材料) of a panel request.
        "MATERIAL_MAX_BYTES": _int("MATERIAL_MAX_BYTES", 10 * 1024 * 1024, 1024),
        "ROSTER_MAX_ROWS": _int("ROSTER_MAX_ROWS", 2000, 1),
        "ROSTER_MAX_UNPACKED_BYTES": _int("ROSTER_MAX_UNPACKED_BYTES", 100 * 1024 * 1024, 1024),
        "LOGIN_MAX_FAILURES": _int("LOGIN_MAX_FAILURES", 5, 1),
        "LOGIN_LOCKOUT_MINUTES": _int("LOGIN_LOCKOUT_MINUTES", 15, 1),
        "API_TOKEN_HOURS": _int("API_TOKEN_HOURS", 8, 1),
        "PASSWORD_MIN_LENGTH": _int("PASSWORD_MIN_LENGTH", 10, 8),
        # argon2 cost; tests lower it so hundreds of logins stay fast.
        "ARGON2_TIME_COST": _int("ARGON2_TIME_COST", 3, 1),
        "ARGON2_MEMORY_COST": _int("ARGON2_MEMORY_COST", 65536, 8),
        "SEARCH_INDEX_DIR": os.environ.get("SEARCH_INDEX_DIR") or str(instance / "search"),
        # Apply index changes right after each commit (searches also catch up first).
        "SEARCH_SYNC_ON_COMMIT": _bool("SEARCH_SYNC_ON_COMMIT", True),
        **_mail_settings(testing=overrides.get("EXPERTS_ENV", env_name) == "testing"),
        "DISPLAY_TIMEZONE": os.environ.get("DISPLAY_TIMEZONE", "Asia/Shanghai"),
        "API_TITLE": "experts-service",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
    }
    config.update(overrides)
    check_mail_settings(config)
    return config
