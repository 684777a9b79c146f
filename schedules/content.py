"""A clinic's own wording: drafts and approvals of snippets, and the catalog the bot sends from.

The shipped content (and the clinic's override folder, if any) is the base. Staff edit a snippet
on the staff pages, which stores a new unapproved SnippetVersion; only the newest *approved*
version of each snippet and language is laid over the base. Approving bumps the clinic's
`content_version`, so every process's cached catalog knows to reload (within the clinic cache's
30 seconds in other processes).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from messages.catalog import Catalog, Snippet, load_catalog
from messages.check import Problem, check_catalog
from schedules.models import Clinic, SnippetVersion

MAX_SNIPPET_CHARS = 1600
VERSION_SOURCE = "staff pages, version {version}"


def _newest_approved(session: Session, clinic_id: int) -> list[SnippetVersion]:
    """Return the newest approved version of each snippet and language of the clinic."""
    newest = (
        select(
            SnippetVersion.snippet_id,
            SnippetVersion.language,
            func.max(SnippetVersion.version).label("version"),
        )
        .where(SnippetVersion.clinic_id == clinic_id, SnippetVersion.approved_at.is_not(None))
        .group_by(SnippetVersion.snippet_id, SnippetVersion.language)
        .subquery()
    )
    return list(
        session.scalars(
            select(SnippetVersion).join(
                newest,
                and_(
                    SnippetVersion.clinic_id == clinic_id,
                    SnippetVersion.snippet_id == newest.c.snippet_id,
                    SnippetVersion.language == newest.c.language,
                    SnippetVersion.version == newest.c.version,
                ),
            )
        )
    )


def with_text(
    base: Catalog,
    snippet_id: str,
    language: str,
    text: str,
    *,
    approved_by: str | None = None,
    approved_at: str | None = None,
    source: str = "draft",
) -> Snippet:
    """Return the base snippet with other words (and their approval, if any)."""
    found = base.snippet(snippet_id, language)
    if found.language != language:
        # The language lacks its own snippet: the edit adds one, without the other's keywords.
        found = replace(found, language=language, keywords=(), phrasings=())
    return replace(
        found, text=text, approved_by=approved_by, approved_at=approved_at, source=source
    )


def overlay(base: Catalog, versions: Iterable[SnippetVersion]) -> Catalog:
    """Return base with each approved version's text and approval laid over it."""
    table = {(s.id, s.language): s for s in base.snippets()}
    for version in versions:
        table[(version.snippet_id, version.language)] = with_text(
            base,
            version.snippet_id,
            version.language,
            version.text,
            approved_by=version.approved_by,
            approved_at=version.approved_at.isoformat() if version.approved_at else None,
            source=VERSION_SOURCE.format(version=version.version),
        )
    return Catalog(table.values())


def clinic_catalog(
    session: Session, clinic_id: int, content_dir: str | os.PathLike[str] | None
) -> Catalog:
    """Return what the clinic's bot sends: the base content with its newest approved versions."""
    base = load_catalog(content_dir or None)
    versions = _newest_approved(session, clinic_id)
    return overlay(base, versions) if versions else base


def versions_of(
    session: Session, clinic_id: int, snippet_id: str, language: str
) -> list[SnippetVersion]:
    """Return every version of one snippet of the clinic, newest first."""
    return list(
        session.scalars(
            select(SnippetVersion)
            .where(
                SnippetVersion.clinic_id == clinic_id,
                SnippetVersion.snippet_id == snippet_id,
                SnippetVersion.language == language,
            )
            .order_by(SnippetVersion.version.desc())
        )
    )


def pending_drafts(session: Session, clinic_id: int) -> dict[tuple[str, str], int]:
    """Return (snippet, language) -> version number of each newest version not yet approved."""
    newest = (
        select(
            SnippetVersion.snippet_id,
            SnippetVersion.language,
            func.max(SnippetVersion.version).label("version"),
        )
        .where(SnippetVersion.clinic_id == clinic_id)
        .group_by(SnippetVersion.snippet_id, SnippetVersion.language)
        .subquery()
    )
    rows = session.execute(
        select(SnippetVersion.snippet_id, SnippetVersion.language, SnippetVersion.version).join(
            newest,
            and_(
                SnippetVersion.clinic_id == clinic_id,
                SnippetVersion.snippet_id == newest.c.snippet_id,
                SnippetVersion.language == newest.c.language,
                SnippetVersion.version == newest.c.version,
                SnippetVersion.approved_at.is_(None),
            ),
        )
    )
    return {(row.snippet_id, row.language): row.version for row in rows}


def normalise_text(raw: str) -> str:
    """Return a draft as it will be stored: Windows line ends gone, no edge whitespace."""
    return raw.replace("\r\n", "\n").replace("\r", "\n").strip()


def text_problems(
    catalog: Catalog,
    snippet_id: str,
    language: str,
    text: str,
    clinic_values: Mapping[str, str],
) -> list[str]:
    """Return why text cannot stand in for this snippet (the content check, with the clinic's
    own name, phone and hours); empty when it passes."""
    if not text:
        return ["the text is empty"]
    if len(text) > MAX_SNIPPET_CHARS:
        return [f"the text is {len(text)} characters; at most {MAX_SNIPPET_CHARS}"]
    table = {(s.id, s.language): s for s in catalog.snippets()}
    table[(snippet_id, language)] = with_text(catalog, snippet_id, language, text)
    problems: list[Problem] = check_catalog(Catalog(table.values()), longest_values=clinic_values)
    return [p.message for p in problems if (p.snippet_id, p.language) == (snippet_id, language)]


class VersionConflict(Exception):
    """The snippet changed since the page was shown; the message says how."""


@dataclass(frozen=True)
class Approval:
    """What approving did."""

    version: int
    text: str
    was_default: bool


def save_draft(
    session: Session,
    clinic_id: int,
    snippet_id: str,
    language: str,
    text: str,
    author: str,
    now: datetime,
) -> SnippetVersion:
    """Add the next, unapproved version of a snippet (the caller has checked the text)."""
    latest = session.scalar(
        select(func.max(SnippetVersion.version)).where(
            SnippetVersion.clinic_id == clinic_id,
            SnippetVersion.snippet_id == snippet_id,
            SnippetVersion.language == language,
        )
    )
    version = SnippetVersion(
        clinic_id=clinic_id,
        snippet_id=snippet_id,
        language=language,
        version=(latest or 0) + 1,
        text=text,
        created_by=author,
        created_at=now,
    )
    session.add(version)
    # A concurrent save of the same number fails here on the unique constraint.
    session.flush()
    return version


def approve(
    session: Session,
    clinic_id: int,
    snippet_id: str,
    language: str,
    *,
    seen_version: int,
    default_text: str,
    approver: str,
    now: datetime,
) -> Approval:
    """Approve the newest version, or the shipped text when there is no version yet, and bump the
    clinic's content version. seen_version is the version the approver reviewed (0: the shipped
    text); a newer one, or one already approved, raises VersionConflict."""
    versions = versions_of(session, clinic_id, snippet_id, language)
    newest = versions[0] if versions else None
    if newest is None:
        if seen_version != 0:
            raise VersionConflict("that version no longer exists")
        # Approving the shipped text as is: record it as a version of its own.
        version = SnippetVersion(
            clinic_id=clinic_id,
            snippet_id=snippet_id,
            language=language,
            version=1,
            text=default_text,
            created_by=approver,
            created_at=now,
            approved_by=approver,
            approved_at=now,
        )
        session.add(version)
        session.flush()
        approved, was_default = version, True
    elif newest.approved_at is not None:
        raise VersionConflict(f"version {newest.version} is already approved")
    else:
        if newest.version != seen_version:
            raise VersionConflict(
                f"version {newest.version} was saved after the one you reviewed; review it first"
            )
        # Guarded so that of two simultaneous approvals only one counts.
        result = session.execute(
            update(SnippetVersion)
            .where(SnippetVersion.id == newest.id, SnippetVersion.approved_at.is_(None))
            .values(approved_by=approver, approved_at=now)
        )
        if result.rowcount != 1:
            raise VersionConflict("someone approved it at the same moment")
        approved, was_default = newest, False
    session.execute(
        update(Clinic)
        .where(Clinic.id == clinic_id)
        .values(content_version=Clinic.content_version + 1)
    )
    return Approval(version=approved.version, text=approved.text, was_default=was_default)
