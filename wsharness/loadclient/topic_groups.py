"""Topic groups: each socket receives the same notifications per second at any scale.

With every receiver on one topic, each publisher added multiplies every socket's
notifications, so a run with twice the users does four times the deliveries.  Topic
groups keep the per-socket workload fixed: receivers are split into groups of
``--topic-group-size`` sockets, each group on a topic of its own, and each publisher
publishes to one group's topic.  Users are numbered per Locust process in the order
they start, so receiver ``n`` of process ``w`` joins ``<topic>.<w>.<n // size>`` and
publisher ``k`` of that process publishes to ``<topic>.<w>.<k>``.  As the user classes'
weights keep the mix of each process, the receivers per publisher stay the group size
and every socket receives ``--publish-rate`` notifications per second.

``--topic-group-size 0`` (the default) keeps every user on ``--topics``; with
``--shape capacity`` it means the user classes' receivers per publisher.
"""

from __future__ import annotations

import itertools
from typing import Any

from wsharness.loadclient.options import LoadOptions

_COUNTERS = "_wsh_topic_group_counters"


def group_size(environment: Any, options: LoadOptions) -> int:
    """Receivers per topic group; 0 when groups are off."""
    if options.topic_group_size > 0:
        return options.topic_group_size
    if options.shape != "capacity":
        return 0
    return receivers_per_publisher(getattr(environment, "user_classes", None) or [])


def receivers_per_publisher(user_classes: list[Any]) -> int:
    """The weights' receivers per publisher (classes that publish have a ``scope``)."""
    publishers = sum(c.weight for c in user_classes if getattr(c, "scope", None))
    receivers = sum(
        c.weight
        for c in user_classes
        if not getattr(c, "scope", None) and getattr(c, "subscribes", False)
    )
    if publishers <= 0 or receivers <= 0:
        return 0
    return max(1, round(receivers / publishers))


def _next_number(environment: Any, role: str) -> int:
    counters = getattr(environment, _COUNTERS, None)
    if counters is None:
        counters = {"receiver": itertools.count(), "publisher": itertools.count()}
        setattr(environment, _COUNTERS, counters)
    return next(counters[role])


def _group_topic(environment: Any, options: LoadOptions, group: int) -> str:
    process = getattr(environment.runner, "worker_index", 0) if environment.runner else 0
    base = options.topic_list[0] if options.topic_list else "news"
    return f"{base}.{max(process, 0)}.{group}"


def receiver_topics(environment: Any, options: LoadOptions) -> list[str]:
    """The topics a new receiving user subscribes to (call once per user)."""
    size = group_size(environment, options)
    if size <= 0:
        return options.topic_list
    group = _next_number(environment, "receiver") // size
    return [_group_topic(environment, options, group)]


def publisher_topics(environment: Any, options: LoadOptions) -> list[str]:
    """The topics a new publisher publishes to (call once per user)."""
    if group_size(environment, options) <= 0:
        return options.topic_list
    return [_group_topic(environment, options, _next_number(environment, "publisher"))]
