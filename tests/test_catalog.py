"""Loading shipped content and clinic overrides, and rendering snippets."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from messages.catalog import (
    CLINIC_PLACEHOLDERS,
    SNIPPET_IDS,
    Catalog,
    ContentError,
    Snippet,
    load_catalog,
)
from messages.intents import INFO_TOPICS, LANGUAGES, SYSTEM_SNIPPETS
from phrasebook import PHRASEBOOK

VALUES = {
    "clinic_name": "Riverside Clinic",
    "clinic_phone": "+1 (555) 555-0100",
    "clinic_hours": "Mon-Fri 9-5",
}
VISIT_VALUES = {
    "visit_day": "Tue, Nov 24",
    "visit_time": "9:15 AM",
    "no_food_after": "3:15 AM",
    "liquids_until": "7:15 AM",
    "arrive_by": "9:00 AM",
}

PHRASEBOOK_CASES = [
    (topic, language, phrase)
    for topic, by_language in PHRASEBOOK.items()
    for language, phrases in by_language.items()
    for phrase in phrases
]


def make_snippet(snippet_id: str = "help", language: str = "en", **changes: object) -> Snippet:
    """Return a snippet for tests, with changes applied."""
    fields: dict[str, object] = {
        "id": snippet_id,
        "language": language,
        "text": f"{snippet_id} in {language}",
        "keywords": (),
        "phrasings": (),
        "fact": "test",
        "budget": 2,
        "approved_by": None,
        "approved_at": None,
        "source": "default",
        **changes,
    }
    return Snippet(**fields)  # type: ignore[arg-type]


@pytest.fixture
def override_dir(tmp_path: Path) -> Callable[..., Path]:
    """Return a function writing override files (language=TOML text) into a fresh folder."""

    def write(**files: str) -> Path:
        folder = tmp_path / "clinic"
        folder.mkdir(exist_ok=True)
        for name, content in files.items():
            (folder / f"{name}.toml").write_text(textwrap.dedent(content), encoding="utf-8")
        return folder

    return write


def test_shipped_catalog_has_every_snippet_in_every_language() -> None:
    catalog = load_catalog()
    assert catalog.languages == LANGUAGES
    assert {(s.id, s.language) for s in catalog.snippets()} == {
        (snippet_id, language) for snippet_id in SNIPPET_IDS for language in LANGUAGES
    }


def test_shipped_catalog_is_loaded_once_per_process() -> None:
    assert load_catalog() is load_catalog()


def test_shipped_snippets_are_unapproved_defaults() -> None:
    for snippet in load_catalog().snippets():
        assert (snippet.source, snippet.approved) == ("default", False), snippet.id


@pytest.mark.parametrize("snippet_id", SYSTEM_SNIPPETS)
def test_system_snippets_have_no_keywords_or_phrasings(snippet_id: str) -> None:
    for language in LANGUAGES:
        snippet = load_catalog().snippet(snippet_id, language)
        assert snippet.keywords == snippet.phrasings == ()


@pytest.mark.parametrize("snippet_id", INFO_TOPICS)
def test_every_info_topic_has_keywords_in_every_language(snippet_id: str) -> None:
    for language in LANGUAGES:
        assert load_catalog().snippet(snippet_id, language).keywords


@pytest.mark.parametrize(("topic", "language", "phrase"), PHRASEBOOK_CASES)
def test_phrasebook_carries_every_contract_phrase(topic: str, language: str, phrase: str) -> None:
    written = load_catalog().phrasebook()[topic][language]
    assert phrase.casefold() in {p.casefold() for p in written}


def test_phrasebook_lists_only_info_topics_keywords_first() -> None:
    catalog = load_catalog()
    book = catalog.phrasebook()
    assert tuple(book) == INFO_TOPICS
    fasting = catalog.snippet("fasting", "en")
    assert book["fasting"]["en"] == fasting.keywords + fasting.phrasings


def test_spanish_falls_back_to_english_for_a_snippet_it_lacks() -> None:
    catalog = Catalog(
        [make_snippet("help", "en"), make_snippet("menu", "en"), make_snippet("menu", "es")]
    )
    assert catalog.snippet("help", "es").language == "en"
    assert catalog.snippet("menu", "es").language == "es"
    assert not catalog.has("help", "es")


def test_unknown_language_falls_back_to_english() -> None:
    assert load_catalog().snippet("help", "fr").language == "en"


def test_unknown_snippet_id_raises_key_error() -> None:
    with pytest.raises(KeyError):
        load_catalog().snippet("no_such_snippet", "en")


@pytest.mark.parametrize(
    ("snippet_id", "language"),
    [(snippet_id, language) for snippet_id in SNIPPET_IDS for language in LANGUAGES],
)
def test_every_shipped_snippet_renders_without_leftover_braces(
    snippet_id: str, language: str
) -> None:
    text = load_catalog().render(snippet_id, language, {**VALUES, **VISIT_VALUES})
    assert "{" not in text and "}" not in text
    assert text == text.strip()


def test_render_fills_every_placeholder() -> None:
    snippet = make_snippet(text="{clinic_name}: call {clinic_phone} ({clinic_hours}).")
    assert Catalog([snippet]).render("help", "en", VALUES) == (
        "Riverside Clinic: call +1 (555) 555-0100 (Mon-Fri 9-5)."
    )
    assert snippet.placeholders() == CLINIC_PLACEHOLDERS


def test_render_strips_trailing_spaces_and_outer_whitespace() -> None:
    snippet = make_snippet(text="  Hello {clinic_name}   \nBye  \n")
    assert Catalog([snippet]).render("help", "en", VALUES) == "Hello Riverside Clinic\nBye"


def test_render_with_unknown_placeholder_raises_naming_snippet() -> None:
    snippet = make_snippet(text="Call {clinic_fax}", source="/clinics/a/en.toml")
    with pytest.raises(ContentError, match=r"/clinics/a/en.toml.*help.*\{clinic_fax\}"):
        Catalog([snippet]).render("help", "en", VALUES)


def test_visit_placeholder_in_a_text_not_about_one_visit_raises() -> None:
    snippet = make_snippet("help", text="Your visit: {visit_day}")
    with pytest.raises(ContentError, match=r"\{visit_day\} is only for texts about one visit"):
        Catalog([snippet]).render("help", "en", {**VALUES, **VISIT_VALUES})


@pytest.mark.parametrize("snippet_id", ["reminder_arrival", "next_appointment", "confirmed"])
def test_visit_placeholders_render_in_texts_about_one_visit(snippet_id: str) -> None:
    snippet = make_snippet(snippet_id, text="{clinic_name}: {visit_day} at {visit_time}")
    assert Catalog([snippet]).render(snippet_id, "en", {**VALUES, **VISIT_VALUES}) == (
        "Riverside Clinic: Tue, Nov 24 at 9:15 AM"
    )


def test_render_without_a_value_for_a_placeholder_raises() -> None:
    snippet = make_snippet(text="Hours: {clinic_hours}")
    with pytest.raises(ContentError, match="clinic_hours"):
        Catalog([snippet]).render("help", "en", {"clinic_name": "X"})


@pytest.mark.parametrize(
    ("approved_by", "approved_at", "approved"),
    [
        (None, None, False),
        ("Dr. Rivera", None, False),
        (None, "2025-01-10", False),
        ("Dr. Rivera", "2025-01-10", True),
    ],
)
def test_snippet_is_approved_only_with_both_name_and_date(
    approved_by: str | None, approved_at: str | None, approved: bool
) -> None:
    assert make_snippet(approved_by=approved_by, approved_at=approved_at).approved is approved


def test_override_text_without_approval_is_unapproved(override_dir: Callable[..., Path]) -> None:
    folder = override_dir(
        en="""
        [snippets.fasting]
        text = "No food after midnight. Call {clinic_phone}."
        """
    )
    snippet = load_catalog(folder).snippet("fasting", "en")
    assert snippet.text == "No food after midnight. Call {clinic_phone}."
    assert not snippet.approved
    assert snippet.source == str(folder.resolve() / "en.toml")


def test_override_keeps_fields_it_does_not_give(override_dir: Callable[..., Path]) -> None:
    folder = override_dir(en='[snippets.fasting]\ntext = "No food after midnight."\n')
    default = load_catalog().snippet("fasting", "en")
    snippet = load_catalog(folder).snippet("fasting", "en")
    assert (snippet.keywords, snippet.phrasings, snippet.fact, snippet.budget) == (
        default.keywords,
        default.phrasings,
        default.fact,
        default.budget,
    )


def test_approved_override_is_approved(override_dir: Callable[..., Path]) -> None:
    folder = override_dir(
        es="""
        [snippets.fasting]
        text = "Nada de comida despues de medianoche."
        approved_by = "Dra. Rivera"
        approved_at = 2025-01-10
        """
    )
    snippet = load_catalog(folder).snippet("fasting", "es")
    assert snippet.approved
    assert (snippet.approved_by, snippet.approved_at) == ("Dra. Rivera", "2025-01-10")


def test_approval_alone_approves_the_shipped_text(override_dir: Callable[..., Path]) -> None:
    folder = override_dir(
        en="""
        [snippets.crisis]
        approved_by = "Dr. Rivera"
        approved_at = "2025-01-10"
        """
    )
    snippet = load_catalog(folder).snippet("crisis", "en")
    assert snippet.approved
    assert snippet.text == load_catalog().snippet("crisis", "en").text


def test_override_does_not_touch_other_snippets_or_languages(
    override_dir: Callable[..., Path],
) -> None:
    folder = override_dir(en='[snippets.fasting]\ntext = "Changed."\n')
    catalog = load_catalog(folder)
    assert catalog.snippet("fasting", "es") == load_catalog().snippet("fasting", "es")
    assert catalog.snippet("arrival", "en") == load_catalog().snippet("arrival", "en")
    assert load_catalog().snippet("fasting", "en").text != "Changed."


def test_override_keywords_replace_the_list(override_dir: Callable[..., Path]) -> None:
    folder = override_dir(en='[snippets.fasting]\nkeywords = ["FOOD"]\nphrasings = []\n')
    snippet = load_catalog(folder).snippet("fasting", "en")
    assert (snippet.keywords, snippet.phrasings) == (("FOOD",), ())
    assert load_catalog(folder).phrasebook()["fasting"]["en"] == ("FOOD",)


def test_edited_override_file_is_reloaded(override_dir: Callable[..., Path]) -> None:
    folder = override_dir(en='[snippets.fasting]\ntext = "First."\n')
    assert load_catalog(folder).snippet("fasting", "en").text == "First."
    path = folder / "en.toml"
    path.write_text('[snippets.fasting]\ntext = "Second, longer."\n', encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_catalog(folder).snippet("fasting", "en").text == "Second, longer."


def test_empty_override_folder_is_the_shipped_content(override_dir: Callable[..., Path]) -> None:
    folder = override_dir()
    assert load_catalog(folder).snippets() == load_catalog().snippets()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param('[snippets.dosage]\ntext = "x"\n', "unknown snippet id", id="unknown id"),
        pytest.param('[snippets.fasting]\ntxt = "x"\n', "unknown field txt", id="unknown field"),
        pytest.param('[snippets.fasting\ntext = "x"\n', "invalid TOML", id="bad toml"),
        pytest.param("[snippets.fasting]\nbudget = 0\n", "budget", id="zero budget"),
        pytest.param('[snippets.fasting]\nbudget = "2"\n', "budget", id="budget as text"),
        pytest.param('[snippets.fasting]\ntext = ""\n', "text", id="empty text"),
        pytest.param('[snippets.fasting]\nkeywords = "FAST"\n', "keywords", id="keywords as text"),
        pytest.param(
            "[snippets.fasting]\napproved_by = 3\n", "approved_by", id="approver a number"
        ),
        pytest.param('text = "x"\n', "unknown top-level key text", id="field outside a table"),
    ],
)
def test_bad_override_raises_content_error_naming_the_file(
    override_dir: Callable[..., Path], content: str, message: str
) -> None:
    folder = override_dir(en=content)
    with pytest.raises(ContentError, match=message) as raised:
        load_catalog(folder)
    assert str(folder.resolve() / "en.toml") in str(raised.value)


def test_error_for_a_field_names_the_snippet(override_dir: Callable[..., Path]) -> None:
    folder = override_dir(es='[snippets.fasting]\ncolour = "red"\n')
    with pytest.raises(ContentError, match=r"es\.toml \[snippets\.fasting\]: unknown field colour"):
        load_catalog(folder)


def test_override_file_for_an_unknown_language_raises(override_dir: Callable[..., Path]) -> None:
    folder = override_dir(fr='[snippets.help]\ntext = "Bonjour"\n')
    with pytest.raises(ContentError, match=r"fr\.toml"):
        load_catalog(folder)


def test_missing_override_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="not found"):
        load_catalog(tmp_path / "nowhere")


def test_content_error_is_a_value_error() -> None:
    assert issubclass(ContentError, ValueError)
