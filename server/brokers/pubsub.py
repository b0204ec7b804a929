"""Google Cloud Pub/Sub broker: one shared topic, one subscription per server instance.

Every instance publishes to the same topic with the logical topic as ordering key, and
owns a subscription of its own (unique name, message ordering, expiration policy)
created at start and deleted at stop, so each instance sees every notification in the
same order per logical topic.  The Pub/Sub message id is the notification id, so a
resume cursor from one instance is understood by every other.

Streaming-pull callbacks run on the client library's threads; each message is handed
to the event loop with ``call_soon_threadsafe`` and acked only after the server's
``deliver`` callback has returned.  A supervisor task probes the subscription, marks
the broker unhealthy while Pub/Sub is unreachable (``/readyz``), counts the outage and
re-creates the topic, subscription and streaming pull with backoff until it works.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry, if_exception_type
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.publisher.exceptions import PublishToPausedOrderingKeyException
from google.cloud.pubsub_v1.subscriber.futures import StreamingPullFuture
from google.cloud.pubsub_v1.subscriber.message import Message

from wsharness.contract.notification import Notification
from wsharness.contract.protocol import TRACEPARENT
from wsharness.server.brokers.base import BrokerUnavailable, Deliver

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "wsharness-notifications"
TOPIC_ATTRIBUTE = "wsh_topic"
PUBLISHED_AT_ATTRIBUTE = "wsh_published_at"
TRACE_ATTRIBUTES = (TRACEPARENT, "tracestate")
SUBSCRIPTION_TTL_S = 24 * 3600  # the shortest expiration Pub/Sub allows
ACK_DEADLINE_S = 30
RECENT_IDS_KEPT = 20_000
SHUTDOWN_WAIT_S = 5.0
DELIVER_ATTEMPTS = 6  # then nack: Pub/Sub redelivers, the topic's order may break

_RPC_ERRORS = (api_exceptions.GoogleAPICallError, api_exceptions.RetryError, TimeoutError)
_TRANSIENT = if_exception_type(
    api_exceptions.ServiceUnavailable,
    api_exceptions.DeadlineExceeded,
    api_exceptions.InternalServerError,
    api_exceptions.Aborted,
)


@dataclass(frozen=True, slots=True)
class PubSubConfig:
    """Where the broker publishes and how patiently it talks to Pub/Sub."""

    project: str
    topic: str = DEFAULT_TOPIC
    max_messages: int = 1000  # streaming-pull flow control: messages outstanding
    publish_timeout_s: float = 10.0
    admin_timeout_s: float = 10.0
    probe_interval_s: float = 2.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, topic: str | None = None
    ) -> PubSubConfig:
        """``GOOGLE_CLOUD_PROJECT`` (required) and ``WSH_PUBSUB_TOPIC`` (or ``topic``)."""
        env = os.environ if environ is None else environ
        project = env.get("GOOGLE_CLOUD_PROJECT", "").strip()
        if not project:
            raise ValueError("--broker pubsub needs GOOGLE_CLOUD_PROJECT to be set")
        topic = topic or env.get("WSH_PUBSUB_TOPIC", "").strip() or DEFAULT_TOPIC
        return cls(project=project, topic=topic)


def unique_subscription_id(topic: str) -> str:
    """``<topic>-<host>-<pid>-<random>``, trimmed to Pub/Sub's naming rules."""
    host = re.sub(r"[^A-Za-z0-9._~+-]", "-", socket.gethostname())[:40]
    name = f"{topic}-{host}-{os.getpid()}-{secrets.token_hex(4)}"
    if not name[0].isalpha():
        name = f"s-{name}"
    return name[:255]


class _RecentIds:
    """The last N message ids delivered (Pub/Sub is at-least-once; deliver once)."""

    def __init__(self, limit: int) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def clear(self) -> None:
        self._ids.clear()

    def __contains__(self, message_id: str) -> bool:
        return message_id in self._ids

    def add(self, message_id: str) -> None:
        self._ids[message_id] = None
        if len(self._ids) > self._limit:
            self._ids.popitem(last=False)


def encode_data(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def decode_message(message: Message) -> Notification | None:
    """The notification a Pub/Sub message carries, or None if it names no topic."""
    attributes = dict(message.attributes)
    topic = attributes.get(TOPIC_ATTRIBUTE) or message.ordering_key
    if not topic:
        return None
    try:
        data = json.loads(message.data)
    except ValueError:
        data = message.data.decode(errors="replace")
    return Notification(
        topic=topic,
        id=message.message_id,
        data=data,
        published_at=_published_at_ms(message, attributes),
        trace_context={k: attributes[k] for k in TRACE_ATTRIBUTES if k in attributes},
    )


def _published_at_ms(message: Message, attributes: Mapping[str, str]) -> int:
    with contextlib.suppress(KeyError, ValueError):
        return int(attributes[PUBLISHED_AT_ATTRIBUTE])
    return int(message.publish_time.timestamp() * 1000)


def _close_in_background(subscriber: pubsub_v1.SubscriberClient) -> None:
    threading.Thread(
        target=subscriber.close, name="pubsub-close-old-subscriber", daemon=True
    ).start()


class PubSubBroker:
    """The production broker (``--broker pubsub``)."""

    name = "pubsub"
    shared = True

    def __init__(
        self, config: PubSubConfig, on_outage: Callable[[], None] | None = None
    ) -> None:
        self.config = config
        self.subscription_id = unique_subscription_id(config.topic)
        self.outages = 0
        self._on_outage = on_outage
        self._healthy = False
        self._deliver: Deliver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._publisher: pubsub_v1.PublisherClient | None = None
        self._subscriber: pubsub_v1.SubscriberClient | None = None
        self._pull: StreamingPullFuture | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._admin_lock = threading.Lock()  # recovery vs shutdown
        self._recent = _RecentIds(RECENT_IDS_KEPT)
        self._started = False
        self._opening = asyncio.Lock()  # one lazy publisher for publish-only use

    @classmethod
    def from_env(
        cls, topic: str | None = None, on_outage: Callable[[], None] | None = None
    ) -> PubSubBroker:
        """Configured from the environment; ``topic`` overrides ``WSH_PUBSUB_TOPIC``."""
        return cls(PubSubConfig.from_env(topic=topic), on_outage=on_outage)

    @property
    def topic_path(self) -> str:
        return f"projects/{self.config.project}/topics/{self.config.topic}"

    @property
    def subscription_path(self) -> str:
        return f"projects/{self.config.project}/subscriptions/{self.subscription_id}"

    @property
    def healthy(self) -> bool:
        return self._healthy

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, deliver: Deliver) -> None:
        """Create the topic if missing and this instance's subscription; start pulling."""
        self._loop = asyncio.get_running_loop()
        self._deliver = deliver
        try:
            await asyncio.to_thread(self._open)
        except _RPC_ERRORS as exc:
            await asyncio.to_thread(self._close_clients)
            raise BrokerUnavailable(f"cannot reach Pub/Sub: {exc}") from exc
        self._healthy = True
        self._started = True
        self._supervisor = asyncio.create_task(self._supervise(), name="pubsub-supervisor")
        log.info("pubsub: pulling %s from %s", self.subscription_path, self.topic_path)

    async def stop(self) -> None:
        """Stop pulling, delete this instance's subscription, close the clients."""
        self._stopping.set()
        self._deliver = None
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await asyncio.to_thread(self._shutdown)
        self._healthy = False

    def _open(self) -> None:
        self._open_publisher()  # creates the topic if missing
        self._subscriber = pubsub_v1.SubscriberClient()
        self._ensure_subscription()
        self._start_pull()

    def _open_publisher(self) -> None:
        if self._publisher is not None:
            return
        options = pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
        self._publisher = pubsub_v1.PublisherClient(publisher_options=options)
        self._ensure_topic()

    def _shutdown(self) -> None:
        with self._admin_lock:
            self._cancel_pull(wait_s=SHUTDOWN_WAIT_S if self._healthy else 0.0)
            self._delete_subscription()
            self._close_clients()

    def _delete_subscription(self) -> None:
        if self._subscriber is None:
            return
        try:
            self._subscriber.delete_subscription(
                request={"subscription": self.subscription_path},
                timeout=self.config.admin_timeout_s,
                retry=self._admin_retry(),
            )
        except _RPC_ERRORS as exc:
            log.warning("pubsub: could not delete %s: %s", self.subscription_path, exc)

    def _close_clients(self) -> None:
        if self._publisher is not None:
            with contextlib.suppress(RuntimeError):
                self._publisher.stop()
            self._publisher = None
        if self._subscriber is not None:
            if self._healthy:
                self._subscriber.close()
            else:  # a stream stuck reconnecting would hold close() for seconds
                _close_in_background(self._subscriber)
            self._subscriber = None

    # -- admin (blocking; run on a worker thread) --------------------------------

    def _admin_retry(self) -> Retry | None:
        """Retry transient errors, except during an outage: the supervisor's backoff
        retries then, and one quick attempt notices the end of the outage sooner."""
        if self._started and not self._healthy:
            return None
        return Retry(predicate=_TRANSIENT, timeout=self.config.admin_timeout_s)

    def _ensure_topic(self) -> None:
        assert self._publisher is not None
        try:
            self._publisher.get_topic(
                request={"topic": self.topic_path},
                timeout=self.config.admin_timeout_s,
                retry=self._admin_retry(),
            )
        except api_exceptions.NotFound:
            with contextlib.suppress(api_exceptions.AlreadyExists):
                self._publisher.create_topic(
                    request={"name": self.topic_path},
                    timeout=self.config.admin_timeout_s,
                    retry=self._admin_retry(),
                )

    def _ensure_subscription(self) -> bool:
        """Create this instance's subscription; True if it did not exist."""
        assert self._subscriber is not None
        try:
            self._subscriber.create_subscription(
                request={
                    "name": self.subscription_path,
                    "topic": self.topic_path,
                    "enable_message_ordering": True,
                    "ack_deadline_seconds": ACK_DEADLINE_S,
                    "expiration_policy": {"ttl": {"seconds": SUBSCRIPTION_TTL_S}},
                },
                timeout=self.config.admin_timeout_s,
                retry=self._admin_retry(),
            )
        except api_exceptions.AlreadyExists:
            return False
        return True

    def _start_pull(self) -> None:
        assert self._subscriber is not None
        self._pull = self._subscriber.subscribe(
            self.subscription_path,
            callback=self._on_message_thread,
            flow_control=pubsub_v1.types.FlowControl(max_messages=self.config.max_messages),
        )

    def _cancel_pull(self, wait_s: float = 0.0) -> None:
        """Stop streaming pull; wait up to ``wait_s`` for it to wind down (acks sent)."""
        pull, self._pull = self._pull, None
        if pull is not None and not pull.done():
            pull.cancel()
            if wait_s > 0:
                with contextlib.suppress(Exception):
                    pull.result(timeout=wait_s)

    # -- delivery ----------------------------------------------------------------

    def _on_message_thread(self, message: Message) -> None:
        """Runs on a client thread: hand the message to the event loop."""
        loop = self._loop
        try:
            if loop is None:
                raise RuntimeError("no event loop")
            loop.call_soon_threadsafe(self._on_message, message)
        except RuntimeError:  # loop closed: let Pub/Sub redeliver elsewhere
            message.nack()

    def _on_message(self, message: Message, attempt: int = 1) -> None:
        """Runs on the event loop: deliver, then ack (the message is in history).

        A failed deliver is retried here with backoff while the message stays leased:
        the client library holds later messages of the same ordering key until this
        one is acked or nacked, so a retry keeps the topic's order (a nack would not).
        """
        deliver = self._deliver
        if deliver is None:
            message.nack()
            return
        if message.message_id in self._recent:
            message.ack()
            return
        notification = decode_message(message)
        if notification is None:
            log.warning("pubsub: dropping message %s without a topic", message.message_id)
            message.ack()
            return
        try:
            deliver(notification)
        except Exception:
            self._retry_later(message, attempt)
            return
        self._recent.add(message.message_id)
        message.ack()

    def _retry_later(self, message: Message, attempt: int) -> None:
        if attempt >= DELIVER_ATTEMPTS or self._loop is None:
            message_id = message.message_id
            log.exception("pubsub: deliver failed %d times; nacked %s", attempt, message_id)
            message.nack()
            return
        log.exception("pubsub: deliver failed (attempt %d); retrying", attempt)
        delay = min(0.05 * 2**attempt, 2.0)
        self._loop.call_later(delay, self._on_message, message, attempt + 1)

    # -- publishing --------------------------------------------------------------

    async def publish(
        self, topic: str, data: Any, trace_context: dict[str, str] | None = None
    ) -> str:
        """Publish with ordering key ``topic``; the id is the Pub/Sub message id."""
        if self._started and not self._healthy:
            raise BrokerUnavailable("Pub/Sub is unreachable")
        publisher = await self._publisher_ready()
        attributes = {
            TOPIC_ATTRIBUTE: topic,
            PUBLISHED_AT_ATTRIBUTE: str(int(time.time() * 1000)),
        }
        attributes.update(
            {k: v for k, v in (trace_context or {}).items() if k in TRACE_ATTRIBUTES}
        )
        payload = encode_data(data)
        try:
            future = self._submit(publisher, topic, payload, attributes)
            return await asyncio.wait_for(
                asyncio.wrap_future(future), self.config.publish_timeout_s
            )
        except (*_RPC_ERRORS, RuntimeError) as exc:
            with contextlib.suppress(Exception):
                publisher.resume_publish(self.topic_path, topic)
            raise BrokerUnavailable(f"publish to {topic!r} failed: {exc}") from exc

    async def _publisher_ready(self) -> pubsub_v1.PublisherClient:
        """The publisher; opened here when publishing without :meth:`start`."""
        async with self._opening:
            if self._publisher is None:
                if self._stopping.is_set():
                    raise BrokerUnavailable("broker stopped")
                try:
                    await asyncio.to_thread(self._open_publisher)
                except _RPC_ERRORS as exc:
                    await asyncio.to_thread(self._close_clients)
                    raise BrokerUnavailable(f"cannot reach Pub/Sub: {exc}") from exc
            assert self._publisher is not None
            return self._publisher

    def _submit(
        self,
        publisher: pubsub_v1.PublisherClient,
        topic: str,
        payload: bytes,
        attributes: dict[str, str],
    ) -> Any:
        """Queue one message; an ordering key paused by an earlier failure is resumed."""
        try:
            return publisher.publish(
                self.topic_path, payload, ordering_key=topic, **attributes
            )
        except PublishToPausedOrderingKeyException:
            publisher.resume_publish(self.topic_path, topic)
            return publisher.publish(
                self.topic_path, payload, ordering_key=topic, **attributes
            )

    # -- outage supervision ------------------------------------------------------

    async def _supervise(self) -> None:
        backoff = self.config.backoff_initial_s
        while not self._stopping.is_set():
            problem = await asyncio.to_thread(self._diagnose)
            if problem is None:
                self._mark_healthy()
                backoff = self.config.backoff_initial_s
                await self._pause(self.config.probe_interval_s)
                continue
            self._mark_unhealthy(problem)
            if await asyncio.to_thread(self._recover):
                continue
            await self._pause(backoff)
            backoff = min(backoff * 2, self.config.backoff_max_s)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _diagnose(self) -> str | None:
        """None while streaming pull runs and the subscription answers, else why not."""
        pull, subscriber = self._pull, self._subscriber
        if pull is None or subscriber is None:
            return "streaming pull not running"
        if pull.done():
            return "streaming pull ended"
        try:
            subscriber.get_subscription(
                request={"subscription": self.subscription_path},
                timeout=min(self.config.admin_timeout_s, 5.0),
                retry=None,
            )
        except _RPC_ERRORS as exc:
            return f"subscription probe failed: {exc}"
        return None

    def _recover(self) -> bool:
        """Re-create what an outage may have lost and restart streaming pull.

        The old pull is cancelled and the subscriber client replaced first: a stream
        left on the old channel can sit in gRPC's reconnect backoff for seconds after
        Pub/Sub is back, and closing that channel blocks until the stream gives up,
        so it is closed on a thread of its own.
        """
        with self._admin_lock:
            if self._stopping.is_set() or self._subscriber is None:
                return False
            if self._pull is not None:
                self._cancel_pull()
                _close_in_background(self._subscriber)
                self._subscriber = pubsub_v1.SubscriberClient()
            try:
                self._ensure_topic()
                recreated = self._ensure_subscription()
            except _RPC_ERRORS as exc:
                log.info("pubsub: still unreachable: %s", exc)
                return False
            if recreated and self._loop is not None:
                # A new subscription cannot redeliver old messages, and a restarted
                # emulator numbers its messages from 1 again: forget the ids seen.
                self._loop.call_soon_threadsafe(self._recent.clear)
            self._start_pull()
            return True

    def _mark_unhealthy(self, problem: str) -> None:
        if not self._healthy:
            return
        self._healthy = False
        self.outages += 1
        log.warning("pubsub: outage (%s); restarting streaming pull", problem)
        if self._on_outage is not None:
            try:
                self._on_outage()
            except Exception:
                log.exception("pubsub: on_outage callback failed")

    def _mark_healthy(self) -> None:
        if not self._healthy:
            log.info("pubsub: reachable again; streaming pull resumed")
        self._healthy = True
