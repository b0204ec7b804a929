"""One published notification, as every server instance sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Notification:
    """A notification of the shared stream; ``id`` is the clients' resume cursor."""

    topic: str
    id: str
    data: Any
    published_at: int  # milliseconds since the epoch
    trace_context: dict[str, str] = field(default_factory=dict)
