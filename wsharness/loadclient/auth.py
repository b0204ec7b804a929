"""Where the load users get their tokens: minted, read from a file, or from a command.

Locally the suite mints HS256 tokens with ``--jwt-secret`` / ``WSH_JWT_SECRET``.
Against staging, where no secret is at hand, ``--token-file`` (re-read when it
changes) or ``--token-command`` (a shell command printing a token; ``{sub}``,
``{scope}`` and ``{ttl}`` are filled in) supply them; those are cached until shortly
before their own ``exp``: a file's token once (it is the same for every user), a
command's per subject, scope and TTL (each user has its own ``sub``, and a server
refuses a refresh whose token names another subject).
"""

from __future__ import annotations

import shlex
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt

from wsharness.contract.tokens import mint
from wsharness.loadclient.options import LoadOptions

_REUSE_MARGIN_S = 2.0


class NoTokenSource(RuntimeError):
    """None of --jwt-secret, --token-file, --token-command is set."""


def new_subject(prefix: str) -> str:
    """A unique ``sub`` for one virtual user."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def expires_at(token: str) -> float:
    """The token's ``exp`` (read without verifying), or +inf when it has none."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims.get("exp", float("inf")))


@dataclass
class TokenSource:
    """Hands out tokens for a subject, scope and TTL."""

    options: LoadOptions
    _cache: dict[tuple[str, str, str, float], str] = field(default_factory=dict)

    def token(self, sub: str, ttl: float, scope: str | None = None) -> str:
        if self.options.jwt_secret:
            return mint(self.options.jwt_secret, sub, ttl=ttl, scope=scope)
        if self.options.token_file:
            return self._cached(("file", "", "", 0.0), self._read_file)
        if self.options.token_command:
            key = ("command", sub, scope or "", ttl)
            return self._cached(key, lambda: self._run_command(sub, ttl, scope))
        raise NoTokenSource(
            "set --jwt-secret (WSH_JWT_SECRET), --token-file or --token-command"
        )

    def _cached(self, key: tuple[str, str, str, float], fetch: Callable[[], str]) -> str:
        token = self._cache.get(key)
        if token is None or expires_at(token) - _REUSE_MARGIN_S <= time.time():
            token = fetch()
            self._cache[key] = token
        return token

    def _read_file(self) -> str:
        with open(self.options.token_file or "", encoding="utf-8") as handle:
            return handle.read().strip()

    def _run_command(self, sub: str, ttl: float, scope: str | None) -> str:
        command = (self.options.token_command or "").format(
            sub=shlex.quote(sub), scope=shlex.quote(scope or ""), ttl=ttl
        )
        done = subprocess.run(
            command, shell=True, capture_output=True, text=True, timeout=30, check=True
        )
        return done.stdout.strip()
