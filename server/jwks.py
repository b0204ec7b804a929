"""The keys of a JWKS URL, kept fresh without ever blocking the event loop.

The verifier (:class:`wsharness.contract.tokens.TokenVerifier`) only looks keys up;
this module fetches them.  The document is downloaded and parsed in a worker thread
(``asyncio.to_thread``), at startup and then every ``--jwks-refresh-seconds``.  A
token naming a ``kid`` the verifier does not know (a key rotation, or garbage) may
trigger one early refetch, at most one every ``--jwks-refetch-seconds`` however many
such tokens arrive; handshakes waiting for it wait at most
:data:`FETCH_TIMEOUT_SECONDS`.  While the endpoint is slow or down the cached keys
keep serving: a failed fetch never replaces them, nor does a document with no usable
key.  Fetches are counted in ``wsh_jwks_fetches_total{outcome}`` (``ok``, ``failed``,
``rate_limited`` for an early refetch not made).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TypeVar

from aiohttp import web
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from wsharness.contract import names
from wsharness.contract.tokens import KeySet, TokenVerifier
from wsharness.telemetry.setup import INSTRUMENTATION_SCOPE

FETCH_TIMEOUT_SECONDS = 3.0
MAX_DOCUMENT_BYTES = 1 << 20
OK, FAILED, RATE_LIMITED = "ok", "failed", "rate_limited"

log = logging.getLogger("wsharness.server.jwks")
T = TypeVar("T")


class JwksUnavailable(Exception):
    """The JWKS document could not be fetched or held no usable key."""


def download_key_set(url: str, timeout: float) -> KeySet:
    """Fetch and parse a JWKS document (blocking: call it in a worker thread)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
        raise JwksUnavailable(f"{url}: {exc}") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise JwksUnavailable(f"{url}: document larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise JwksUnavailable(f"{url}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise JwksUnavailable(f"{url}: not a JWKS document")
    key_set = KeySet.from_jwks(document)
    if not key_set.keys:
        raise JwksUnavailable(f"{url}: no usable signing key")
    return key_set


class JwksRefresher:
    """Keeps a verifier's key set fresh from its JWKS URL."""

    def __init__(
        self,
        verifier: TokenVerifier,
        url: str,
        refresh_seconds: float,
        refetch_seconds: float,
        timeout_seconds: float = FETCH_TIMEOUT_SECONDS,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.verifier = verifier
        self.url = url
        self.refresh_seconds = refresh_seconds
        self.refetch_seconds = refetch_seconds
        self.timeout_seconds = timeout_seconds
        self.fetches: dict[str, int] = dict.fromkeys((OK, FAILED, RATE_LIMITED), 0)
        self._in_flight: asyncio.Task[bool] | None = None
        self._last_attempt = -float("inf")
        if meter_provider is not None:
            meter_provider.get_meter(INSTRUMENTATION_SCOPE).create_observable_counter(
                names.METRIC_JWKS_FETCHES,
                callbacks=[self._observe],
                description="JWKS fetches by outcome (ok, failed, rate_limited)",
            )

    async def run(self) -> None:
        """Fetch now, then every refresh interval (after a failure: every refetch one)."""
        while True:
            fetched = await self.fetch()
            await asyncio.sleep(self.refresh_seconds if fetched else self.refetch_seconds)

    def fetch(self) -> asyncio.Task[bool]:
        """The fetch in flight, or a new one: never two at once."""
        if self._in_flight is None:
            self._last_attempt = time.monotonic()
            task = asyncio.get_running_loop().create_task(self._fetch())
            task.add_done_callback(self._landed)
            self._in_flight = task
        return self._in_flight

    async def refetch(self) -> None:
        """For a token with an unknown ``kid``: join the fetch in flight or start one,
        unless one started within the refetch interval; wait for it, bounded."""
        task = self._in_flight
        if task is None:
            if time.monotonic() - self._last_attempt < self.refetch_seconds:
                self.fetches[RATE_LIMITED] += 1
                return
            task = self.fetch()
        await asyncio.wait([task], timeout=self.timeout_seconds)  # never cancels it

    async def _fetch(self) -> bool:
        try:
            key_set = await asyncio.to_thread(
                download_key_set, self.url, self.timeout_seconds
            )
        except JwksUnavailable as exc:
            self.fetches[FAILED] += 1
            log.warning("JWKS fetch failed, serving with the cached keys: %s", exc)
            return False
        self.verifier.use_keys(key_set)
        self.fetches[OK] += 1
        return True

    def _landed(self, task: asyncio.Task[bool]) -> None:
        self._in_flight = None
        if not task.cancelled():
            task.exception()  # retrieved: _fetch handles its own errors

    def _observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        for outcome, value in list(self.fetches.items()):
            yield Observation(value, {names.LABEL_OUTCOME: outcome})

    async def lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        """An aiohttp cleanup context: refresh for as long as the app runs."""
        task = asyncio.get_running_loop().create_task(self.run())
        yield
        task.cancel()
        if self._in_flight is not None:
            self._in_flight.cancel()


JWKS_KEY = web.AppKey("jwks", JwksRefresher)


def install(
    app: web.Application,
    verifier: TokenVerifier,
    refresh_seconds: float,
    refetch_seconds: float,
    meter_provider: MeterProvider | None = None,
) -> None:
    """Keep ``verifier``'s keys fresh while ``app`` runs (nothing without a JWKS URL)."""
    if verifier.jwks_url is None:
        return
    refresher = JwksRefresher(
        verifier,
        verifier.jwks_url,
        refresh_seconds,
        refetch_seconds,
        meter_provider=meter_provider,
    )
    app[JWKS_KEY] = refresher
    app.cleanup_ctx.append(refresher.lifecycle)


async def retry_with_fresh_keys(app: web.Application, decide: Callable[[], T]) -> T:
    """``decide()`` again once the JWKS was refetched (rate limited, bounded wait).

    Called after a refusal for an unknown ``kid``; other handshakes go on meanwhile.
    """
    refresher = app.get(JWKS_KEY)
    if refresher is not None:
        await refresher.refetch()
    return decide()
