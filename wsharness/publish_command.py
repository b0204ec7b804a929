"""``wsharness publish TOPIC DATA``: publish one notification through the configured broker.

With the embedded broker (the default) the broker lives inside the server, so the
notification goes through the server's ``POST /publish`` (``--url``).  With
``--broker pubsub`` it goes straight to the Pub/Sub topic.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from wsharness.contract.tokens import PUBLISH_SCOPE, mint


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("publish", help="publish one notification")
    parser.add_argument("topic")
    parser.add_argument("data", help="JSON value (a bare word is sent as a string)")
    parser.add_argument(
        "--broker",
        default=os.environ.get("WSH_BROKER", "memory"),
        choices=["memory", "pubsub"],
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("WSH_URL", "http://127.0.0.1:8080"),
        help="server base URL for the memory broker (env WSH_URL)",
    )
    parser.add_argument("--secret", default=os.environ.get("WSH_JWT_SECRET"))
    parser.add_argument(
        "--token", default=os.environ.get("WSH_TOKEN"), help="a publish token"
    )
    parser.set_defaults(run=run)


def parse_data(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def run(args: argparse.Namespace) -> int:
    data = parse_data(args.data)
    if args.broker == "pubsub":
        return asyncio.run(_publish_to_pubsub(args.topic, data))
    token = args.token or (
        args.secret and mint(args.secret, "cli", 300, scope=PUBLISH_SCOPE)
    )
    if not token:
        print("wsharness publish: set WSH_JWT_SECRET or WSH_TOKEN", file=sys.stderr)
        return 2
    return _publish_over_http(args.url, token, args.topic, data)


def _publish_over_http(base_url: str, token: str, topic: str, data: Any) -> int:
    request = urllib.request.Request(
        base_url.rstrip("/") + "/publish",
        data=json.dumps({"topic": topic, "data": data}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            print(response.read().decode())
            return 0
    except urllib.error.HTTPError as exc:
        print(f"wsharness publish: HTTP {exc.code}: {exc.read().decode()}", file=sys.stderr)
    except urllib.error.URLError as exc:
        print(f"wsharness publish: cannot reach {base_url}: {exc.reason}", file=sys.stderr)
    return 1


async def _publish_to_pubsub(topic: str, data: Any) -> int:
    from wsharness.server.brokers.pubsub import PubSubBroker

    broker = PubSubBroker.from_env()
    try:
        message_id = await broker.publish(topic, data)
    finally:
        await broker.stop()
    print(json.dumps({"id": message_id, "topic": topic}))
    return 0
