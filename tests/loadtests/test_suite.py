"""The suite refuses a run that cannot work: one clear line, exit code 2, no user.

Real ``locust`` runs; the topic lookup asks the real Pub/Sub emulator.  Nothing
listens on the ``--host`` of these runs: a run that started a user would show it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.loadtests.runs import LocustRun, locustfiles, run_locust
from tests.pubsub.pubsub_emulator import Emulator
from wsharness.localserver import free_port, locust_master_flags


def refused(workdir: Path, files: tuple[str, ...], *extra: str, **env: str) -> LocustRun:
    return run_locust(
        locustfiles(*files),
        f"ws://127.0.0.1:{free_port()}",
        workdir,
        users=2,
        seconds=20,
        extra=extra,
        secret=None,
        env_extra=env,
    )


def assert_refused_with(run: LocustRun, line: str) -> None:
    assert run.returncode == 2, run.output
    errors = [text for text in run.output.splitlines() if "ERROR" in text]
    assert len(errors) == 1 and line in errors[0], run.output
    assert "Traceback" not in run.output
    assert "All users spawned" not in run.output and run.count("connect") == 0


def test_pubsub_publishing_without_a_project_is_one_line(tmp_path: Path) -> None:
    run = refused(
        tmp_path,
        ("idle", "publisher"),
        "--protocol", "relay", "--publish-via", "pubsub", "--pubsub-topic", "news-feed",
    )  # fmt: skip
    assert_refused_with(
        run, "--publish-via pubsub needs GOOGLE_CLOUD_PROJECT (and PUBSUB_EMULATOR_HOST"
    )
    assert "topic news-feed" in run.output


def test_a_pubsub_topic_that_does_not_exist_is_named(
    emulator: Emulator,
    tmp_path: Path,
) -> None:
    run = refused(
        tmp_path,
        ("idle", "publisher"),
        "--protocol", "relay", "--publish-via", "pubsub", "--pubsub-topic", "no-such-topic",
        **emulator.env,
    )  # fmt: skip
    assert_refused_with(
        run, "Pub/Sub topic projects/test-project/topics/no-such-topic does not exist"
    )


def test_a_relay_run_with_nothing_publishing_is_one_line(tmp_path: Path) -> None:
    run = refused(tmp_path, ("idle",), "--protocol", "relay")
    assert_refused_with(run, "--protocol relay measures what the harness publishes")


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (("--raw", "--protocol", "relay"), "--raw is --protocol echo"),
        (
            ("--protocol", "relay", "--publish-via", "http"),
            "--publish-via http needs --publish-url URL",
        ),
        (("--publish-via", "http"), "--protocol wsharness publishes via server, pubsub"),
        (("--protocol", "echo"), "--protocol echo has no publishing"),
    ],
)
def test_other_misconfigurations_are_one_line_each(
    extra: tuple[str, ...], line: str, tmp_path: Path
) -> None:
    run = refused(tmp_path, ("idle", "publisher"), "--jwt-secret", "s" * 32, *extra)
    assert_refused_with(run, line)


def test_with_processes_the_master_refuses_for_all(tmp_path: Path) -> None:
    ports = locust_master_flags(free_port())
    run = refused(tmp_path, ("idle",), "--protocol", "relay", "--processes", "2", *ports)
    assert_refused_with(run, "--protocol relay measures what the harness publishes")
