"""The suite's command-line options, shown in the Locust web UI, and their values.

Added to Locust's parser on ``events.init_command_line_parser`` (by
:mod:`wsharness.loadclient.suite`); read back through ``environment.parsed_options``
as a typed :class:`LoadOptions` (defaults apply when Locust runs without our parser,
e.g. a library ``Environment`` in a test).  Locust-free, so it imports anywhere.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from typing import Any

from wsharness.contract.protocol import WS_PATH

DROP_KINDS = ("abort", "rst", "stall")
EXPIRY_MODES = ("refresh", "reconnect", "mix")
SHAPES = ("none", "ramp", "step", "spike", "soak", "capacity")
PUBLISH_PATHS = ("server", "pubsub")


@dataclass(frozen=True)
class LoadOptions:
    """Every option of the suite, with its default."""

    ws_path: str = WS_PATH
    topics: str = "news"
    echo_rate: float = 1.0
    payload_bytes: int = 64
    publish_rate: float = 1.0
    drop_mix: str = "abort=1,rst=1,stall=1"
    drop_interval: float = 5.0
    stall_seconds: float = 2.0
    token_ttl: float = 3600.0
    expiry_token_ttl: float = 20.0
    expiry_mode: str = "mix"
    jwt_secret: str | None = None
    token_file: str | None = None
    token_command: str | None = None
    raw: bool = False
    ws_timeout: float = 10.0
    reconnect_base_ms: float = 100.0
    reconnect_max_ms: float = 5000.0
    shape: str = "none"
    shape_users: int = 100
    shape_seconds: float = 60.0
    capacity_steps: str | None = None
    step_seconds: float = 30.0
    capacity_spawn_rate: float = 100.0
    sockets_log_interval: float = 5.0
    source_addresses: str | None = None
    publish_via: str = "server"
    pubsub_topic: str | None = None

    @classmethod
    def from_parsed(cls, parsed: argparse.Namespace | None) -> LoadOptions:
        values: dict[str, Any] = {}
        for field in fields(cls):
            value = getattr(parsed, field.name, None) if parsed is not None else None
            if value is not None:
                values[field.name] = value
        return cls(**values)

    @property
    def topic_list(self) -> list[str]:
        return [topic.strip() for topic in self.topics.split(",") if topic.strip()]

    @property
    def drop_weights(self) -> dict[str, float]:
        return parse_drop_mix(self.drop_mix)


def parse_drop_mix(text: str) -> dict[str, float]:
    """``"abort=2,rst=1,stall=0"`` -> weights per drop kind; unknown kinds rejected."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, weight = part.partition("=")
        if kind not in DROP_KINDS:
            raise ValueError(f"unknown drop kind {kind!r}; use {', '.join(DROP_KINDS)}")
        weights[kind] = float(weight or 1)
    if not any(weights.values()):
        raise ValueError("--drop-mix gives every drop kind a weight of zero")
    return weights


def add_arguments(parser: Any) -> None:
    """Add the suite's options to Locust's parser (all shown in the web UI)."""
    add = parser.add_argument
    add("--ws-path", default=WS_PATH, help="WebSocket path on --host")
    add("--topics", default="news", help="comma-separated topics to subscribe/publish")
    add("--echo-rate", type=float, default=1.0, help="echoes per second per active user")
    add("--payload-bytes", type=int, default=64, help="echo and publish payload size")
    add("--publish-rate", type=float, default=1.0, help="publishes/s per publisher")
    add("--drop-mix", default="abort=1,rst=1,stall=1", help="weights of abort, rst, stall")
    add("--drop-interval", type=float, default=5.0, help="seconds between drops per user")
    add("--stall-seconds", type=float, default=2.0, help="how long a read stall lasts")
    add("--token-ttl", type=float, default=3600.0, help="TTL of minted tokens (s)")
    add("--expiry-token-ttl", type=float, default=20.0, help="TTL for the expiry users (s)")
    add("--expiry-mode", choices=EXPIRY_MODES, default="mix", help="refresh or reconnect")
    add(
        "--jwt-secret",
        env_var="WSH_JWT_SECRET",
        default=None,
        is_secret=True,
        help="HS256 secret to mint tokens (env WSH_JWT_SECRET)",
    )
    add("--token-file", default=None, help="file holding a token (staging, no secret)")
    add(
        "--token-command",
        default=None,
        help="shell command printing a token; {sub} {scope} {ttl} are filled in",
    )
    add("--raw", action="store_true", default=False, help="plain RFC 6455 echo endpoint")
    add("--ws-timeout", type=float, default=10.0, help="seconds to wait for a reply")
    add("--reconnect-base-ms", type=float, default=100.0, help="first backoff ceiling")
    add("--reconnect-max-ms", type=float, default=5000.0, help="backoff ceiling")
    add("--shape", choices=SHAPES, default="none", help="load shape (none = -u/-r/-t)")
    add("--shape-users", type=int, default=100, help="peak users of the load shape")
    add("--shape-seconds", type=float, default=60.0, help="duration of the load shape")
    add(
        "--capacity-steps",
        default=None,
        help="open sockets per step of --shape capacity, e.g. 500,1000,2000 "
        "(default: doubling up to --shape-users)",
    )
    add("--step-seconds", type=float, default=30.0, help="hold of each capacity step (s)")
    add(
        "--capacity-spawn-rate",
        type=float,
        default=100.0,
        help="users started per second on each capacity step's ramp",
    )
    add(
        "--sockets-log-interval",
        type=float,
        default=5.0,
        help="seconds between 'open sockets' log lines (0 = never)",
    )
    add(
        "--publish-via",
        choices=PUBLISH_PATHS,
        default="server",
        help="publishers use the server's publish frame, or Pub/Sub's REST API",
    )
    add(
        "--pubsub-topic",
        env_var="WSH_PUBSUB_TOPIC",
        default=None,
        help="Pub/Sub topic for --publish-via pubsub (env WSH_PUBSUB_TOPIC)",
    )
    add(
        "--source-addresses",
        default=None,
        help="local addresses to connect from, e.g. 127.0.0.1-127.0.0.20 (round-robin)",
    )
