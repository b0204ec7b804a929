"""The harness's stamp in a published payload, and finding it again in received frames.

Servers nobody here wrote (an express + ``ws`` relay, a Socket.IO server) relay what
the backend publishes in their own shapes, so a publisher of the ``relay`` and
``socketio`` protocols sends a JSON object that carries its own identity under one
key, :data:`STAMP_KEY`::

    {"wsh_stamp": {"pub": "publisher-3f2a", "seq": 17, "at": 1718000000123.456,
                   "topic": "news"}, "pad": "xxxx"}

``pub`` is the publisher, ``seq`` its sequence number (per topic and publisher),
``at`` the publish time in milliseconds since the epoch (the contract's clock, so
``now_ms() - at`` is the delivery latency), ``topic`` optional.

:func:`find_stamps` looks for stamps in any received text frame: the frame itself, an
envelope around it (``{"type": "notification", "data": {...}}``), a JSON string inside
a field (``{"data": "{\\"wsh_stamp\\": ...}"}``, the usual shape of Pub/Sub data), or
Socket.IO arguments.  It costs one substring search on a frame without a stamp, and
one regular expression on a stamped frame written as JSON writes it (any spacing,
escaped quotes); only a frame the expression cannot read is decoded and walked, within
a bound on depth and nodes.  A path (``data.payload``; a number indexes a list) names
where the payload sits when the default search is not wanted.  Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from wsharness.contract.clock import now_ms

STAMP_KEY = "wsh_stamp"
PUBLISHER = "pub"
SEQUENCE = "seq"
PUBLISHED_AT = "at"
TOPIC = "topic"

MAX_DEPTH = 6  # of the bounded search, counting JSON strings decoded on the way
MAX_NODES = 512

_NAME = re.compile(r"[A-Za-z0-9._:/@-]{1,128}")
_Q = r'\\*"'  # a quote, escaped any number of times (JSON inside JSON strings)
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
_FAST = re.compile(  # matched where the key was found (str.find), never searched
    rf"{STAMP_KEY}{_Q}\s*:\s*\{{\s*"
    rf"{_Q}{PUBLISHER}{_Q}\s*:\s*{_Q}([^\"\\]*){_Q}\s*,\s*"
    rf"{_Q}{SEQUENCE}{_Q}\s*:\s*(\d+)\s*,\s*"
    rf"{_Q}{PUBLISHED_AT}{_Q}\s*:\s*({_NUMBER})\s*"
    rf"(?:,\s*{_Q}{TOPIC}{_Q}\s*:\s*{_Q}([^\"\\]*){_Q}\s*)?\}}"
)


StampPath = tuple[str | int, ...]
"""Where the payload sits in a frame (``--stamp-path data.payload``), parsed."""


class Stamp(NamedTuple):
    """Who published a message, its sequence number and when (ms since the epoch).

    A named tuple: one is made per received message, and it is the cheapest to make.
    """

    publisher: str
    sequence: int
    published_at_ms: float
    topic: str = ""

    @property
    def stream(self) -> tuple[str, str]:
        """The key its sequence number counts in: (topic, publisher)."""
        return (self.topic, self.publisher)

    def to_json(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            PUBLISHER: self.publisher,
            SEQUENCE: self.sequence,
            PUBLISHED_AT: self.published_at_ms,
        }
        if self.topic:
            fields[TOPIC] = self.topic
        return fields


class StampPathError(ValueError):
    """A ``--stamp-path`` that cannot name a place in a frame."""


# --- building ----------------------------------------------------------------------


def new_stamp(publisher: str, sequence: int, topic: str = "") -> Stamp:
    """A stamp published now; publisher and topic are plain names (checked)."""
    for label, name in (("publisher", publisher), ("topic", topic)):
        if name and not _NAME.fullmatch(name):
            raise ValueError(f"{label} {name!r}: use letters, digits and ._:/@- only")
    if sequence < 0:
        raise ValueError(f"sequence {sequence} is negative")
    return Stamp(publisher, sequence, round(now_ms(), 3), topic)


def stamped_payload(stamp: Stamp, pad: str = "") -> dict[str, Any]:
    """The JSON object a publisher sends: the stamp, and ``pad`` to reach a size."""
    payload: dict[str, Any] = {STAMP_KEY: stamp.to_json()}
    if pad:
        payload["pad"] = pad
    return payload


def encode_payload(payload: dict[str, Any]) -> str:
    """Compact JSON text, the stamp first (the form the fast search reads)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


# --- finding -----------------------------------------------------------------------


def parse_path(text: str | None) -> tuple[str | int, ...] | None:
    """``"data.payload"`` -> ("data", "payload"); ``"1"`` indexes a list; None if unset."""
    if text is None or not text.strip():
        return None
    segments = text.strip().split(".")
    if any(not segment for segment in segments):
        raise StampPathError(
            f"--stamp-path {text!r}: empty segment (use e.g. data.payload)"
        )
    return tuple(int(s) if s.isdigit() else s for s in segments)


def find_stamps(text: str, path: tuple[str | int, ...] | None = None) -> list[Stamp]:
    """Every stamp in one received text frame (usually none or one)."""
    if STAMP_KEY not in text:
        return []
    if path is None:
        fast = _read_fast(text)
        if fast:
            return fast
    root = _decode(text)
    if root is None:
        return []
    if path is not None:
        root = follow_path(root, path)
    return find_stamps_in_value(root)


def find_stamp(text: str, path: tuple[str | int, ...] | None = None) -> Stamp | None:
    """The first stamp in ``text``, or None."""
    stamps = find_stamps(text, path)
    return stamps[0] if stamps else None


def find_stamps_in_value(value: Any) -> list[Stamp]:
    """Every stamp in an already decoded value (Socket.IO arguments), bounded."""
    return [stamp for stamp in _walk(value) if stamp is not None]


def follow_path(value: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` (None where the frame has no such place)."""
    for segment in path:
        if isinstance(value, str):
            value = _decode(value)
        if isinstance(segment, int) and isinstance(value, list):
            value = value[segment] if segment < len(value) else None
        elif isinstance(value, dict):
            value = value.get(str(segment))
        else:
            return None
    return value


def _read_fast(text: str) -> list[Stamp]:
    """The stamps written as JSON writes them, read where the key is; no decoding."""
    stamps = []
    at = text.find(STAMP_KEY)
    while at >= 0:
        match = _FAST.match(text, at)
        if match is not None:
            publisher, sequence, published_at, topic = match.groups()
            stamps.append(Stamp(publisher, int(sequence), float(published_at), topic or ""))
        at = text.find(STAMP_KEY, at + len(STAMP_KEY))
    return stamps


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _walk(root: Any) -> Iterator[Stamp | None]:
    """Breadth-first through dicts, lists and JSON strings holding the key; bounded."""
    level: list[Any] = [root]
    nodes = 0
    for _depth in range(MAX_DEPTH):
        below: list[Any] = []
        for value in level:
            nodes += 1
            if nodes > MAX_NODES:
                return
            if isinstance(value, dict):
                if STAMP_KEY in value:
                    yield _from_json(value[STAMP_KEY])
                    continue
                below.extend(value.values())
            elif isinstance(value, list):
                below.extend(value)
            elif isinstance(value, str) and STAMP_KEY in value:
                below.append(_decode(value))
        if not below:
            return
        level = below


def _from_json(fields: Any) -> Stamp | None:
    if not isinstance(fields, dict):
        return None
    publisher = fields.get(PUBLISHER)
    sequence = fields.get(SEQUENCE)
    published_at = fields.get(PUBLISHED_AT)
    topic = fields.get(TOPIC, "")
    if not isinstance(publisher, str) or not isinstance(topic, str):
        return None
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
        return None
    if not isinstance(published_at, int | float) or isinstance(published_at, bool):
        return None
    return Stamp(publisher, sequence, float(published_at), topic)
