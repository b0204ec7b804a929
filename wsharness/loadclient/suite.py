"""The suite's entry point for locustfiles: registers everything with Locust, once.

``from wsharness.loadclient.suite import IdleUser`` (and subclass it) in a
locustfile.  Importing this module installs, per process: the command-line options
(``init_command_line_parser``), the open-socket gauge, the delivery counts, the
generator health samples, the completeness book and the ``--shape`` load shapes
(``init``), the finer response-time buckets, and the open-file limit raised to the
hard limit.  A run whose setup cannot work (no token source for ``--protocol
wsharness``, no ``GOOGLE_CLOUD_PROJECT`` or a Pub/Sub topic that does not exist for
``--publish-via pubsub``, ``--protocol relay`` with nothing publishing, ...; see
:mod:`wsharness.loadclient.protocols`) stops before any user starts with one line and
exit code 2: a headless run at ``init``, a swarm of the web UI when it starts.

Request names (type ``WS``): ``connect``, ``echo``, ``deliver``, ``publish``,
``reconnect``, ``reauth``, ``refresh``, and ``disconnect`` for unexpected closes.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import gevent
from locust import events
from locust.runners import WorkerRunner

import wsharness.loadclient.slo_hook  # noqa: F401  (registers --slo)
from wsharness.loadclient import (
    completeness_report,
    delivery_report,
    gauge,
    health,
    options,
    preflight,
    protocols,
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
NO_HOST = "set --host, e.g. ws://127.0.0.1:8080 or wss://staging.example"


def run_setup(environment: Any) -> protocols.RunSetup:
    """What the setup checks look at, from this run's options, users and environment."""
    chosen = options.LoadOptions.from_parsed(environment.parsed_options)
    classes = environment.user_classes or []
    return protocols.RunSetup(
        chosen=chosen.chosen,
        raw=chosen.raw,
        publish_via=chosen.publish_via,
        pubsub_topic=chosen.pubsub_topic,
        has_token_source=chosen.has_token_source,
        has_publishers=any(issubclass(c, PublisherUser) for c in classes),
        environ=dict(os.environ),
    )


def misconfiguration(environment: Any) -> str | None:
    """The first problem with the run's setup, in one line (None: it can run)."""
    classes = environment.user_classes or []
    if not environment.host and not all(getattr(c, "host", None) for c in classes):
        return NO_HOST
    return preflight.check_run(run_setup(environment))


def refuse_at_init(environment: Any, **_: Any) -> None:
    """A headless run that cannot work exits before any user starts: one line, code 2."""
    if isinstance(environment.runner, WorkerRunner):
        return
    if not getattr(environment.parsed_options, "headless", False):
        return  # the web UI may still change the options: checked at each start
    problem = misconfiguration(environment)
    if problem is not None:
        logger.error("wsharness: %s", problem)
        sys.exit(preflight.EXIT_MISCONFIGURED)


def refuse_misconfigured(environment: Any, **_: Any) -> None:
    """Stop a swarm started from the web UI that could only fail (code 2 at exit)."""
    if isinstance(environment.runner, WorkerRunner):
        return
    if getattr(environment.parsed_options, "headless", False):
        return  # checked at init
    problem = misconfiguration(environment)
    if problem is None:
        if environment.process_exit_code == preflight.EXIT_MISCONFIGURED:
            environment.process_exit_code = None  # an earlier swarm's, fixed since
        return
    logger.error("wsharness: %s", problem)
    environment.process_exit_code = preflight.EXIT_MISCONFIGURED
    gevent.spawn(environment.runner.stop)


if "GEVENT_TRACK_GREENLET_TREE" not in os.environ:
    # gevent records each greenlet's parent, locals tree and spawning stack for
    # debugging: hundreds of bytes per user for nothing a load test reads.
    gevent.config.track_greenlet_tree = False
keep_sub_millisecond_precision()
raise_open_file_limit()
events.init_command_line_parser.add_listener(options.add_arguments)
events.init.add_listener(refuse_at_init)
events.init.add_listener(gauge.on_init)
events.init.add_listener(delivery_report.on_init)
events.init.add_listener(completeness_report.on_init)
events.init.add_listener(health.on_init)
events.init.add_listener(tracing.reread_settings)
events.init.add_listener(shapes.on_init)
events.test_start.add_listener(users.forget_options)
events.test_start.add_listener(tracing.reread_settings)
events.test_start.add_listener(refuse_misconfigured)

__all__ = [
    "ActiveUser",
    "DropsUser",
    "ExpiryUser",
    "IdleUser",
    "PublisherUser",
    "WebSocketUser",
]
