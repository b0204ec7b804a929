"""``wsharness serve``: run one server instance until SIGTERM, then drain."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import fields

from wsharness.openfiles import raise_open_file_limit
from wsharness.server.config import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the WebSocket notification server",
        description="Every flag can also be set as WSH_<FLAG> (e.g. WSH_PORT=9000).",
    )
    for item in fields(Settings):
        flag = "--" + item.name.replace("_", "-")
        default = item.default if not callable(item.default_factory) else None  # type: ignore[misc]
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif isinstance(default, int | float):
            parser.add_argument(
                flag, type=type(default), default=None, help=f"default {default}"
            )
        elif item.name == "allowed_origins":
            parser.add_argument(
                flag, type=_comma_list, default=None, help="comma-separated"
            )
        else:
            parser.add_argument(flag, default=None)
    parser.set_defaults(run=run)


def _comma_list(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def run(args: argparse.Namespace) -> int:
    from wsharness.server.app import serve_until_signalled
    from wsharness.telemetry.logs import configure_logging

    overrides = {item.name: getattr(args, item.name) for item in fields(Settings)}
    settings = Settings.from_env(**overrides)
    if not (settings.jwt_secret or settings.jwt_public_key or settings.jwks_url):
        print(
            "wsharness serve: set WSH_JWT_SECRET (or WSH_JWT_PUBLIC_KEY / WSH_JWKS_URL)",
            file=sys.stderr,
        )
        return 2
    configure_logging()
    # One access line per socket would drown everything else under load.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    raise_open_file_limit()
    asyncio.run(serve_until_signalled(settings))
    return 0
