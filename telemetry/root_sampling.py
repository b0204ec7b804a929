"""Sampling of hot-path root spans decided before the SDK is touched.

With ``parentbased_traceidratio`` 0.1 the SDK still builds a non-recording span, a
context and two context managers for the 90% of inbound messages it drops; on a busy
socket that costs more than the echo itself.  :class:`RootGate` makes the very same
decision first, from the very same rule: it draws the trace id, applies
``TraceIdRatioBased``'s test (``trace_id & (2**64 - 1) < bound``, the bound read from
``OTEL_TRACES_SAMPLER_ARG``), and

- when the SDK would drop the span, returns a context holding a cheap non-recording
  span (flags 00) so what follows inherits "not sampled", as it would from the SDK;
- when the SDK would keep it, reserves the drawn id in :class:`ReservingIdGenerator`
  so the SDK's own sampler sees that id and keeps the span too.

Under a ratio sampler the gate also holds a per-process budget, :class:`RateLimit`:
roots the ratio keeps beyond ``per_second`` a second are dropped too (and counted).
Message spans then cost a bounded share of the CPU however fast messages arrive, the
way tracing backends cap their busiest operations (Jaeger's per-operation rate limits,
X-Ray's reservoir); a ``traceparent`` sent by a client is still always followed.

The gate is active only for the provider :mod:`telemetry.tracing` installs, and only
for ratio and always-off samplers; otherwise every span goes through the SDK.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterable

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

RATIO_SAMPLERS = ("traceidratio", "parentbased_traceidratio")
OFF_SAMPLERS = ("always_off", "parentbased_always_off")
_LOW_64_BITS = TraceIdRatioBased.TRACE_ID_LIMIT
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)


class ReservingIdGenerator(RandomIdGenerator):
    """Random ids, except that the next trace id can be chosen in advance (per thread)."""

    def __init__(self) -> None:
        self._reserved = threading.local()

    def reserve_trace_id(self, trace_id: int) -> None:
        self._reserved.trace_id = trace_id

    def generate_trace_id(self) -> int:
        trace_id = getattr(self._reserved, "trace_id", 0)
        if trace_id:
            self._reserved.trace_id = 0
            return int(trace_id)
        return super().generate_trace_id()


class RateLimit:
    """A token bucket: at most ``per_second`` admissions a second, a second's worth
    (at least one) in a burst; it counts what it refuses."""

    def __init__(
        self, per_second: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_second = per_second
        self.burst = max(1.0, per_second)
        self.refused = 0
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()

    def admit(self) -> bool:
        now = self._clock()
        elapsed, self._last = now - self._last, now
        self._tokens = min(self.burst, self._tokens + elapsed * self.per_second)
        if self._tokens < 1.0:
            self.refused += 1
            return False
        self._tokens -= 1.0
        return True


class RootGate:
    """Decides a root span's sampling the way the SDK's ratio sampler would, within
    an optional :class:`RateLimit`."""

    def __init__(
        self, bound: int, ids: ReservingIdGenerator, limit: RateLimit | None = None
    ) -> None:
        self.bound = bound
        self.limit = limit
        self._ids = ids

    def dropped_trace_id(self) -> int | None:
        """Draw a root's trace id: returned when the root is dropped; None when it is
        to be recorded (the id is then reserved, so the SDK's sampler keeps it too)."""
        trace_id = random.getrandbits(128) or 1
        if trace_id & _LOW_64_BITS >= self.bound:
            return trace_id
        if self.limit is not None and not self.limit.admit():
            return trace_id
        self._ids.reserve_trace_id(trace_id)
        return None

    def unsampled_context(self) -> otel_context.Context | None:
        """A context for a dropped root span, or None (id reserved: call the SDK now)."""
        trace_id = self.dropped_trace_id()
        if trace_id is None:
            return None
        span_context = SpanContext(
            trace_id, random.getrandbits(64) or 1, is_remote=False, trace_flags=_NOT_SAMPLED
        )
        return trace.set_span_in_context(
            NonRecordingSpan(span_context), otel_context.Context()
        )


def root_bound_from_env() -> int | None:
    """The ratio bound the SDK reads from ``OTEL_TRACES_SAMPLER[_ARG]``; None when the
    sampler keeps every root (always_on, parent-based always_on) or is unknown."""
    name = os.environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    if name in OFF_SAMPLERS:
        return 0
    if name not in RATIO_SAMPLERS:
        return None
    try:
        rate = float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", ""))
    except ValueError:
        return None  # the SDK falls back to a rate of 1.0
    if not 0.0 <= rate <= 1.0:
        return None
    return TraceIdRatioBased.get_bound_for_rate(rate)


_active: RootGate | None = None


def install(gate: RootGate | None) -> None:
    """Make ``gate`` the one :func:`unsampled_root` consults (None: off)."""
    global _active
    _active = gate


def unsampled_root() -> otel_context.Context | None:
    """For a span about to start without a parent: a ready context when it will not
    be sampled, or None when the tracer must create it (see :class:`RootGate`)."""
    gate = _active
    return gate.unsampled_context() if gate is not None else None


def drops_root() -> bool:
    """True when a span about to start without a parent will not be sampled; the
    cheaper question when nothing is to inherit from the dropped span."""
    gate = _active
    return gate is not None and gate.dropped_trace_id() is not None


def observe_rate_limited(_options: CallbackOptions) -> Iterable[Observation]:
    """Roots the active gate's budget refused (an observable counter's callback)."""
    limit = _active.limit if _active is not None else None
    yield Observation(limit.refused if limit is not None else 0)
