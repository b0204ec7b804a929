"""The ``wsharness`` console script: one sub-command per module that registers it."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module has ``register(subparsers)`` adding its sub-command with a ``run`` default.
COMMAND_MODULES = (
    "wsharness.server.command",
    "wsharness.token_command",
    "wsharness.publish_command",
    "wsharness.report.command",
    "wsharness.sample_command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wsharness", description="WebSocket load-testing and observability harness"
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
