"""Server settings: every ``wsharness serve`` flag, also a ``WSH_*`` variable."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Settings:
    """What one server instance is configured with.  Field ``x_y`` is env ``WSH_X_Y``."""

    host: str = "127.0.0.1"
    port: int = 8080
    broker: str = "memory"
    tls_cert: str | None = None
    tls_key: str | None = None
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwks_url: str | None = None
    allowed_origins: list[str] = field(default_factory=list)
    max_connections: int = 100_000
    max_message_bytes: int = 64 * 1024
    heartbeat_seconds: float = 20.0
    token_warning_seconds: float = 60.0
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 100
    send_queue_messages: int = 1000
    send_queue_bytes: int = 1024 * 1024
    write_buffer_high_bytes: int = 64 * 1024
    history_size: int = 1000
    history_seconds: float = 300.0
    resume_wait_seconds: float = 1.0
    drain_seconds: float = 10.0
    drain_batches: int = 10
    compress: bool = False
    pubsub_topic: str = "wsharness-notifications"
    message_spans_per_second: float = 100.0
    test_delivery_cost_us: float = 0.0  # tests only: CPU burnt per socket delivered to

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``WSH_*`` variables, then explicit overrides (e.g. CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = env.get(f"WSH_{item.name.upper()}")
            if raw is not None and raw != "":
                values[item.name] = _convert(
                    raw, cls.__dataclass_fields__[item.name].default
                )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _convert(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if default is None or isinstance(default, str):
        return raw
    return [part.strip() for part in raw.split(",") if part.strip()]
