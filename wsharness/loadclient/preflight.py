"""The setup checks of a run, with the one that needs the network: does the topic exist?

:func:`wsharness.loadclient.protocols.misconfigurations` decides without I/O; this
shell adds what only Pub/Sub can answer (a ``GET`` of the topic over the REST API, on
the emulator when ``PUBSUB_EMULATOR_HOST`` is set) and returns the first problem as
one line, for the suite to print before exiting with :data:`EXIT_MISCONFIGURED`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import requests

from wsharness.loadclient.protocols import RunSetup, first_misconfiguration

EXIT_MISCONFIGURED = 2
LOOKUP_TIMEOUT_S = 10.0


class TopicLookupFailed(RuntimeError):
    """Pub/Sub did not say whether the topic exists (unreachable, or an HTTP error)."""


def pubsub_topic_exists(setup: RunSetup, session: Any = None) -> bool:
    """Whether ``setup``'s Pub/Sub topic exists; raises :class:`TopicLookupFailed`."""
    emulator = setup.environ.get("PUBSUB_EMULATOR_HOST")
    base = f"http://{emulator}" if emulator else "https://pubsub.googleapis.com"
    try:
        http = session or _session(emulator)
    except Exception as error:  # google.auth's DefaultCredentialsError and kin
        raise TopicLookupFailed(
            f"no Google credentials for Pub/Sub ({type(error).__name__}): run "
            "`gcloud auth application-default login`, or set PUBSUB_EMULATOR_HOST"
        ) from error
    try:
        response = http.get(f"{base}/v1/{setup.topic_path}", timeout=LOOKUP_TIMEOUT_S)
    except requests.RequestException as error:
        where = emulator or "pubsub.googleapis.com"
        raise TopicLookupFailed(
            f"Pub/Sub at {where} did not answer ({type(error).__name__}): "
            "is the emulator running, PUBSUB_EMULATOR_HOST right?"
        ) from error
    if response.status_code == 404:
        return False
    if response.status_code != 200:
        raise TopicLookupFailed(
            f"Pub/Sub refused to look up {setup.topic_path}: HTTP {response.status_code}"
        )
    return True


def check_run(setup: RunSetup, session: Any = None) -> str | None:
    """The first problem with the run's setup, the topic looked up; None if it can run."""
    problem = first_misconfiguration(setup)
    if problem is not None or not (setup.uses_pubsub and setup.project):
        return problem
    try:
        exists = pubsub_topic_exists(setup, session)
    except TopicLookupFailed as failed:
        return str(failed)
    return first_misconfiguration(replace(setup, topic_exists=exists))


def _session(emulator: str | None) -> Any:
    if emulator:
        return requests.Session()
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/pubsub"])
    return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
