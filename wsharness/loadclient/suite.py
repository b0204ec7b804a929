"""The suite's entry point for locustfiles: registers everything with Locust, once.

``from wsharness.loadclient.suite import IdleUser`` (and subclass it) in a
locustfile.  Importing this module installs, per process: the command-line options
(``init_command_line_parser``), the open-socket gauge, the delivery counts, the
generator health samples and the ``--shape`` load shapes (``init``), the finer
response-time buckets, and the open-file limit raised to the hard limit.

Request names (type ``WS``): ``connect``, ``echo``, ``deliver``, ``publish``,
``reconnect``, ``reauth``, ``refresh``, and ``disconnect`` for unexpected closes.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import gevent
from locust import events
from locust.runners import WorkerRunner

import wsharness.loadclient.slo_hook  # noqa: F401  (registers --slo)
from wsharness.loadclient import (
    delivery_report,
    gauge,
    health,
    options,
    shapes,
    tracing,
    users,
)
from wsharness.loadclient.precision import keep_sub_millisecond_precision
from wsharness.loadclient.users import (
    ActiveUser,
    DropsUser,
    ExpiryUser,
    IdleUser,
    PublisherUser,
    WebSocketUser,
)
from wsharness.openfiles import raise_open_file_limit

logger = logging.getLogger(__name__)
NO_TOKEN_SOURCE = (
    "wsharness: no token source: set --jwt-secret (env WSH_JWT_SECRET), --token-file "
    "or --token-command (or --raw for a plain echo endpoint)"
)


def refuse_without_tokens(environment: Any, **_: Any) -> None:
    """Stop a run that could only fail every connect for want of a token."""
    if isinstance(environment.runner, WorkerRunner):
        return
    chosen = options.LoadOptions.from_parsed(environment.parsed_options)
    if chosen.raw or chosen.jwt_secret or chosen.token_file or chosen.token_command:
        return
    logger.error(NO_TOKEN_SOURCE)
    environment.process_exit_code = 2
    headless = getattr(environment.parsed_options, "headless", False)
    gevent.spawn(environment.runner.quit if headless else environment.runner.stop)


if "GEVENT_TRACK_GREENLET_TREE" not in os.environ:
    # gevent records each greenlet's parent, locals tree and spawning stack for
    # debugging: hundreds of bytes per user for nothing a load test reads.
    gevent.config.track_greenlet_tree = False
keep_sub_millisecond_precision()
raise_open_file_limit()
events.init_command_line_parser.add_listener(options.add_arguments)
events.init.add_listener(gauge.on_init)
events.init.add_listener(delivery_report.on_init)
events.init.add_listener(health.on_init)
events.init.add_listener(tracing.reread_settings)
events.init.add_listener(shapes.on_init)
events.test_start.add_listener(users.forget_options)
events.test_start.add_listener(tracing.reread_settings)
events.test_start.add_listener(refuse_without_tokens)

__all__ = [
    "ActiveUser",
    "DropsUser",
    "ExpiryUser",
    "IdleUser",
    "PublisherUser",
    "WebSocketUser",
]
