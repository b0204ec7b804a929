"""The one permission check, and how each transport answers a denial."""

from __future__ import annotations

from wsharness.contract.protocol import CloseCode, ErrorCode
from wsharness.contract.tokens import Identity
from wsharness.server.policy import Limits, check_publish, check_subscribe

LIMITS = Limits(max_subscriptions=2, max_topic_bytes=8)


def who(
    scopes: frozenset[str] = frozenset(), topics: tuple[str, ...] | None = None
) -> Identity:
    return Identity(sub="s", expires_at=1e12, scopes=scopes, topics=topics)


def test_publishing_needs_the_scope_a_sound_topic_and_the_patterns() -> None:
    publisher = who(frozenset({"publish"}), topics=("news.*",))
    assert check_publish(publisher, "news.a", LIMITS) is None
    no_scope = check_publish(who(), "news.a", LIMITS)
    assert no_scope is not None and (no_scope.http_status, no_scope.error_code) == (
        403, ErrorCode.FORBIDDEN)  # fmt: skip
    outside = check_publish(publisher, "payroll", LIMITS)
    assert outside is not None and (outside.http_status, outside.close_code) == (
        403, CloseCode.TOPIC_NOT_ALLOWED)  # fmt: skip
    too_long = check_publish(publisher, "news.abcd", LIMITS)
    assert too_long is not None and (too_long.http_status, too_long.reason) == (
        400, "topic_too_long")  # fmt: skip


def test_subscribing_is_bounded_per_socket() -> None:
    assert check_subscribe(who(), "t", followed=1, already=False, limits=LIMITS) is None
    assert check_subscribe(who(), "t", followed=2, already=True, limits=LIMITS) is None
    full = check_subscribe(who(), "t", followed=2, already=False, limits=LIMITS)
    assert full is not None and full.error_code is ErrorCode.TOO_MANY_SUBSCRIPTIONS
