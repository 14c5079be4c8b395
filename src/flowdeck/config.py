"""Settings, read once from `FLOWDECK_*` environment variables and CLI flags."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from flowdeck.domain.limits import MAX_DEFINITION_BYTES
from flowdeck.engine.egress import parse_allow_list


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
    # Finished runs (completed, failed, cancelled) older than this are purged with their step
    # runs and events; their analytics stay. 0 keeps every run.
    run_retention_days: int = Field(default=30, ge=0)
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # One line per HTTP request (request id, method, route, status, duration); unset: on when
    # the log format is JSON.
    access_log: bool | None = None
    # When set, GET /metrics requires `Authorization: Bearer <metrics_token>`; when not, only
    # loopback clients may scrape.
    metrics_token: str | None = None
    # `flowdeck worker` serves its own metrics on this port when set.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # A worker's metrics URL whose counters a server's /metrics adds to its own (`flowdeck
    # serve` sets it for its worker process).
    worker_metrics_url: str | None = None
    db_pool_size: int = Field(default=10, ge=1)
    max_parallel_steps: int = Field(default=256, ge=1)
    lease_seconds: float = Field(default=15.0, gt=0)
    heartbeat_seconds: float = Field(default=3.0, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    # SIGTERM: how long in-flight steps may finish before they are handed back.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    script_cpu_seconds: int = Field(default=60, ge=1)
    script_memory_mb: int = Field(default=512, ge=16)
    # Script sandbox (engine/sandbox): auto tries bwrap, then Landlock; none is the opt-out.
    script_sandbox: Literal["auto", "bwrap", "landlock", "none"] = "auto"
    script_network: bool = False
    script_max_processes: int = Field(default=128, ge=1)
    script_file_size_mb: int = Field(default=64, ge=1)
    script_tmp_size_mb: int = Field(default=64, ge=1)
    script_bwrap_path: str | None = None
    script_python: str | None = None
    # The unprivileged uid (and gid) scripts run as when the server runs as root.
    script_uid: int = Field(default=65534, ge=1)
    run_worker: bool = True
    # `flowdeck serve` runs its worker as a child process (the API's event loop never waits
    # behind engine work, and both cores are used); false runs it inside the server process.
    worker_process: bool = True
    # Pure steps (transform, condition, loop items) run inside the transaction that made them
    # ready, at most this many per transaction (0: never).
    max_inline_steps: int = Field(default=1000, ge=0)
    # Runaway runs: how deep child runs of `workflow` steps may nest (SPEC §4).
    max_run_depth: int = Field(default=10, ge=1, le=100)
    schedule_poll_seconds: float = Field(default=1.0, gt=0)
    # Egress guard (outbound step requests, SPEC §9): intranet targets steps may reach,
    # comma-separated CIDRs, hosts or host:port ("*" allows every address).
    http_allow: str = ""

    @field_validator("http_allow")
    @classmethod
    def _readable_allow_list(cls, value: str) -> str:
        parse_allow_list(value)
        return value

    # -- Rate limits and client addresses (security: sec-limits) ---------------------------
    # Requests per minute per API key, and per source address on routes without a key
    # (public view, inbound hooks); counted in each server's memory. 0 turns it off.
    rate_limit_per_minute: int = Field(default=6000, ge=0)
    # Failed authentications (401s) per minute per source address before it gets 429. 0: off.
    auth_failures_per_minute: int = Field(default=30, ge=0)
    # Open SSE run streams per API key on one server. 0: no cap.
    max_streams_per_key: int = Field(default=20, ge=0)
    # Proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For names the client; without
    # them the client is the socket peer.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()

    # Template budget (SPEC §9, templates area): what one render may spend. Loop iterations
    # (calls count too); the size of its output and of any one value it builds, and of all it
    # builds together, in bytes; and its CPU time, which a step's `timeout_seconds` lowers.
    template_max_iterations: int = Field(default=1_000_000, ge=1)
    template_max_output_bytes: int = Field(default=1024 * 1024, ge=1024)
    template_max_built_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    template_timeout_seconds: float = Field(default=5.0, gt=0)

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

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        networks = []
        for item in (str(i).strip() for i in items):
            if item:
                try:
                    networks.append(str(ipaddress.ip_network(item, strict=False)))
                except ValueError as exc:
                    raise ValueError(f"{item!r} is not an IP address or CIDR network") from exc
        return tuple(networks)

    @property
    def access_log_on(self) -> bool:
        """Whether HTTP requests are logged (FLOWDECK_ACCESS_LOG, else JSON logs say yes)."""
        return self.access_log if self.access_log is not None else self.log_format == "json"

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite at `<data_dir>/flowdeck.db`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'flowdeck.db'}"
