"""Staff pages for what the bot says: every snippet, drafts and their approval (admins only).

An edit is stored as a new, unapproved version; patients keep getting the last approved text (or
the shipped one) until an admin approves the draft. A draft that fails the content check (over
its segment budget with this clinic's own name, phone and hours; missing 988, 911, STOP or
{clinic_phone} where required) is refused with the reasons. Approving bumps the clinic's
content_version: this process uses the new text at once, other processes within 30 seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.admin import audit, bp, require
from bot.admin.auth import Staff
from bot.admin.care_views import local_time
from bot.services import CLINIC_CACHE_SECONDS, services
from messages.catalog import SNIPPET_IDS, Catalog, ContentError, Snippet, load_catalog
from messages.check import check_catalog, summarise
from messages.intents import LANGUAGES
from schedules.clinic_values import clinic_values
from schedules.content import (
    MAX_SNIPPET_CHARS,
    VersionConflict,
    approve,
    clinic_catalog,
    normalise_text,
    pending_drafts,
    save_draft,
    text_problems,
    versions_of,
    with_text,
)
from schedules.db import transaction
from schedules.models import Clinic, SnippetVersion, StaffRole
from schedules.settings import effective_settings

LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}


@dataclass(frozen=True)
class ClinicContent:
    """The clinic's shipped base, what it sends now, and the values its texts are checked with."""

    base: Catalog
    catalog: Catalog
    values: dict[str, str]


def _content(session: Session, staff: Staff) -> ClinicContent:
    """Load the staff member's clinic content."""
    clinic = session.get_one(Clinic, staff.clinic_id)
    content_dir = effective_settings(clinic.settings)["content_dir"] or None
    return ClinicContent(
        base=load_catalog(content_dir),
        catalog=clinic_catalog(session, clinic.id, content_dir),
        values=clinic_values(clinic),
    )


def approval_text(snippet: Snippet, when: Any) -> str:
    """Say who approved a snippet and when (on the clinic's clock), or that nobody has."""
    if not snippet.approved:
        if snippet.source == "default":
            return "shipped default, not approved"
        return "not approved"
    stamp = snippet.approved_at or ""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        moment = None
    # An override file's approval is a date; one made on these pages is a UTC time.
    if moment is not None and moment.tzinfo is not None:
        stamp = when(moment)
    return f"{snippet.approved_by}, {stamp}"


def _check(snippet_id: str, language: str) -> None:
    """Answer 404 for a snippet or language the content does not have."""
    if snippet_id not in SNIPPET_IDS or language not in LANGUAGES:
        abort(404)


@bp.get("/content")
@require(StaffRole.ADMIN)
def content() -> ResponseReturnValue:
    """List every snippet in every language: text, segments, approval and problems."""
    staff: Staff = g.staff
    when = local_time(staff)
    try:
        with transaction(services().sessions) as session:
            loaded = _content(session, staff)
            drafts = pending_drafts(session, staff.clinic_id)
    except ContentError as exc:
        return render_template("admin/content.html", load_error=str(exc)), 500
    rows = []
    for row in summarise(loaded.catalog, loaded.values):
        snippet = loaded.catalog.snippet(row["id"], row["language"])
        rows.append(
            {
                **row,
                "text": snippet.text,
                "approval": approval_text(snippet, when),
                "draft": drafts.get((row["id"], row["language"])),
                "over": row["segments"] is None or row["segments"] > row["budget"],
            }
        )
    problems = check_catalog(loaded.catalog, longest_values=loaded.values)
    return render_template(
        "admin/content.html",
        rows=rows,
        problems=problems,
        unapproved=sum(1 for row in rows if not row["approved"]),
        drafts=len(drafts),
        language_names=LANGUAGE_NAMES,
        load_error=None,
    )


def _draft_preview(
    loaded: ClinicContent, snippet_id: str, language: str, text: str
) -> dict[str, Any]:
    """Return the segment count of text with the clinic's values (longest visit values)."""
    draft = with_text(loaded.catalog, snippet_id, language, text)
    (row,) = summarise(Catalog([draft]), loaded.values)
    return row


def _snippet_page(
    staff: Staff,
    snippet_id: str,
    language: str,
    *,
    draft_text: str | None = None,
    problems: list[str] | None = None,
    checked: bool = False,
) -> str:
    """Render the page of one snippet in one language."""
    when = local_time(staff)
    with transaction(services().sessions) as session:
        loaded = _content(session, staff)
        versions = versions_of(session, staff.clinic_id, snippet_id, language)
    current = loaded.catalog.snippet(snippet_id, language)
    own_language = loaded.catalog.has(snippet_id, language)
    pending: SnippetVersion | None = (
        versions[0] if versions and versions[0].approved_at is None else None
    )
    base_text = loaded.base.snippet(snippet_id, language).text
    editing = draft_text if draft_text is not None else (pending.text if pending else current.text)
    return render_template(
        "admin/snippet.html",
        snippet_id=snippet_id,
        language=language,
        language_name=LANGUAGE_NAMES.get(language, language),
        current=current,
        own_language=own_language,
        current_count=_draft_preview(loaded, snippet_id, language, current.text),
        approval=approval_text(current, when),
        versions=versions,
        pending=pending,
        pending_count=(
            _draft_preview(loaded, snippet_id, language, pending.text) if pending else None
        ),
        pending_problems=(
            text_problems(loaded.catalog, snippet_id, language, pending.text, loaded.values)
            if pending
            else []
        ),
        can_approve_shipped=not versions and loaded.base.has(snippet_id, language),
        base_text=base_text,
        editing=editing,
        draft_count=(
            _draft_preview(loaded, snippet_id, language, editing) if editing.strip() else None
        ),
        problems=problems or [],
        checked=checked,
        max_chars=MAX_SNIPPET_CHARS,
        when=when,
    )


@bp.get("/content/<snippet_id>/<language>")
@require(StaffRole.ADMIN)
def snippet(snippet_id: str, language: str) -> ResponseReturnValue:
    """Show one snippet: what is sent now, its versions, and a form to edit it."""
    _check(snippet_id, language)
    return _snippet_page(g.staff, snippet_id, language)


@bp.post("/content/<snippet_id>/<language>")
@require(StaffRole.ADMIN)
def snippet_save(snippet_id: str, language: str) -> ResponseReturnValue:
    """Check an edit, and unless only checking, store it as a new unapproved version."""
    _check(snippet_id, language)
    staff: Staff = g.staff
    text = normalise_text(request.form.get("text", ""))
    only_check = request.form.get("action") == "check"
    with transaction(services().sessions) as session:
        loaded = _content(session, staff)
        problems = text_problems(loaded.catalog, snippet_id, language, text, loaded.values)
        if only_check or problems:
            saved = None
        else:
            versions = versions_of(session, staff.clinic_id, snippet_id, language)
            pending = versions[0] if versions and versions[0].approved_at is None else None
            current = loaded.catalog.snippet(snippet_id, language).text
            if text == (pending.text if pending else current):
                flash("Nothing changed, so nothing was saved.")
                return redirect(
                    url_for("admin.snippet", snippet_id=snippet_id, language=language), code=303
                )
            try:
                with session.begin_nested():
                    saved = save_draft(
                        session,
                        staff.clinic_id,
                        snippet_id,
                        language,
                        text,
                        staff.email,
                        datetime.now(UTC),
                    ).version
            except IntegrityError:
                flash("Someone saved this snippet at the same moment. Review their draft first.")
                return redirect(
                    url_for("admin.snippet", snippet_id=snippet_id, language=language), code=303
                )
            audit(
                session,
                "edit_snippet",
                target_type="snippet_version",
                detail=f"{snippet_id}/{language} version {saved}",
            )
    if saved is None:
        page = _snippet_page(
            staff, snippet_id, language, draft_text=text, problems=problems, checked=True
        )
        return page, 422 if problems else 200
    flash(
        f"Draft version {saved} saved. Patients keep getting the approved text until an admin "
        "approves this draft."
    )
    return redirect(url_for("admin.snippet", snippet_id=snippet_id, language=language), code=303)


@bp.post("/content/<snippet_id>/<language>/approve")
@require(StaffRole.ADMIN)
def snippet_approve(snippet_id: str, language: str) -> ResponseReturnValue:
    """Approve the newest version (or the shipped text as is) after checking it again."""
    _check(snippet_id, language)
    staff: Staff = g.staff
    here = url_for("admin.snippet", snippet_id=snippet_id, language=language)
    try:
        seen = int(request.form.get("version", ""))
    except ValueError:
        abort(400, description="Which version to approve is missing.")
    problems: list[str] = []
    with transaction(services().sessions) as session:
        loaded = _content(session, staff)
        versions = versions_of(session, staff.clinic_id, snippet_id, language)
        if versions:
            text = versions[0].text
        elif loaded.base.has(snippet_id, language):
            text = loaded.base.snippet(snippet_id, language).text
        else:
            abort(404)
        problems = text_problems(loaded.catalog, snippet_id, language, text, loaded.values)
        if not problems:
            try:
                approved = approve(
                    session,
                    staff.clinic_id,
                    snippet_id,
                    language,
                    seen_version=seen,
                    default_text=text,
                    approver=staff.email,
                    now=datetime.now(UTC),
                )
            except VersionConflict as exc:
                flash(f"Not approved: {exc}.")
                return redirect(here, code=303)
            audit(
                session,
                "approve_snippet",
                target_type="snippet_version",
                detail=f"{snippet_id}/{language} version {approved.version}"
                + (" (shipped text)" if approved.was_default else ""),
            )
    if problems:
        flash("Not approved: this text fails the content check: " + "; ".join(problems))
        return redirect(here, code=303)
    # Other processes pick the new content_version up when their clinic cache expires.
    services().clinics.forget()
    flash(
        f"Version {approved.version} approved. Patients get this text from now on "
        f"(every server within {int(CLINIC_CACHE_SECONDS)} seconds)."
    )
    return redirect(here, code=303)
