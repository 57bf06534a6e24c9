"""Settings: the one place configuration is read (environment variables with the ANNOTATOR_ prefix).

Created on demand with :func:`get_settings`, never at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE = REPO_ROOT / "db" / "annotator.sqlite3"
SAMPLE_DATA = REPO_ROOT / "sample_data"
DEMO_SECRET = "demo-only-secret-do-not-use-in-production"


class Settings(BaseSettings):
    """All configuration. Every field can be set as ANNOTATOR_<NAME> in the environment or in `.env`."""

    model_config = SettingsConfigDict(env_prefix="ANNOTATOR_", env_file=".env", extra="ignore")

    database_url: str = Field(default=f"sqlite:///{DEFAULT_SQLITE}")
    truncate_at: int = Field(default=32_000, ge=100)
    demo: bool = False
    demo_password: str | None = Field(default=None, description="Fixed demo passwords (tests); random when unset.")
    secret_key: str = Field(default="", description="Signs session tokens; required outside demo mode.")
    session_hours: float = Field(default=12.0, gt=0)
    max_failed_logins: int = Field(default=5, ge=1)
    lockout_minutes: float = Field(default=15.0, gt=0)

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
        """The session-signing secret; a fixed demo secret only in demo mode."""
        from annotator.errors import InvalidInput

        if self.secret_key and self.secret_key != DEMO_SECRET:
            return self.secret_key
        if self.demo:
            return DEMO_SECRET
        raise InvalidInput(
            "ANNOTATOR_SECRET_KEY is not set: set it to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))') or start with --demo."
        )


def get_settings(**overrides) -> Settings:
    """Build settings from the environment, with explicit overrides (e.g. the CLI's --db)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
