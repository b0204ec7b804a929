"""Token sources: minted from a secret, read from a file, printed by a command."""

from __future__ import annotations

import sys
from pathlib import Path

import jwt
import pytest

from tests.support.servers import SECRET
from wsharness.contract.tokens import PUBLISH_SCOPE, mint
from wsharness.loadclient.auth import NoTokenSource, TokenSource
from wsharness.loadclient.options import LoadOptions


def claims(token: str) -> dict:
    return jwt.decode(token, SECRET, algorithms=["HS256"])


def test_minted_tokens_carry_subject_scope_and_ttl() -> None:
    source = TokenSource(LoadOptions(jwt_secret=SECRET))
    decoded = claims(source.token("pub-1", ttl=30, scope=PUBLISH_SCOPE))
    assert decoded["sub"] == "pub-1"
    assert decoded["scope"] == "publish"
    assert 29 <= decoded["exp"] - decoded["iat"] <= 31


def test_a_token_file_is_reread_once_its_token_nears_expiry(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(mint(SECRET, "staging", ttl=1) + "\n")
    source = TokenSource(LoadOptions(token_file=str(path)))
    first = source.token("ignored", ttl=60)
    assert claims(first)["sub"] == "staging"
    path.write_text(mint(SECRET, "rotated", ttl=600))
    assert claims(source.token("ignored", ttl=60))["sub"] == "rotated"  # first is stale


def test_a_token_command_gets_subject_scope_and_ttl_filled_in() -> None:
    command = (
        f"WSH_JWT_SECRET={SECRET} {sys.executable} -m wsharness.cli token"
        " --sub {sub} --ttl {ttl} --scope publish"
    )
    source = TokenSource(LoadOptions(token_command=command))
    decoded = claims(source.token("from-cmd", ttl=120, scope="publish"))
    assert decoded["sub"] == "from-cmd"
    assert decoded["scope"] == "publish"


def test_no_source_is_a_clear_error() -> None:
    with pytest.raises(NoTokenSource, match="WSH_JWT_SECRET"):
        TokenSource(LoadOptions()).token("x", ttl=10)


def test_a_token_command_runs_per_subject_and_is_cached_per_subject(
    tmp_path: Path,
) -> None:
    """Each user refreshes with a token naming its own ``sub`` (the server checks it)."""
    runs = tmp_path / "runs"
    command = (
        f"echo {{sub}} >> {runs} && WSH_JWT_SECRET={SECRET} {sys.executable} -m "
        "wsharness.cli token --sub {sub} --ttl {ttl}"
    )
    source = TokenSource(LoadOptions(token_command=command))
    first = source.token("user-a", ttl=120)
    second = source.token("user-b", ttl=120)
    assert (claims(first)["sub"], claims(second)["sub"]) == ("user-a", "user-b")
    assert source.token("user-a", ttl=120) == first  # cached for its own subject
    assert runs.read_text().split() == ["user-a", "user-b"]
