"""OpenTelemetry setup and conventions shared by the server and the load tests."""
