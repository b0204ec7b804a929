"""A socket's session: rate budget, token deadlines and refresh decisions."""

from __future__ import annotations

from wsharness.contract.tokens import Identity
from wsharness.server.session import Deadline, Session


def identity(sub: str = "alice", expires_at: float = 1_000.0, topics=None) -> Identity:  # type: ignore[no-untyped-def]
    return Identity(sub=sub, expires_at=expires_at, scopes=frozenset(), topics=topics)


def session(expires_at: float = 1_000.0, warning: float = 60.0) -> Session:
    return Session("c1", identity(expires_at=expires_at), now=0.0, rate_per_second=10,
                   burst=3, warning_seconds=warning)  # fmt: skip


def test_rate_budget_allows_a_burst_then_refills() -> None:
    s = session()
    assert [s.allow_message(0.0) for _ in range(4)] == [True, True, True, False]
    assert s.allow_message(0.1)  # 0.1 s at 10/s refills one message
    assert not s.allow_message(0.1)


def test_warning_comes_ahead_of_expiry_then_expiry() -> None:
    s = session(expires_at=1_000.0, warning=60.0)
    assert s.next_deadline(now=0.0) == (940.0, Deadline.WARN)
    s.mark_warned()
    assert s.next_deadline(now=940.0) == (1_000.0, Deadline.EXPIRE)


def test_short_tokens_are_warned_halfway_not_at_once() -> None:
    s = session(expires_at=10.0, warning=60.0)
    assert s.next_deadline(now=0.0) == (5.0, Deadline.WARN)


def test_refresh_for_the_same_subject_extends_and_rearms_the_warning() -> None:
    s = session(expires_at=100.0)
    s.mark_warned()
    outcome = s.refresh(identity(expires_at=500.0))
    assert outcome.accepted and s.identity.expires_at == 500.0
    assert s.next_deadline(now=100.0)[1] is Deadline.WARN


def test_refresh_for_another_subject_or_an_older_token_is_refused() -> None:
    s = session(expires_at=100.0)
    assert not s.refresh(identity(sub="mallory", expires_at=500.0)).accepted
    assert not s.refresh(identity(expires_at=50.0)).accepted
    assert s.identity.sub == "alice" and s.identity.expires_at == 100.0


def test_refresh_with_narrower_topics_drops_what_it_no_longer_allows() -> None:
    s = session(expires_at=100.0)
    subscribed = {"news.a", "sport.b"}
    outcome = s.refresh(identity(expires_at=200.0, topics=("news.*",)), subscribed)
    assert outcome.dropped_topics == ("sport.b",)
