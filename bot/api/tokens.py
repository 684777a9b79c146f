"""API tokens: random bearer secrets of which only a SHA-256 hash and a short prefix are stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from schedules.models import ApiToken, Clinic, StaffAudit, utcnow

TOKEN_MARK = "cbk_"
# 30 random bytes are 40 URL-safe characters: 240 bits, far beyond guessing.
TOKEN_BYTES = 30
TOKEN_PATTERN = re.compile(r"cbk_[A-Za-z0-9_-]{40}")
# What is stored and shown to tell tokens apart: the mark and 8 characters (48 bits).
PREFIX_LENGTH = len(TOKEN_MARK) + 8
MAX_NAME = 120
DEFAULT_NAME = "api"


class InvalidToken(ValueError):
    """A token request that cannot be carried out (bad name, unknown prefix...)."""


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """Who a valid bearer token speaks for, detached from any session."""

    token_id: int
    name: str
    prefix: str
    clinic_id: int
    clinic_slug: str
    timezone: str
    last_used_at: datetime | None


def hash_token(raw: str) -> str:
    """Return the hex SHA-256 of a token, the only form in which it is stored."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def new_token() -> str:
    """Return a fresh random token."""
    return TOKEN_MARK + secrets.token_urlsafe(TOKEN_BYTES)


def create_token(
    session: Session, clinic: Clinic, name: str | None = None, actor: str = "cli"
) -> tuple[str, ApiToken]:
    """Add a token for clinic, audited, and return the raw token (shown once) and its row."""
    name = (name if name is not None else DEFAULT_NAME).strip()
    if not name:
        raise InvalidToken("the token name is empty")
    if len(name) > MAX_NAME:
        raise InvalidToken(f"the token name is longer than {MAX_NAME} characters")
    clash = session.scalar(
        select(ApiToken.id).where(
            ApiToken.clinic_id == clinic.id, ApiToken.name == name, ApiToken.revoked_at.is_(None)
        )
    )
    if clash is not None:
        # Audit entries name the token, so two live tokens must not share a name.
        raise InvalidToken(
            f"the clinic already has a token named {name!r}; revoke it or pick another"
        )
    raw = new_token()
    row = ApiToken(
        clinic_id=clinic.id, name=name, token_hash=hash_token(raw), prefix=raw[:PREFIX_LENGTH]
    )
    session.add(row)
    session.flush()
    _audit(session, clinic, actor, "api_token_created", row)
    return raw, row


def _audit(session: Session, clinic: Clinic, actor: str, action: str, token: ApiToken) -> None:
    """Add an audit entry for a change to a token (never the token itself)."""
    session.add(
        StaffAudit(
            clinic_id=clinic.id,
            actor=actor,
            action=action,
            target_type="api_token",
            target_id=token.id,
            detail=f"{token.prefix} {token.name}"[:500],
            at=utcnow(),
        )
    )


def find_owner(session: Session, raw: str) -> tuple[TokenOwner | None, bool]:
    """Return the owner of a live token and whether the token exists but was revoked."""
    if not TOKEN_PATTERN.fullmatch(raw):
        return None, False
    found = session.execute(
        select(ApiToken, Clinic.slug, Clinic.timezone)
        .join(Clinic, ApiToken.clinic_id == Clinic.id)
        .where(ApiToken.token_hash == hash_token(raw))
    ).first()
    if found is None:
        return None, False
    token, slug, timezone = found
    if token.revoked_at is not None:
        return None, True
    owner = TokenOwner(
        token_id=token.id,
        name=token.name,
        prefix=token.prefix,
        clinic_id=token.clinic_id,
        clinic_slug=slug,
        timezone=timezone,
        last_used_at=token.last_used_at,
    )
    return owner, False


def touch(session: Session, token_id: int, now: datetime, not_since: datetime) -> None:
    """Record a use of the token unless one was recorded after not_since; no commit."""
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            (ApiToken.last_used_at.is_(None)) | (ApiToken.last_used_at < not_since),
        )
        .values(last_used_at=now)
    )


def list_tokens(session: Session, clinic: Clinic) -> list[ApiToken]:
    """Return the clinic's tokens, oldest first."""
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.clinic_id == clinic.id).order_by(ApiToken.id)
        )
    )


def revoke_token(
    session: Session, clinic: Clinic, prefix: str, now: datetime, actor: str = "cli"
) -> ApiToken:
    """Revoke the clinic's one live token starting with prefix, audited; no commit."""
    prefix = prefix.strip()
    if len(prefix) < len(TOKEN_MARK) + 4:
        raise InvalidToken(f"give at least {len(TOKEN_MARK) + 4} characters of the token prefix")
    matches = [
        t
        for t in list_tokens(session, clinic)
        if t.revoked_at is None and (t.prefix.startswith(prefix) or prefix.startswith(t.prefix))
    ]
    if not matches:
        raise InvalidToken(f"no live token of this clinic starts with {prefix!r}")
    if len(matches) > 1:
        raise InvalidToken(f"{len(matches)} tokens start with {prefix!r}; give more characters")
    matches[0].revoked_at = now
    _audit(session, clinic, actor, "api_token_revoked", matches[0])
    return matches[0]
