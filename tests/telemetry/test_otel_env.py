"""Which signals the OTEL_* variables switch on, and the resource they describe."""

from __future__ import annotations

import pytest

from wsharness.telemetry.otel_env import (
    PROTOCOL_GRPC,
    PROTOCOL_HTTP,
    ExportSettings,
    build_resource,
)


def test_nothing_set_exports_nothing() -> None:
    settings = ExportSettings.from_env({})
    assert not settings.traces.enabled and not settings.metrics.enabled


def test_common_endpoint_turns_on_both_signals_over_http_protobuf() -> None:
    settings = ExportSettings.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    )
    assert settings.traces.exporters == ("otlp",) and settings.metrics.exporters == (
        "otlp",
    )
    assert settings.traces.protocol == PROTOCOL_HTTP


def test_signal_endpoint_turns_on_only_that_signal() -> None:
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}
    settings = ExportSettings.from_env(env)
    assert settings.traces.enabled and not settings.metrics.enabled


def test_protocol_per_signal_wins_over_common_protocol() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
    }
    settings = ExportSettings.from_env(env)
    assert settings.traces.protocol == PROTOCOL_GRPC
    assert settings.metrics.protocol == PROTOCOL_HTTP


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
        {
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x:1",
        },
    ],
    ids=["sdk-disabled", "exporter-none"],
)
def test_switches_turn_traces_off_even_with_an_endpoint(env: dict[str, str]) -> None:
    assert not ExportSettings.from_env(env).traces.enabled


def test_named_console_exporter_needs_no_endpoint() -> None:
    settings = ExportSettings.from_env({"OTEL_TRACES_EXPORTER": "console"})
    assert settings.traces.exporters == ("console",)


def test_service_name_env_wins_over_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "edge-eu-1")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging")
    attributes = build_resource("wsharness-server").attributes
    assert attributes["service.name"] == "edge-eu-1"
    assert attributes["deployment.environment"] == "staging"
    assert attributes["service.instance.id"]


def test_default_service_name_applies_when_env_is_silent() -> None:
    assert (
        build_resource("wsharness-server").attributes["service.name"] == "wsharness-server"
    )
