"""JSON Web Tokens: minting test tokens and verifying them at the upgrade.

HS256 with a shared secret (``WSH_JWT_SECRET``) for tests and staging; RS256 or ES256
with a PEM public key or the keys of a JWKS URL for production, with the ``aud`` and
``iss`` claims checked when configured.  Verification is pure, no I/O: with a JWKS
URL the verifier holds a :class:`KeySet` that the server's shell fetches and swaps in
(``wsharness.server.jwks``); a token whose ``kid`` is not in it raises
:class:`UnknownKey`.  A bounded cache of verified tokens (:class:`VerifiedTokens`)
spares a reconnect storm the signature checks it already did.
"""

from __future__ import annotations

import base64
import fnmatch
import functools
import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping
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


class UnknownKey(InvalidToken):
    """The token names a signing key (``kid``) the verifier has no key for, yet."""


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


class KeySet:
    """Public keys by key id (``kid``), as a JWKS document publishes them."""

    def __init__(self, keys: Mapping[str, Any] | None = None) -> None:
        self.keys: dict[str, Any] = dict(keys or {})

    @classmethod
    def from_jwks(cls, document: Mapping[str, Any]) -> KeySet:
        """The signing keys of a JWKS document (``{"keys": [...]}``); others skipped."""
        keys: dict[str, Any] = {}
        for entry in document.get("keys", []):
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                jwk = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key type or algorithm we cannot use: not ours to check
            keys[str(entry.get("kid", ""))] = jwk  # parsed once: PyJWT skips its checks
        return cls(keys)

    def key_for(self, kid: str | None) -> Any:
        """The key for ``kid``; a token without ``kid`` may use the only key."""
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        if kid is None:
            raise InvalidToken("token header lacks 'kid'")
        try:
            return self.keys[kid]
        except KeyError:
            raise UnknownKey(f"unknown signing key {kid[:64]!r}") from None

    def same_keys(self, other: KeySet) -> bool:
        return self.keys.keys() == other.keys.keys() and all(
            _key_bytes(_raw(self.keys[kid])) == _key_bytes(_raw(other.keys[kid]))
            for kid in self.keys
        )


class VerifiedTokens:
    """Identities of tokens already verified, by a digest of the whole token.

    Bounded (least recently used first out) and never trusted past ``exp``: every
    use checks the clock.  Only successes are kept, keyed by the SHA-256 of the full
    token, signature included, so a token that differs in any byte is verified anew.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._entries: OrderedDict[bytes, Identity] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def digest(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, digest: bytes, now: float) -> Identity | None:
        identity = self._entries.get(digest)
        if identity is None:
            self.misses += 1
            return None
        if identity.expires_at <= now:
            del self._entries[digest]
            self.misses += 1
            return None
        self._entries.move_to_end(digest)
        self.hits += 1
        return identity

    def put(self, digest: bytes, identity: Identity) -> None:
        if self.size <= 0:
            return
        self._entries[digest] = identity
        self._entries.move_to_end(digest)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class TokenVerifier:
    """Verifies tokens with a shared secret, a PEM public key or a JWKS key set.

    With ``jwks_url`` the verifier starts with an empty :class:`KeySet`; the server
    fetches the document off its event loop and calls :meth:`use_keys`.
    """

    def __init__(
        self,
        secret: str | None = None,
        public_key: str | None = None,
        jwks_url: str | None = None,
        leeway: float = 0.0,
        audience: str | None = None,
        issuer: str | None = None,
        cache_size: int = 0,
    ) -> None:
        if not (secret or public_key or jwks_url):
            raise ValueError("set WSH_JWT_SECRET, WSH_JWT_PUBLIC_KEY or WSH_JWKS_URL")
        self._secret = secret
        self._public_key = public_key
        self._key = _prepared(secret, public_key)  # parsed once, not per token
        self.jwks_url = jwks_url
        self.key_set: KeySet | None = KeySet() if jwks_url else None
        self._leeway = leeway
        self.audience = audience
        self.issuer = issuer
        self.cache = VerifiedTokens(cache_size)

    def use_keys(self, key_set: KeySet) -> None:
        """Verify with these keys from now on; forget cached tokens if any key changed."""
        if self.key_set is not None and not self.key_set.same_keys(key_set):
            self.cache.clear()  # a key removed may have been revoked
        self.key_set = key_set

    def verify(self, token: str, now: float | None = None) -> Identity:
        """Return the identity a token carries, or raise :class:`InvalidToken`."""
        clock = time.time() if now is None else now
        digest = self.cache.digest(token)
        cached = self.cache.get(digest, clock - self._leeway)
        if cached is not None:
            return cached
        identity = self._verify(token, now)
        if identity.expires_at > clock - self._leeway:
            self.cache.put(digest, identity)
        return identity

    def _verify(self, token: str, now: float | None) -> Identity:
        try:
            claims = jwt.decode(
                token,
                key=self._key_for(token),
                algorithms=self._algorithms(),
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["sub", "exp"], "verify_exp": now is None},
                leeway=self._leeway,
            )
        except InvalidToken:
            raise
        except TypeError:  # PyJWT, for a token whose alg does not fit the key's type
            raise InvalidToken("token algorithm does not match the server's key") from None
        except (jwt.PyJWTError, ValueError) as exc:
            raise InvalidToken(self._describe(exc)) from None
        if now is not None and claims["exp"] <= now - self._leeway:
            raise InvalidToken("token expired")
        return _identity(claims)

    def _key_for(self, token: str) -> Any:
        if self.key_set is not None:
            try:
                kid = jwt.get_unverified_header(token).get("kid")
            except jwt.PyJWTError as exc:
                raise InvalidToken(f"invalid token: {exc}") from None
            return self.key_set.key_for(kid if isinstance(kid, str) else None)
        return self._key

    def _algorithms(self) -> list[str]:
        if self._secret and not (self._public_key or self.key_set is not None):
            return ["HS256"]
        return ["RS256", "ES256"]

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, jwt.InvalidAudienceError):
            if self.audience is None:
                return "token has an audience ('aud'); set --jwt-audience to accept it"
            return f"token audience is not {self.audience!r}"
        if isinstance(exc, jwt.InvalidIssuerError):
            return f"token issuer is not {self.issuer!r}"
        return _describe(exc)


def _prepared(secret: str | None, public_key: str | None) -> Any:
    """The verification key parsed once (PyJWT would parse a PEM or vet a secret on
    every token): a PyJWK for the secret, a key object for the PEM."""
    if public_key:
        for name in ("RS256", "ES256"):
            try:
                return jwt.get_algorithm_by_name(name).prepare_key(public_key)
            except (jwt.PyJWTError, ValueError):
                continue
        return public_key  # let decode say what is wrong with it, token by token
    if secret:
        encoded = base64.urlsafe_b64encode(secret.encode()).rstrip(b"=").decode()
        return jwt.PyJWK({"kty": "oct", "k": encoded}, algorithm="HS256")
    return None


def _raw(key: Any) -> Any:
    return key.key if isinstance(key, jwt.PyJWK) else key


def _key_bytes(key: Any) -> bytes:
    """A comparable form of a public key (PEM), or of anything else (its repr)."""
    public_bytes = getattr(key, "public_bytes", None)
    if public_bytes is None:
        return repr(key).encode()
    from cryptography.hazmat.primitives import serialization

    return bytes(
        public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


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
