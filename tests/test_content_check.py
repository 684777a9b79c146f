"""The content check: what `clinicbot content check` reports before anything reaches a patient."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from messages.catalog import SNIPPET_IDS, Catalog, load_catalog
from messages.check import (
    LONGEST_VALUES,
    Problem,
    check_catalog,
    format_report,
    format_table,
    normalise_phrase,
    summarise,
)
from messages.intents import LANGUAGES

ALL_IDS = SNIPPET_IDS


@pytest.fixture
def override(tmp_path: Path) -> Callable[..., Catalog]:
    """Return a function loading the catalog with override files (language=TOML text)."""

    def load(**files: str) -> Catalog:
        folder = tmp_path / "clinic"
        folder.mkdir(exist_ok=True)
        for name, content in files.items():
            (folder / f"{name}.toml").write_text(textwrap.dedent(content), encoding="utf-8")
        return load_catalog(folder)

    return load


def messages_for(problems: list[Problem], snippet_id: str, language: str) -> list[str]:
    """Return the messages of the problems about one snippet in one language."""
    return [p.message for p in problems if (p.snippet_id, p.language) == (snippet_id, language)]


def with_text(snippet_id: str, language: str, text: str) -> Catalog:
    """Return the shipped catalog with one snippet's text replaced."""
    return Catalog(
        dataclasses.replace(s, text=text) if (s.id, s.language) == (snippet_id, language) else s
        for s in load_catalog().snippets()
    )


def test_shipped_content_passes_the_check() -> None:
    problems = check_catalog(load_catalog())
    assert problems == [], format_report(problems)


def test_strict_check_reports_every_shipped_snippet_as_unapproved() -> None:
    problems = check_catalog(load_catalog(), strict=True)
    assert {(p.snippet_id, p.language) for p in problems} == {
        (snippet_id, language) for snippet_id in ALL_IDS for language in LANGUAGES
    }
    assert all("not approved" in p.message for p in problems)


def test_strict_check_accepts_an_approved_override(override: Callable[..., Catalog]) -> None:
    catalog = override(
        en="""
        [snippets.crisis]
        approved_by = "Dr. Rivera"
        approved_at = 2025-01-10
        """
    )
    problems = check_catalog(catalog, strict=True)
    assert messages_for(problems, "crisis", "en") == []
    assert messages_for(problems, "crisis", "es") != []


def test_text_over_budget_is_reported_with_encoding_units_and_segments(
    override: Callable[..., Catalog],
) -> None:
    catalog = override(en='[snippets.opt_out]\ntext = "Reply START. ' + "x" * 200 + '"\n')
    (message,) = messages_for(check_catalog(catalog), "opt_out", "en")
    assert message.startswith("over budget: 2 segments (GSM-7, 213 units")
    assert message.endswith("budget is 1")


def test_curly_quote_over_budget_names_the_character(override: Callable[..., Catalog]) -> None:
    text = "You\u2019re unsubscribed. Reply START to resubscribe. " + "x" * 40
    catalog = override(en=f'[snippets.opt_out]\ntext = "{text}"\n')
    (message,) = messages_for(check_catalog(catalog), "opt_out", "en")
    assert "UCS-2" in message and "'\u2019'" in message


def test_raising_the_budget_makes_a_long_text_pass(override: Callable[..., Catalog]) -> None:
    catalog = override(
        en='[snippets.opt_out]\ntext = "Reply START. ' + "x" * 200 + '"\nbudget = 2\n'
    )
    assert messages_for(check_catalog(catalog), "opt_out", "en") == []


def test_budget_uses_the_clinics_longest_values() -> None:
    long_name = {"clinic_name": "N" * 200}
    problems = check_catalog(load_catalog(), longest_values=long_name)
    assert any(m.startswith("over budget") for m in messages_for(problems, "opt_out", "en"))


def test_unknown_placeholder_is_reported(override: Callable[..., Catalog]) -> None:
    catalog = override(es='[snippets.fasting]\ntext = "Llame al {clinic_fax}."\n')
    (message,) = messages_for(check_catalog(catalog), "fasting", "es")
    assert "{clinic_fax}" in message and "unknown placeholder" in message


@pytest.mark.parametrize(
    ("language", "content", "clash"),
    [
        pytest.param(
            "en",
            '[snippets.arrival]\nphrasings = ["can i eat"]\n',
            "fasting",
            id="same phrasing",
        ),
        pytest.param(
            "en",
            '[snippets.arrival]\nphrasings = ["Can I eat?"]\n',
            "fasting",
            id="differs only by case and punctuation",
        ),
        pytest.param(
            "es",
            '[snippets.arrival]\nphrasings = ["puedo comer"]\n',
            "fasting",
            id="spanish phrasing",
        ),
        pytest.param(
            "es",
            '[snippets.urgent]\nkeywords = ["URGENTE", "SESIÓN"]\n',
            "sessions",
            id="keyword differs only by accent",
        ),
    ],
)
def test_phrase_reaching_two_snippets_is_reported(
    override: Callable[..., Catalog], language: str, content: str, clash: str
) -> None:
    catalog = override(**{language: content})
    problems = check_catalog(catalog)
    (problem,) = problems
    assert problem.language == language
    assert {problem.snippet_id, *problem.message.split()} >= {clash}


def test_same_phrase_in_two_languages_is_fine(override: Callable[..., Catalog]) -> None:
    catalog = override(es='[snippets.menu]\nphrasings = ["what can i text"]\n')
    assert check_catalog(catalog) == []


@pytest.mark.parametrize(
    "word", ["STOP", "Cancel", "yes", "START", "END", "QUIT", "NEXT", "C", "R", "RIDE", "CALL"]
)
def test_opt_out_and_appointment_words_cannot_be_topic_keywords(
    override: Callable[..., Catalog], word: str
) -> None:
    catalog = override(en=f'[snippets.sessions]\nkeywords = ["SESSIONS", "{word}"]\n')
    (message,) = messages_for(check_catalog(catalog), "sessions", "en")
    assert "opt-out/opt-in or appointment word" in message


def test_system_snippet_with_keywords_is_reported(override: Callable[..., Catalog]) -> None:
    catalog = override(en='[snippets.crisis]\nkeywords = ["CRISIS"]\n')
    (message,) = messages_for(check_catalog(catalog), "crisis", "en")
    assert "only for info topics" in message


def test_snippet_missing_from_a_language_is_reported() -> None:
    catalog = Catalog(
        s for s in load_catalog().snippets() if (s.id, s.language) != ("crisis", "es")
    )
    problems = check_catalog(catalog)
    assert problems == [
        Problem("crisis", "es", "missing from es.toml; es patients would get the English text")
    ]


@pytest.mark.parametrize(
    ("snippet_id", "language", "remove", "required"),
    [
        ("crisis", "en", "988", "988"),
        ("crisis", "es", "988", "988"),
        ("crisis", "en", "911", "911"),
        ("emergency", "en", "911", "911"),
        ("emergency", "es", "911", "911"),
        ("opt_out", "en", "START", "START"),
        ("opt_out", "es", "START", "START"),
        ("opt_in", "en", "STOP", "STOP"),
        ("opt_in", "es", "STOP", "STOP"),
        ("help", "en", "STOP", "STOP"),
        ("help", "en", "{clinic_phone}", "{clinic_phone}"),
        ("help", "en", "automated", "automated"),
        ("help", "en", "Msg & data rates may apply", "Msg & data rates may apply"),
        ("help", "en", "911", "911"),
        ("help", "es", "automatizada", "automatizad"),
        ("help", "es", "tarifas de mensajes y datos", "tarifas de mensajes y datos"),
        ("fallback", "en", "{clinic_phone}", "{clinic_phone}"),
        ("fallback", "es", "{clinic_phone}", "{clinic_phone}"),
        ("urgent", "en", "988", "988"),
        ("no_appointment", "es", "{clinic_phone}", "{clinic_phone}"),
    ],
)
def test_dropping_required_content_is_reported(
    snippet_id: str, language: str, remove: str, required: str
) -> None:
    shipped = load_catalog().snippet(snippet_id, language).text
    assert remove in shipped
    catalog = with_text(snippet_id, language, shipped.replace(remove, "xxx"))
    assert f"must contain {required!r}" in messages_for(
        check_catalog(catalog), snippet_id, language
    )


@pytest.mark.parametrize(
    ("snippet_id", "language", "text"),
    [
        ("crisis", "en", "Call or text 988, or 911 if in danger. Your ketamine team knows."),
        ("opt_out", "es", "Baja de la clinica de Ketamina. Responda START."),
        ("help", "en", "KETAMINE clinic. {clinic_name} {clinic_phone} {clinic_hours}"),
        ("rate_limited", "en", "Esketamine line busy. Call {clinic_phone} or 911."),
    ],
)
def test_treatment_name_in_a_texts_shown_to_anyone_is_reported(
    snippet_id: str, language: str, text: str
) -> None:
    catalog = with_text(snippet_id, language, text)
    messages = messages_for(check_catalog(catalog), snippet_id, language)
    assert any("must not name the treatment" in m for m in messages)


def test_treatment_name_in_a_clinic_name_is_the_clinics_choice() -> None:
    # LONGEST_VALUES's clinic name contains "Ketamine"; only the raw text is checked.
    assert "Ketamine" in LONGEST_VALUES["clinic_name"]
    assert check_catalog(load_catalog()) == []


@pytest.mark.parametrize("snippet_id", ["side_effects", "how_it_works", "sessions"])
def test_answers_to_a_patients_question_may_name_the_treatment(snippet_id: str) -> None:
    text = "Ketamine questions? Call {clinic_phone}."
    assert messages_for(check_catalog(with_text(snippet_id, "en", text)), snippet_id, "en") == []


def test_menu_missing_a_topic_keyword_is_reported() -> None:
    menu = load_catalog().snippet("menu", "en").text.replace("FASTING, ", "")
    messages = messages_for(check_catalog(with_text("menu", "en", menu)), "menu", "en")
    assert messages == ["does not list a keyword for fasting (FASTING)"]


def test_menu_missing_an_appointment_word_is_reported() -> None:
    menu = load_catalog().snippet("menu", "es").text.replace("RIDE", "VIAJE")
    messages = messages_for(check_catalog(with_text("menu", "es", menu)), "menu", "es")
    assert messages == ["does not list RIDE"]


def test_half_approved_snippet_is_reported(override: Callable[..., Catalog]) -> None:
    catalog = override(en='[snippets.help]\napproved_by = "Dr. Rivera"\n')
    assert messages_for(check_catalog(catalog), "help", "en") == [
        "approved_by and approved_at must be set together"
    ]


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("SIDE EFFECTS", "side effects"),
        ("  Can I eat?  ", "can i eat"),
        ("¿Qué es este número?", "que es este numero"),
        ("CÓMO   FUNCIONA", "como funciona"),
        ("what's this", "whats this"),
        ("side-effects", "sideeffects"),
        ("!!!", ""),
    ],
)
def test_normalise_phrase(written: str, normalised: str) -> None:
    assert normalise_phrase(written) == normalised


def test_report_without_problems_says_so() -> None:
    assert format_report([]) == "Content OK: no problems found."


def test_report_lists_each_problem_and_a_count() -> None:
    report = format_report(
        [Problem("crisis", "es", "must contain '988'"), Problem("menu", None, "x")]
    )
    assert report.splitlines() == [
        "es crisis: must contain '988'",
        "- menu: x",
        "2 problems found.",
    ]


def test_summary_has_one_row_per_snippet_within_budget() -> None:
    rows = summarise(load_catalog())
    assert [(r["id"], r["language"]) for r in rows] == [
        (snippet_id, language) for snippet_id in ALL_IDS for language in LANGUAGES
    ]
    for row in rows:
        assert row["encoding"] == "GSM-7"
        assert 1 <= row["segments"] <= row["budget"]
        assert row["approved"] is False
        assert row["source"] == "shipped default"


def test_summary_table_has_a_header_and_a_line_per_snippet() -> None:
    table = format_table(summarise(load_catalog())).splitlines()
    assert table[0].split() == [
        "id",
        "language",
        "encoding",
        "units",
        "segments",
        "budget",
        "approved",
        "source",
    ]
    assert len(table) == 1 + len(ALL_IDS) * len(LANGUAGES)
    assert table[1].split()[:3] == ["help", "en", "GSM-7"]
