"""What the standard ``OTEL_*`` environment variables ask this process to export.

The rule of wsharness: nothing is exported unless the environment asks for it.  A
signal is exported over OTLP when an endpoint is configured for it
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or the ``_TRACES_``/``_METRICS_`` variant) or when
``OTEL_TRACES_EXPORTER``/``OTEL_METRICS_EXPORTER`` names ``otlp`` or ``console``
explicitly.  ``OTEL_SDK_DISABLED=true`` or an exporter of ``none`` turns a signal off.
Sampling (``OTEL_TRACES_SAMPLER[_ARG]``), batching (``OTEL_BSP_*``), export interval
(``OTEL_METRIC_EXPORT_INTERVAL``), timeouts and headers are read by the SDK itself.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.sdk.resources import (
    SERVICE_INSTANCE_ID,
    SERVICE_NAME,
    OTELResourceDetector,
    Resource,
)

KNOWN_EXPORTERS = ("otlp", "console")
PROTOCOL_GRPC = "grpc"
PROTOCOL_HTTP = "http/protobuf"
# The OpenTelemetry specification's default (the Python SDK alone defaults to grpc).
DEFAULT_PROTOCOL = PROTOCOL_HTTP


@dataclass(frozen=True)
class SignalExport:
    """How one signal (traces or metrics) leaves the process; empty = not at all."""

    exporters: tuple[str, ...]
    protocol: str

    @property
    def enabled(self) -> bool:
        return bool(self.exporters)


@dataclass(frozen=True)
class ExportSettings:
    """The export decisions for both signals, read once from the environment."""

    sdk_disabled: bool
    traces: SignalExport
    metrics: SignalExport

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ExportSettings:
        env = os.environ if env is None else env
        disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
        return cls(
            sdk_disabled=disabled,
            traces=_signal(env, "TRACES", disabled),
            metrics=_signal(env, "METRICS", disabled),
        )


def _signal(env: Mapping[str, str], signal: str, disabled: bool) -> SignalExport:
    protocol = (
        (
            env.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or DEFAULT_PROTOCOL
        )
        .strip()
        .lower()
    )
    if protocol == "http":
        protocol = PROTOCOL_HTTP
    if disabled:
        return SignalExport((), protocol)
    return SignalExport(_exporters(env, signal), protocol)


def _exporters(env: Mapping[str, str], signal: str) -> tuple[str, ...]:
    named = env.get(f"OTEL_{signal}_EXPORTER", "").strip().lower()
    if named:
        wanted = [part.strip() for part in named.split(",")]
        return tuple(name for name in wanted if name in KNOWN_EXPORTERS)
    has_endpoint = env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return ("otlp",) if has_endpoint else ()


def build_resource(service_name: str) -> Resource:
    """The process's resource: ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``
    win over ``service_name``; a random ``service.instance.id`` tells instances apart."""
    from_env = OTELResourceDetector().detect().attributes
    defaults: dict[str, str] = {}
    if SERVICE_NAME not in from_env:
        defaults[SERVICE_NAME] = service_name
    if SERVICE_INSTANCE_ID not in from_env:
        defaults[SERVICE_INSTANCE_ID] = uuid.uuid4().hex
    return Resource.create(defaults).merge(Resource(dict(from_env)))
