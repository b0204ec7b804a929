"""JSON Web Tokens: minting test tokens and verifying them at the upgrade.

HS256 with a shared secret (``WSH_JWT_SECRET``) for tests and staging; RS256 with a
PEM public key or a JWKS URL for production.  Verification is pure: no I/O except a
JWKS fetch, which PyJWT caches.
"""

from __future__ import annotations

import fnmatch
import functools
import time
from dataclasses import dataclass
from typing import Any

import jwt

PUBLISH_SCOPE = "publish"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who holds a socket, from a verified token."""

    sub: str
    expires_at: float  # seconds since the epoch
    scopes: frozenset[str]
    topics: tuple[str, ...] | None  # allowed topic patterns; None = any

    @property
    def can_publish(self) -> bool:
        return PUBLISH_SCOPE in self.scopes

    def may_use(self, topic: str) -> bool:
        """True when the token's ``topics`` patterns allow ``topic``."""
        if self.topics is None:
            return True
        return any(fnmatch.fnmatchcase(topic, pattern) for pattern in self.topics)


class InvalidToken(ValueError):
    """The token is missing, malformed, badly signed or expired."""


def mint(
    secret: str,
    sub: str,
    ttl: float = 3600,
    scope: str | None = None,
    topics: list[str] | None = None,
    now: float | None = None,
) -> str:
    """Sign an HS256 token for ``sub`` that expires ``ttl`` seconds from now."""
    issued = time.time() if now is None else now
    claims: dict[str, object] = {"sub": sub, "iat": int(issued), "exp": issued + ttl}
    if scope:
        claims["scope"] = scope
    if topics is not None:
        claims["topics"] = topics
    return jwt.encode(claims, secret, algorithm="HS256")


class TokenVerifier:
    """Verifies tokens with a shared secret, a PEM public key or a JWKS URL."""

    def __init__(
        self,
        secret: str | None = None,
        public_key: str | None = None,
        jwks_url: str | None = None,
        leeway: float = 0.0,
    ) -> None:
        if not (secret or public_key or jwks_url):
            raise ValueError("set WSH_JWT_SECRET, WSH_JWT_PUBLIC_KEY or WSH_JWKS_URL")
        self._secret = secret
        self._public_key = public_key
        self._jwks = jwt.PyJWKClient(jwks_url) if jwks_url else None
        self._leeway = leeway

    def verify(self, token: str, now: float | None = None) -> Identity:
        """Return the identity a token carries, or raise :class:`InvalidToken`."""
        try:
            claims = jwt.decode(
                token,
                key=self._key_for(token),
                algorithms=self._algorithms(),
                options={"require": ["sub", "exp"], "verify_exp": now is None},
                leeway=self._leeway,
            )
        except (jwt.PyJWTError, ValueError) as exc:
            raise InvalidToken(_describe(exc)) from None
        if now is not None and claims["exp"] <= now - self._leeway:
            raise InvalidToken("token expired")
        return _identity(claims)

    def _key_for(self, token: str) -> Any:  # a str secret or PEM, or a JWKS key object
        if self._jwks is not None:
            return self._jwks.get_signing_key_from_jwt(token).key
        return self._public_key or self._secret

    def _algorithms(self) -> list[str]:
        return ["HS256"] if self._secret and not self._public_key else ["RS256", "ES256"]


@functools.lru_cache(maxsize=64)
def _scopes(scope: str) -> frozenset[str]:
    """One shared set per distinct ``scope`` claim, not one per socket."""
    return frozenset(scope.split())


def _identity(claims: dict[str, object]) -> Identity:
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("claim 'sub' must be a non-empty string")
    scope = claims.get("scope", "")
    topics = claims.get("topics")
    if topics is not None and not (
        isinstance(topics, list) and all(isinstance(t, str) for t in topics)
    ):
        raise InvalidToken("claim 'topics' must be a list of patterns")
    return Identity(
        sub=sub,
        expires_at=float(claims["exp"]),  # type: ignore[arg-type]
        scopes=_scopes(str(scope)),
        topics=tuple(topics) if topics is not None else None,
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad token signature"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"token lacks claim {exc.claim!r}"
    return f"invalid token: {exc}"
