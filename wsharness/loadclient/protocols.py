"""``--protocol``: how the suite speaks to the server, and the checks of a run's setup.

The user classes stay the same whatever the server; a :class:`Protocol` says what each
kind of server needs from them:

- ``wsharness`` (default): this project's ``/ws`` contract (welcome, subscribe,
  message frames with ``published_at``), a token required.
- ``echo``: any RFC 6455 echo endpoint; echo users time the replies.  ``--raw`` is its
  old name and stays an alias.
- ``relay``: any server that relays backend notifications to its sockets as text
  frames; publishers go through the backend (``--publish-via pubsub`` or ``--publish-via
  http --publish-url URL``), receivers may send ``--subscribe-frame`` after connecting
  and find the harness's stamp (:mod:`wsharness.loadclient.stamp`) in any frame.
- ``socketio``: Socket.IO v4 over the WebSocket transport
  (:mod:`wsharness.loadclient.socketio_codec`); ``--socketio-event`` names the event
  that carries notifications, and publishing emits one.

:func:`misconfigurations` checks a run's setup before any user starts and returns one
clear line per problem (the suite prints the first and exits with code 2), instead of
a traceback per user.  :func:`place_token` puts a token where ``--token-in`` says.
Pure: the one check that needs the network (does the Pub/Sub topic exist?) is made by
:mod:`wsharness.loadclient.preflight` and passed in.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from wsharness.loadclient.completeness import DEFAULT_GRACE_MS
from wsharness.loadclient.stamp import StampPathError, parse_path

SOCKETIO_PATH = "/socket.io/"  # socketio_codec.DEFAULT_PATH (that module imports requests)
PUBSUB_DEFAULT_TOPIC = "wsharness-notifications"  # the server's and pubsub_rest's default
TOKEN_PLACEMENTS = ("header", "query")
TOKEN_QUERY_PARAMETER = "access_token"
TOPIC_PLACEHOLDER = "{topic}"


@dataclass(frozen=True)
class Protocol:
    """What one kind of server needs from the suite's users."""

    name: str
    token_required: bool  # False: sent only when a token source is given
    handshake: str  # "welcome" (wait for it), "open" (the upgrade is all), "engine.io"
    subscribes: (
        str  # "contract" frames, "template" (--subscribe-frame), "namespace", "none"
    )
    deliveries: str  # "contract" (message frames), "stamp" (any frame), "none"
    echoes: bool  # echo users have something to time
    publish_paths: tuple[str, ...]  # the --publish-via values its publishers can use
    ws_path: str | None = None  # the path it implies when --ws-path is not given

    @property
    def publishes_through_socket(self) -> bool:
        return "server" in self.publish_paths


PROTOCOLS: dict[str, Protocol] = {
    "wsharness": Protocol(
        "wsharness", True, "welcome", "contract", "contract", True, ("server", "pubsub")
    ),
    "echo": Protocol("echo", False, "open", "none", "none", True, ()),
    "relay": Protocol(
        "relay", False, "open", "template", "stamp", False, ("pubsub", "http")
    ),
    "socketio": Protocol(
        "socketio",
        False,
        "engine.io",
        "namespace",
        "stamp",
        False,
        ("server", "pubsub", "http"),
        SOCKETIO_PATH,
    ),
}
DEFAULT_PROTOCOL = "wsharness"


@dataclass(frozen=True)
class ProtocolOptions:
    """The options ``--protocol`` brings, with their defaults."""

    protocol: str = DEFAULT_PROTOCOL
    publish_url: str | None = None
    subscribe_frame: str | None = None
    stamp_path: str | None = None
    socketio_event: str = "notification"
    socketio_namespace: str = "/"
    token_in: str = "header"
    completeness_grace: float = DEFAULT_GRACE_MS / 1000.0

    @classmethod
    def from_parsed(cls, parsed: argparse.Namespace | None) -> ProtocolOptions:
        values: dict[str, Any] = {}
        for option in fields(cls):
            value = getattr(parsed, option.name, None) if parsed is not None else None
            if value is not None:
                values[option.name] = value
        return cls(**values)


def add_arguments(parser: Any) -> None:
    """Add the ``--protocol`` options to Locust's parser (all shown in the web UI)."""
    add = parser.add_argument
    add(
        "--protocol",
        choices=tuple(PROTOCOLS),
        default=DEFAULT_PROTOCOL,
        help="wsharness (this project's /ws), echo (any echo endpoint; --raw), relay "
        "(any server relaying backend notifications), socketio (Socket.IO v4)",
    )
    add(
        "--publish-url",
        default=None,
        help="URL publishers POST JSON to (--publish-via http)",
    )
    add(
        "--subscribe-frame",
        default=None,
        help="relay: text frame sent after connecting, {topic} filled in per topic",
    )
    add(
        "--stamp-path",
        default=None,
        help="where the published payload sits in a received frame, e.g. data.payload "
        "(default: found by search)",
    )
    add("--socketio-event", default="notification", help="event carrying notifications")
    add("--socketio-namespace", default="/", help="Socket.IO namespace, e.g. /live")
    add(
        "--token-in",
        choices=TOKEN_PLACEMENTS,
        default="header",
        help="send the token as Authorization: Bearer (header) or ?access_token= (query)",
    )
    add(
        "--completeness-grace",
        type=float,
        default=DEFAULT_GRACE_MS / 1000.0,
        help="seconds after a socket subscribes (and before the end) not yet counted",
    )


def resolve(name: str, raw: bool) -> Protocol:
    """The protocol a run uses: ``--raw`` is ``--protocol echo``."""
    return PROTOCOLS["echo" if raw and name == DEFAULT_PROTOCOL else name]


# --- the checks ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunSetup:
    """Everything the setup checks look at, gathered before any user starts."""

    chosen: ProtocolOptions = field(default_factory=ProtocolOptions)
    raw: bool = False
    publish_via: str = "server"
    pubsub_topic: str | None = None
    has_token_source: bool = False
    has_publishers: bool = True  # a publisher user class is in the run
    environ: Mapping[str, str] = field(default_factory=dict)
    topic_exists: bool | None = None  # None: not looked up (yet)

    @property
    def protocol(self) -> Protocol:
        return resolve(self.chosen.protocol, self.raw)

    @property
    def uses_pubsub(self) -> bool:
        return self.has_publishers and self.publish_via == "pubsub"

    @property
    def project(self) -> str:
        return self.environ.get("GOOGLE_CLOUD_PROJECT", "").strip()

    @property
    def topic(self) -> str:
        return (
            self.pubsub_topic
            or self.environ.get("WSH_PUBSUB_TOPIC", "").strip()
            or PUBSUB_DEFAULT_TOPIC
        )

    @property
    def topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.topic}"


def misconfigurations(setup: RunSetup) -> list[str]:
    """One clear line per problem with the run's setup (empty when it can run)."""
    return [problem for check in _CHECKS if (problem := check(setup))]


def first_misconfiguration(setup: RunSetup) -> str | None:
    problems = misconfigurations(setup)
    return problems[0] if problems else None


def _raw_conflict(setup: RunSetup) -> str | None:
    if setup.raw and setup.chosen.protocol not in (DEFAULT_PROTOCOL, "echo"):
        return f"--raw is --protocol echo: drop it or --protocol {setup.chosen.protocol}"
    return None


def _token_needed(setup: RunSetup) -> str | None:
    if setup.protocol.token_required and not setup.has_token_source:
        return (
            "no token source: set --jwt-secret (env WSH_JWT_SECRET), --token-file or "
            "--token-command, or pick --protocol echo, relay or socketio"
        )
    return None


def _token_in_without_token(setup: RunSetup) -> str | None:
    if setup.chosen.token_in != "header" and not setup.has_token_source:
        return (
            f"--token-in {setup.chosen.token_in} needs a token source "
            "(--jwt-secret, --token-file or --token-command)"
        )
    return None


def _relay_has_a_publisher(setup: RunSetup) -> str | None:
    relay = setup.protocol.name == "relay"
    if relay and not setup.has_publishers and not setup.chosen.publish_url:
        return (
            "--protocol relay measures what the harness publishes, and nothing "
            "publishes: add a publisher user class (e.g. loadtests/publisher.py) with "
            "--publish-via pubsub, or --publish-via http --publish-url URL"
        )
    return None


def _publish_path(setup: RunSetup) -> str | None:
    protocol = setup.protocol
    if not setup.has_publishers or setup.publish_via in protocol.publish_paths:
        return None
    if protocol.name == "relay" and setup.publish_via == "server":
        return (
            "--protocol relay has no publish frame: publish through the backend with "
            "--publish-via pubsub, or --publish-via http --publish-url URL"
        )
    if not protocol.publish_paths:
        return (
            f"--protocol {protocol.name} has no publishing: leave out the publisher users"
        )
    paths = ", ".join(protocol.publish_paths)
    return (
        f"--protocol {protocol.name} publishes via {paths}, "
        f"not --publish-via {setup.publish_via}"
    )


def _publish_url(setup: RunSetup) -> str | None:
    url = setup.chosen.publish_url
    if setup.publish_via == "http" and setup.has_publishers and not url:
        return "--publish-via http needs --publish-url URL (where publishers POST JSON)"
    if url and setup.publish_via != "http":
        return (
            "--publish-url is for --publish-via http "
            f"(this run: --publish-via {setup.publish_via})"
        )
    if url and urlsplit(url).scheme not in ("http", "https"):
        return f"--publish-url {url!r}: use an http:// or https:// URL"
    return None


def _pubsub_project(setup: RunSetup) -> str | None:
    if setup.uses_pubsub and not setup.project:
        return (
            "--publish-via pubsub needs GOOGLE_CLOUD_PROJECT (and PUBSUB_EMULATOR_HOST for "
            f"the emulator) to publish to topic {setup.topic}"
        )
    return None


def _pubsub_topic(setup: RunSetup) -> str | None:
    if setup.uses_pubsub and setup.project and setup.topic_exists is False:
        where = setup.environ.get("PUBSUB_EMULATOR_HOST") or "Google Cloud"
        return (
            f"Pub/Sub topic {setup.topic_path} does not exist ({where}): create it, or "
            "name another with --pubsub-topic (env WSH_PUBSUB_TOPIC)"
        )
    return None


def _subscribe_frame(setup: RunSetup) -> str | None:
    frame = setup.chosen.subscribe_frame
    if frame is not None and setup.protocol.subscribes != "template":
        return (
            f"--subscribe-frame is for --protocol relay (this run: {setup.protocol.name})"
        )
    if frame is not None and not frame.strip():
        return (
            "--subscribe-frame is empty: give the text frame to send, e.g. "
            '\'{"action":"subscribe","channel":"{topic}"}\''
        )
    return None


def _stamp_path(setup: RunSetup) -> str | None:
    if setup.chosen.stamp_path is not None and setup.protocol.deliveries != "stamp":
        return (
            "--stamp-path is for --protocol relay or socketio "
            f"(this run: {setup.protocol.name})"
        )
    try:
        parse_path(setup.chosen.stamp_path)
    except StampPathError as error:
        return str(error)
    return None


def _socketio(setup: RunSetup) -> str | None:
    if setup.protocol.name != "socketio":
        return None
    if not setup.chosen.socketio_event.strip():
        return "--socketio-event is empty: name the event that carries notifications"
    if not setup.chosen.socketio_namespace.startswith("/"):
        return f"--socketio-namespace {setup.chosen.socketio_namespace!r} must start with /"
    return None


def _grace(setup: RunSetup) -> str | None:
    if setup.chosen.completeness_grace < 0:
        return (
            f"--completeness-grace {setup.chosen.completeness_grace}: use 0 or more seconds"
        )
    return None


_CHECKS = (
    _raw_conflict,
    _token_needed,
    _token_in_without_token,
    _relay_has_a_publisher,
    _publish_path,
    _publish_url,
    _pubsub_project,
    _pubsub_topic,
    _subscribe_frame,
    _stamp_path,
    _socketio,
    _grace,
)


# --- what a connection sends ----------------------------------------------------------


def place_token(url: str, token: str | None, where: str) -> tuple[str, dict[str, str]]:
    """The URL and headers that carry ``token``: ``Authorization: Bearer`` or the query."""
    if token is None:
        return url, {}
    if where == "header":
        return url, {"Authorization": f"Bearer {token}"}
    if where != "query":
        raise ValueError(f"--token-in {where!r}: use header or query")
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != TOKEN_QUERY_PARAMETER]
    query.append((TOKEN_QUERY_PARAMETER, token))
    return urlunsplit(parts._replace(query=urlencode(query))), {}


def subscribe_frames(template: str | None, topics: Sequence[str]) -> list[str]:
    """The frames a relay receiver sends after connecting: one per topic (or one)."""
    if template is None:
        return []
    if TOPIC_PLACEHOLDER not in template:
        return [template]
    return [template.replace(TOPIC_PLACEHOLDER, topic) for topic in topics]
