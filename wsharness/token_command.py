"""``wsharness token``: print a signed JWT for tests and staging runs."""

from __future__ import annotations

import argparse
import os
import sys

from wsharness.contract.tokens import mint


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("token", help="print a signed test JWT (HS256)")
    parser.add_argument("--sub", required=True, help="subject (user id)")
    parser.add_argument("--ttl", type=float, default=3600, help="seconds until expiry")
    parser.add_argument("--scope", default=None, help="e.g. 'publish'")
    parser.add_argument(
        "--topic", action="append", dest="topics", help="allowed topic pattern (repeat)"
    )
    parser.add_argument(
        "--secret", default=os.environ.get("WSH_JWT_SECRET"), help="env WSH_JWT_SECRET"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.secret:
        print("wsharness token: set WSH_JWT_SECRET or pass --secret", file=sys.stderr)
        return 2
    print(mint(args.secret, args.sub, ttl=args.ttl, scope=args.scope, topics=args.topics))
    return 0
