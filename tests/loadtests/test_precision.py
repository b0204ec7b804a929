"""Sub-millisecond buckets, checked in a fresh interpreter (Locust monkey-patches)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json
from wsharness.loadclient.precision import compact, fine_bucket
values = [0.4321, 4.321, 43.21, 432.1, 0, 0.000123]
print(json.dumps([fine_bucket(v) for v in values] + [compact(2.0), compact(0.5)]))
"""


def test_two_significant_digits_below_100_ms_and_locusts_buckets_above() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [
        0.43, 4.3, 43, 430, 0, 0.00012, 2, 0.5,
    ]  # fmt: skip
