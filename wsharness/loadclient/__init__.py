"""wsharness's WebSocket user for Locust: gevent-friendly, measured, copyable.

Locustfiles import :mod:`wsharness.loadclient.suite`, which registers the options,
the open-socket gauge, the ``--shape`` load shapes and the sub-millisecond
statistics with Locust and exports the (abstract) user classes.  This package
itself imports nothing, so its Locust-free parts (sequence tracking, tokens,
tracing, reporting) can be used without Locust's gevent monkey-patching.
"""
