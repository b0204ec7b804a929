"""The ``wsharness`` console script: one sub-command per module that registers it.

Only the module of the command being run is imported (``wsharness serve`` does not
load the report's numpy and scipy: a server process carries only what it serves
with); ``wsharness --help`` imports them all to list them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module has ``register(subparsers)`` adding its sub-command with a ``run`` default.
COMMAND_MODULES = {
    "serve": "wsharness.server.command",
    "token": "wsharness.token_command",
    "publish": "wsharness.publish_command",
    "report": "wsharness.report.command",
    "sample": "wsharness.sample_command",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for ``command`` alone, or for every command when it is not one."""
    parser = argparse.ArgumentParser(
        prog="wsharness", description="WebSocket load-testing and observability harness"
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    names = [command] if command in COMMAND_MODULES else list(COMMAND_MODULES)
    for name in names:
        importlib.import_module(COMMAND_MODULES[name]).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = arguments[0] if arguments else None
    args = build_parser(command).parse_args(arguments)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
