"""wsharness: a load-testing and observability harness for WebSocket services."""

__version__ = "0.1.0"
