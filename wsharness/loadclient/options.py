"""The suite's command-line options, shown in the Locust web UI, and their values.

Added to Locust's parser on ``events.init_command_line_parser`` (by
:mod:`wsharness.loadclient.suite`); read back through ``environment.parsed_options``
as a typed :class:`LoadOptions` (defaults apply when Locust runs without our parser,
e.g. a library ``Environment`` in a test).  Locust-free, so it imports anywhere.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from typing import Any

from wsharness.contract.protocol import WS_PATH
from wsharness.loadclient import protocols
from wsharness.loadclient.deliveries import DEFAULT_TIMINGS_PER_SECOND
from wsharness.loadclient.protocols import Protocol, ProtocolOptions

DROP_KINDS = ("abort", "rst", "stall")
EXPIRY_MODES = ("refresh", "reconnect", "mix")
SHAPES = ("none", "ramp", "step", "spike", "soak", "capacity")
PUBLISH_PATHS = ("server", "pubsub", "http")


def option(default: Any, help: str, **argparse_extra: Any) -> Any:
    """A field of :class:`LoadOptions` and how its command-line flag looks.

    The flag is the field's name with dashes; its type is the default's (``None``:
    text, ``False``: a switch); ``argparse_extra`` goes to Locust's ``add_argument``
    (``choices``, ``env_var``, ``is_secret``).
    """
    return field(default=default, metadata={"help": help, **argparse_extra})


@dataclass(frozen=True)
class LoadOptions:
    """Every option of the suite, with its default and its help (the flags' source)."""

    ws_path: str = option(WS_PATH, "WebSocket path on --host")
    topics: str = option("news", "comma-separated topics to subscribe/publish")
    echo_rate: float = option(1.0, "echoes per second per active user")
    payload_bytes: int = option(64, "echo and publish payload size")
    publish_rate: float = option(1.0, "publishes/s per publisher")
    drop_mix: str = option("abort=1,rst=1,stall=1", "weights of abort, rst, stall")
    drop_interval: float = option(5.0, "seconds between drops per user")
    stall_seconds: float = option(2.0, "how long a read stall lasts")
    token_ttl: float = option(3600.0, "TTL of minted tokens (s)")
    expiry_token_ttl: float = option(20.0, "TTL for the expiry users (s)")
    expiry_mode: str = option("mix", "refresh or reconnect", choices=EXPIRY_MODES)
    jwt_secret: str | None = option(
        None,
        "HS256 secret to mint tokens (env WSH_JWT_SECRET)",
        env_var="WSH_JWT_SECRET",
        is_secret=True,
    )
    token_file: str | None = option(None, "file holding a token (staging, no secret)")
    token_command: str | None = option(
        None, "shell command printing a token; {sub} {scope} {ttl} are filled in"
    )
    raw: bool = option(False, "plain RFC 6455 echo endpoint")
    ws_timeout: float = option(10.0, "seconds to wait for a reply")
    reconnect_base_ms: float = option(100.0, "first backoff ceiling")
    reconnect_max_ms: float = option(5000.0, "backoff ceiling")
    shape: str = option("none", "load shape (none = -u/-r/-t)", choices=SHAPES)
    shape_users: int = option(100, "peak users of the load shape")
    shape_seconds: float = option(60.0, "duration of the load shape")
    capacity_steps: str | None = option(
        None,
        "open sockets per step of --shape capacity, e.g. 500,1000,2000"
        " (default: doubling up to --shape-users)",
    )
    step_seconds: float = option(30.0, "hold of each capacity step (s)")
    capacity_spawn_rate: float = option(
        100.0, "users started per second on each capacity step's ramp"
    )
    sockets_log_interval: float = option(
        5.0, "seconds between 'open sockets' log lines (0 = never)"
    )
    publish_via: str = option(
        "server",
        "publishers use the server's publish frame (Socket.IO: emit), Pub/Sub's REST"
        " API, or a JSON POST to --publish-url",
        choices=PUBLISH_PATHS,
    )
    pubsub_topic: str | None = option(
        None,
        "Pub/Sub topic for --publish-via pubsub (env WSH_PUBSUB_TOPIC)",
        env_var="WSH_PUBSUB_TOPIC",
    )
    source_addresses: str | None = option(
        None, "local addresses to connect from, e.g. 127.0.0.1-127.0.0.20 (round-robin)"
    )
    deliver_timings_per_second: int = option(
        DEFAULT_TIMINGS_PER_SECOND,
        "deliver timings sent to Locust per second and process; above it an unbiased"
        " sample (0 = every delivery)",
    )
    chosen: ProtocolOptions = field(
        default_factory=ProtocolOptions, metadata={"flags": protocols.add_arguments}
    )
    """``--protocol`` and its options (their flags: :func:`protocols.add_arguments`)."""

    @classmethod
    def from_parsed(cls, parsed: argparse.Namespace | None) -> LoadOptions:
        values: dict[str, Any] = {}
        for item in fields(cls):
            value = getattr(parsed, item.name, None) if parsed is not None else None
            if value is not None and "flags" not in item.metadata:
                values[item.name] = value
        return cls(**values, chosen=ProtocolOptions.from_parsed(parsed))

    @property
    def protocol(self) -> Protocol:
        """The protocol the run speaks (``--raw`` is ``--protocol echo``)."""
        return protocols.resolve(self.chosen.protocol, self.raw)

    @property
    def echo_only(self) -> bool:
        """``--protocol echo`` (or ``--raw``): any echo endpoint, nothing else."""
        return self.protocol.name == "echo"

    @property
    def has_token_source(self) -> bool:
        return bool(self.jwt_secret or self.token_file or self.token_command)

    @property
    def socket_path(self) -> str:
        """``--ws-path``, or the protocol's own when it is left at its default."""
        implied = self.protocol.ws_path
        return implied if implied and self.ws_path == WS_PATH else self.ws_path

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
    """One flag per :class:`LoadOptions` field on Locust's parser (all in the web UI)."""
    for item in fields(LoadOptions):
        if "flags" in item.metadata:
            item.metadata["flags"](parser)
            continue
        flag = "--" + item.name.replace("_", "-")
        extra = dict(item.metadata)
        if isinstance(item.default, bool):
            extra["action"] = "store_true"
        elif item.default is not None and "choices" not in extra:
            extra["type"] = type(item.default)
        parser.add_argument(flag, default=item.default, **extra)
