"""The suite's entry point for locustfiles: registers everything with Locust, once.

``from wsharness.loadclient.suite import IdleUser`` (and subclass it) in a
locustfile.  Importing this module installs, per process: the command-line options
(``init_command_line_parser``), the open-socket gauge and the ``--shape`` load
shapes (``init``), the finer response-time buckets, and the open-file limit raised
to the hard limit.

Request names (type ``WS``): ``connect``, ``echo``, ``deliver``, ``publish``,
``reconnect``, ``reauth``, ``refresh``, and ``disconnect`` for unexpected closes.
"""

from __future__ import annotations

from locust import events

from wsharness.loadclient import gauge, limits, options, shapes, users
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
limits.raise_open_file_limit()
events.init_command_line_parser.add_listener(options.add_arguments)
events.init.add_listener(gauge.on_init)
events.init.add_listener(shapes.on_init)
events.test_start.add_listener(users.forget_options)

__all__ = [
    "ActiveUser",
    "DropsUser",
    "ExpiryUser",
    "IdleUser",
    "PublisherUser",
    "WebSocketUser",
]
