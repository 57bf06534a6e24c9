"""Settings: the one place configuration is read (environment variables with the ANNOTATOR_ prefix).

Created on demand with :func:`get_settings`, never at import time.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE = REPO_ROOT / "db" / "annotator.sqlite3"
SAMPLE_DATA = REPO_ROOT / "sample_data"
MIN_SECRET_CHARS = 43  # 32 random bytes as URL-safe base64 (secrets.token_urlsafe(32)); hex needs 64
MIN_SECRET_BITS = 128  # estimated from the key's own character frequencies
PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "change this", "placeholder", "example", "your-", "your_",
                     "replace", "insecure", "secret", "default", "do-not-use", "password", "xxxxxxxx")
SECRET_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


def secret_key_problem(key: str) -> str | None:
    """Why `key` is not an acceptable session-signing secret (None when it is).

    At least 32 random bytes: 43 or more characters, an estimated entropy (length times the Shannon
    entropy of its own character frequencies) of at least 128 bits, and none of the words that mark
    a placeholder ("change-me", "your-secret-here", ...).
    """
    if not key:
        return "ANNOTATOR_SECRET_KEY is not set"
    if len(key) < MIN_SECRET_CHARS:
        return f"ANNOTATOR_SECRET_KEY is too short ({len(key)} characters; at least {MIN_SECRET_CHARS})"
    lowered = key.lower()
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        return "ANNOTATOR_SECRET_KEY looks like a placeholder, not a random key"
    counts = Counter(key)
    bits = -sum(n * math.log2(n / len(key)) for n in counts.values())
    if bits < MIN_SECRET_BITS or len(counts) < 12:
        return "ANNOTATOR_SECRET_KEY is not random enough (too few different characters)"
    return None


_SECRET_QUERY = ("key", "token", "secret", "password", "passwd", "pwd", "sig", "signature", "auth", "credential")


def base_url_problem(url: str | None) -> str | None:
    """Why an LLM base URL may not be used (it carries credentials), or None.

    Keys belong in OPENAI_API_KEY / AZURE_OPENAI_API_KEY, which are never stored; a key inside the
    URL would end up in the run's row in the database, in logs and on screens."""
    if not url:
        return None
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url.strip())
    if parts.username or parts.password or "@" in parts.netloc:
        return "the base URL contains a user name or password (user:pass@host)"
    if any(any(word in k.lower() for word in _SECRET_QUERY) for k, _ in parse_qsl(parts.query, keep_blank_values=True)):
        return "the base URL carries a key or token in its query string"
    return None


def redact_url(url: str | None) -> str | None:
    """`url` without user name, password, query or fragment (what may be stored or shown)."""
    if not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class Settings(BaseSettings):
    """All configuration. Every field can be set as ANNOTATOR_<NAME> in the environment or in `.env`."""

    model_config = SettingsConfigDict(env_prefix="ANNOTATOR_", env_file=".env", extra="ignore")

    database_url: str = Field(default=f"sqlite:///{DEFAULT_SQLITE}")
    truncate_at: int = Field(default=32_000, ge=100)
    demo_password: str | None = Field(default=None, description="Fixed demo passwords (tests); random when unset.")
    secret_key: str = Field(default="", repr=False,
                            description="Signs session cookies: at least 32 random bytes. `serve --demo` makes its own.")
    session_hours: float = Field(default=12.0, gt=0)
    max_failed_logins: int = Field(default=5, ge=1)
    lockout_minutes: float = Field(default=15.0, gt=0)
    client_ip_header: str | None = Field(
        default=None, description="Header the reverse proxy puts the client's address in (e.g. X-Forwarded-For).")
    cookie_secure: bool | None = Field(
        default=None, description="Mark the session cookie Secure; default: when the request came over HTTPS.")

    # LLM endpoint. Keys come only from the environment or a secrets file, never from the database.
    llm_provider: str = Field(default="openai", pattern="^(openai|azure)$")
    llm_model: str = "gpt-4o"
    llm_base_url: str | None = None
    openai_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("ANNOTATOR_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    azure_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("ANNOTATOR_AZURE_ENDPOINT", "AZURE_OPENAI_ENDPOINT")
    )
    azure_deployment: str | None = None
    azure_api_version: str = Field(
        default="2024-10-21", validation_alias=AliasChoices("ANNOTATOR_AZURE_API_VERSION", "OPENAI_API_VERSION")
    )
    azure_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("ANNOTATOR_AZURE_API_KEY", "AZURE_OPENAI_API_KEY")
    )
    llm_timeout: float = Field(default=60.0, gt=0)
    llm_concurrency: int = Field(default=8, ge=1, le=256)
    llm_max_retries: int = Field(default=5, ge=0, le=20, description="Retries of a failed request (backoff).")
    batch_max_bytes: int = Field(default=200_000_000, ge=1_000, description="Batch API input file limit (bytes).")
    batch_max_requests: int = Field(default=50_000, ge=1, description="Batch API requests per input file.")
    price_table: str | None = Field(default=None, description="YAML/JSON file overriding per-model prices.")

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        if value.startswith("postgres://"):
            value = "postgresql://" + value[len("postgres://") :]
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value[len("postgresql://") :]
        return value

    def signing_key(self) -> str:
        """The session-signing secret, refused unless it is at least 32 random bytes.

        There is no built-in secret: `annotator serve --demo` passes a random one to the app process
        it starts (new on every start), so a demo token cannot be forged from the source code.
        """
        from annotator.errors import InvalidInput

        problem = secret_key_problem(self.secret_key)
        if problem:
            raise InvalidInput(f"{problem}: set it to a long random string ({SECRET_HINT}) or start with --demo.")
        return self.secret_key


def get_settings(**overrides) -> Settings:
    """Build settings from the environment, with explicit overrides (e.g. the CLI's --db)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
