"""Access tokens, refresh tokens, MFA challenges and API key material.

Access tokens are short-lived JWTs (HS256 under a key derived from the instance secret) that
name a session; every request still checks that the session is live, so logout, a password
change or removing an operator takes effect at once rather than when the token expires.
Refresh tokens, recovery codes and API keys are random strings of which only a keyed hash is
stored.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from confide.core.clock import utcnow
from confide.core.errors import InvalidToken
from confide.core.secrets import InstanceSecret

ACCESS_TOKEN_TYPE = "access"
VISITOR_TOKEN_TYPE = "visitor"
DEFAULT_VISITOR_TOKEN_TTL_DAYS = 30  # Settings.visitor_token_ttl_days
MFA_CHALLENGE_TYPE = "mfa"
REOPEN_TOKEN_TYPE = "reopen"  # the link in an e-mailed answer (confide.chat.offline)
REFRESH_TOKEN_PREFIX = "cfr_"
API_KEY_PREFIX = "cfk_"
RECOVERY_CODE_COUNT = 10
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class AccessClaims:
    operator_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True)
class ApiKeyMaterial:
    prefix: str
    secret: str

    @property
    def full(self) -> str:
        return f"{API_KEY_PREFIX}{self.prefix}_{self.secret}"


class TokenService:
    def __init__(
        self,
        secret: InstanceSecret,
        *,
        access_ttl_seconds: int,
        mfa_ttl_seconds: int,
        visitor_ttl_days: int = DEFAULT_VISITOR_TOKEN_TTL_DAYS,
    ):
        self._secret = secret
        self._signing_key = secret.derive("jwt-signing")
        self.access_ttl = timedelta(seconds=access_ttl_seconds)
        self.mfa_ttl = timedelta(seconds=mfa_ttl_seconds)
        self.visitor_ttl = timedelta(days=visitor_ttl_days)

    # -- JWTs ---------------------------------------------------------------------------
    def _encode(self, claims: dict[str, Any], ttl: timedelta) -> tuple[str, datetime]:
        now = utcnow()
        expires = now + ttl
        payload = {**claims, "iat": int(now.timestamp()), "exp": int(expires.timestamp())}
        return jwt.encode(payload, self._signing_key, algorithm=_ALGORITHM), expires

    def _decode(self, token: str, expected_type: str) -> dict[str, Any]:
        try:
            # Expiry is checked against confide's clock below, not the wall clock.
            payload: dict[str, Any] = jwt.decode(
                token,
                self._signing_key,
                algorithms=[_ALGORITHM],
                options={
                    "verify_exp": False,
                    # iat/nbf against the wall clock would refuse tokens from a node whose
                    # clock runs slightly ahead; expiry is what matters, checked below.
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "typ", "sub"],
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken() from exc
        if payload.get("typ") != expected_type:
            raise InvalidToken()
        if not isinstance(payload["exp"], int) or payload["exp"] < utcnow().timestamp():
            raise InvalidToken("The token has expired; refresh it or sign in again.")
        return payload

    def issue_access_token(
        self, operator_id: uuid.UUID, session_id: uuid.UUID
    ) -> tuple[str, datetime]:
        return self._encode(
            {"typ": ACCESS_TOKEN_TYPE, "sub": str(operator_id), "sid": str(session_id)},
            self.access_ttl,
        )

    def read_access_token(self, token: str) -> AccessClaims:
        payload = self._decode(token, ACCESS_TOKEN_TYPE)
        try:
            return AccessClaims(
                operator_id=uuid.UUID(payload["sub"]),
                session_id=uuid.UUID(payload["sid"]),
                expires_at=datetime.fromtimestamp(payload["exp"], tz=UTC),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidToken() from exc

    def issue_mfa_challenge(self, operator_id: uuid.UUID, transport: str) -> str:
        """A signed challenge naming the operator; ``jti`` lets a completed one be refused."""
        token, _ = self._encode(
            {
                "typ": MFA_CHALLENGE_TYPE,
                "sub": str(operator_id),
                "transport": transport,
                "jti": secrets.token_hex(16),
            },
            self.mfa_ttl,
        )
        return token

    def read_mfa_challenge_id(self, token: str) -> tuple[str, datetime]:
        """The challenge's id and expiry, to spend it once (``spent_mfa_challenges``).
        Raises ``InvalidToken`` for a challenge without an id (issued by an older release)."""
        payload = self._decode(token, MFA_CHALLENGE_TYPE)
        jti = payload.get("jti")
        if not isinstance(jti, str) or not 16 <= len(jti) <= 32:
            raise InvalidToken("This sign-in challenge is no longer valid; sign in again.")
        return jti, datetime.fromtimestamp(payload["exp"], tz=UTC)

    def read_mfa_challenge(self, token: str) -> tuple[uuid.UUID, str]:
        payload = self._decode(token, MFA_CHALLENGE_TYPE)
        try:
            return uuid.UUID(payload["sub"]), str(payload.get("transport", "token"))
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidToken() from exc

    def issue_visitor_token(self, visitor_id: uuid.UUID, workspace_id: uuid.UUID) -> str:
        token, _ = self._encode(
            {"typ": VISITOR_TOKEN_TYPE, "sub": str(visitor_id), "ws": str(workspace_id)},
            self.visitor_ttl,
        )
        return token

    def read_visitor_token(self, token: str) -> tuple[uuid.UUID, uuid.UUID]:
        payload = self._decode(token, VISITOR_TOKEN_TYPE)
        try:
            return uuid.UUID(payload["sub"]), uuid.UUID(payload["ws"])
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidToken() from exc

    def issue_reopen_token(
        self, conversation_id: uuid.UUID, visitor_id: uuid.UUID, ttl_seconds: int
    ) -> tuple[str, datetime]:
        """A signed link token that lets the visitor back into one conversation until it
        expires; returns it with its expiry (UTC)."""
        return self._encode(
            {"typ": REOPEN_TOKEN_TYPE, "sub": str(visitor_id), "conv": str(conversation_id)},
            timedelta(seconds=ttl_seconds),
        )

    def read_reopen_token(self, token: str) -> tuple[uuid.UUID, uuid.UUID]:
        """(conversation id, visitor id); InvalidToken when forged, altered or expired."""
        payload = self._decode(token, REOPEN_TOKEN_TYPE)
        try:
            return uuid.UUID(payload["conv"]), uuid.UUID(payload["sub"])
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidToken() from exc

    # -- random secrets stored as keyed hashes ------------------------------------------
    def new_refresh_token(self) -> str:
        return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)

    def hash_refresh_token(self, token: str) -> str:
        return self._secret.keyed_hash("refresh-token", token)

    def new_recovery_codes(self) -> list[str]:
        alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
        codes = []
        for _ in range(RECOVERY_CODE_COUNT):
            raw = "".join(secrets.choice(alphabet) for _ in range(10))
            codes.append(f"{raw[:5]}-{raw[5:]}")
        return codes

    def hash_recovery_code(self, code: str) -> str:
        return self._secret.keyed_hash("recovery-code", code.strip().lower().replace(" ", ""))

    def new_api_key(self) -> ApiKeyMaterial:
        return ApiKeyMaterial(prefix=secrets.token_hex(6), secret=secrets.token_urlsafe(32))

    def hash_api_key_secret(self, secret: str) -> str:
        return self._secret.keyed_hash("api-key", secret)

    @staticmethod
    def split_api_key(full: str) -> tuple[str, str] | None:
        if not full.startswith(API_KEY_PREFIX):
            return None
        prefix, sep, secret = full[len(API_KEY_PREFIX) :].partition("_")
        if not sep or not prefix or not secret or len(prefix) > 16:
            return None
        return prefix, secret
