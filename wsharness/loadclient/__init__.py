"""wsharness's WebSocket user for Locust: gevent-friendly, measured, copyable.

Importing this package (every ``loadtests/*.py`` does) registers the suite's
command-line options, the open-socket gauge, the ``--shape`` load shapes and the
sub-millisecond statistics with Locust, once per process.  The user classes here are
abstract; a locustfile makes one concrete by subclassing it.

Request names (type ``WS``): ``connect``, ``echo``, ``deliver``, ``publish``,
``reconnect``, ``reauth``, ``refresh``, and ``disconnect`` for unexpected closes.
"""

from __future__ import annotations

from wsharness.loadclient import gauge, options, shapes
from wsharness.loadclient.precision import keep_sub_millisecond_precision
from wsharness.loadclient.users import (
    ActiveUser,
    DropsUser,
    ExpiryUser,
    IdleUser,
    PublisherUser,
    WebSocketUser,
)

keep_sub_millisecond_precision()
options.register()
gauge.register()
shapes.register()

__all__ = [
    "ActiveUser",
    "DropsUser",
    "ExpiryUser",
    "IdleUser",
    "PublisherUser",
    "WebSocketUser",
]
