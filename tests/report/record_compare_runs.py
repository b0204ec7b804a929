"""Record the three real runs the comparison tests read (``tests/fixtures/compare_runs/``).

``baseline`` and ``same_build`` are the same server and the same load, one after the
other; ``slowed`` is the same load against a server started with
``WSH_TEST_DELIVERY_COST_US`` (a test-only setting that spins the CPU for that many
microseconds per socket a notification is delivered to): a regression put in on
purpose.  Each run is ``wsharness serve`` on loopback sampled by
:class:`wsharness.sampler.MetricsSampler`, and ``locust -f`` the suite's publisher,
idle and active users, headless with ``--csv --csv-full-history``: a short ramp, then
a steady hold.  Usage::

    .venv/bin/python -m tests.report.record_compare_runs [OUT_DIR] [--seconds S]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tests.fixtures.record_run import record_locust_run
from tests.loadtests.runs import locustfiles

OUT = Path(__file__).parents[1] / "fixtures" / "compare_runs"
SLOWED_DELIVERY_COST_US = 1000
USERS = 61
USER_CLASSES = [
    {"user_class_name": "PublisherUser", "fixed_count": 1},
    {"user_class_name": "IdleUser", "weight": 3},
    {"user_class_name": "ActiveUser", "weight": 1},
]
FILES = locustfiles("publisher", "idle", "active")  # no drops, no expiry: steady
SUITE_OPTIONS = ["--publish-rate", "4", "--echo-rate", "1"]
SLOWED = {"WSH_TEST_DELIVERY_COST_US": str(SLOWED_DELIVERY_COST_US)}
RUNS: dict[str, dict[str, str]] = {"baseline": {}, "same_build": {}, "slowed": SLOWED}


def record(out_dir: Path, seconds: int, server_env: dict[str, str]) -> None:
    record_locust_run(
        out_dir,
        FILES,
        USER_CLASSES,
        SUITE_OPTIONS,
        users=USERS,
        spawn_rate=12,
        seconds=seconds,
        interval_s=2.0,
        server_env=server_env,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir", nargs="?", type=Path, default=OUT)
    parser.add_argument("--seconds", type=int, default=45)
    parser.add_argument("--only", choices=sorted(RUNS), action="append", default=None)
    args = parser.parse_args()
    for name in args.only or RUNS:
        record(args.out_dir / name, args.seconds, RUNS[name])


if __name__ == "__main__":
    main()
