"""Settings, read once from `FLOWDECK_*` environment variables and CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flowdeck.domain.limits import MAX_DEFINITION_BYTES


class Settings(BaseSettings):
    """Every setting of a Flowdeck process; each is also `FLOWDECK_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="FLOWDECK_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path.home() / ".flowdeck")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=1, le=65535)
    bootstrap_api_key: str | None = None
    max_concurrent_runs: int = Field(
        default=10,
        ge=1,
        validation_alias=AliasChoices(
            "FLOWDECK_MAX_CONCURRENT_RUNS", "WORKFLOW_MAX_CONCURRENT_RUNS", "max_concurrent_runs"
        ),
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_steps: int = Field(default=1000, ge=1)
    allow_scripts: bool = True
    secret_key: str | None = None
    trash_retention_days: int = Field(default=30, ge=0)
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # When set, GET /metrics requires `Authorization: Bearer <metrics_token>`.
    metrics_token: str | None = None
    # `flowdeck worker` serves its own metrics on this port when set.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    db_pool_size: int = Field(default=10, ge=1)
    max_parallel_steps: int = Field(default=256, ge=1)
    lease_seconds: float = Field(default=15.0, gt=0)
    heartbeat_seconds: float = Field(default=3.0, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    # SIGTERM: how long in-flight steps may finish before they are handed back.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    script_cpu_seconds: int = Field(default=60, ge=1)
    script_memory_mb: int = Field(default=512, ge=16)
    run_worker: bool = True
    schedule_poll_seconds: float = Field(default=1.0, gt=0)
    # Input limits (sec-input): the largest workflow definition, as text or as compact JSON.
    # Bodies, definitions and run inputs also nest at most 64 levels (domain.limits).
    max_definition_bytes: int = Field(default=MAX_DEFINITION_BYTES, ge=1024)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite at `<data_dir>/flowdeck.db`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'flowdeck.db'}"
