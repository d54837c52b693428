"""UI catalogues (web/locale): in step with the sources, complete in French, placeholders kept."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app.web import i18n
from app.web.render import ENV, TEMPLATES

ROOT = Path(__file__).resolve().parents[2]


def _catalog(lang: str):  # type: ignore[no-untyped-def]
    with i18n.po_path(lang).open("rb") as fh:
        return read_po(fh)


def _ids(catalog) -> set[object]:  # type: ignore[no-untyped-def]
    return {m.id for m in catalog if m.id}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> set[object]:
    """What `make i18n-extract` would find in the sources today."""
    out = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"),
            "-q",
            "extract",
            "-F",
            "web/babel.cfg",
            "-k",
            "_gettext",
            "-k",
            "gettext",
            "-k",
            "N_",
            "-o",
            str(out),
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    with out.open("rb") as fh:
        return _ids(read_po(fh))


@pytest.mark.parametrize("lang", list(i18n.LANGUAGES))
def test_given_the_sources_when_strings_are_extracted_then_the_catalogue_has_every_one(
    extracted: set[object], lang: str
) -> None:
    missing = extracted - _ids(_catalog(lang))
    assert not missing, f"run `make i18n-extract` and translate: {sorted(map(str, missing))}"


def test_given_the_french_catalogue_when_read_then_every_message_is_translated_and_none_is_fuzzy() -> None:
    untranslated = [
        m.id
        for m in _catalog("fr")
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    fuzzy = [m.id for m in _catalog("fr") if m.id and m.fuzzy]
    assert untranslated == [] and fuzzy == []


_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")


def test_given_a_translation_when_compared_to_its_source_then_the_placeholders_are_the_same() -> None:
    bad = []
    for m in _catalog("fr"):
        if not m.id:
            continue
        pairs = zip(m.id, m.string, strict=True) if isinstance(m.id, tuple) else [(m.id, m.string)]
        bad += [
            src
            for src, dst in pairs
            if sorted(_PLACEHOLDER.findall(src)) != sorted(_PLACEHOLDER.findall(dst))
        ]
    assert bad == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("fr", "fr"), ("en-GB", "en"), ("EN_us", "en"), ("ar", "fr"), (None, "fr"), ("", "fr")],
)
def test_given_a_language_code_when_normalised_then_a_supported_one_comes_out(
    raw: str | None, expected: str
) -> None:
    assert i18n.normalise(raw) == expected


@pytest.mark.parametrize(
    ("lang", "value", "expected"), [("fr", 0.8302, "83,0\u00a0%"), ("en", 0.8302, "83.0%"), ("fr", None, "—")]
)
def test_given_a_ratio_when_formatted_then_it_follows_the_language(
    lang: str, value: float | None, expected: str
) -> None:
    assert i18n.fmt_percent(value, lang).replace("\u202f", "\u00a0") == expected


@pytest.mark.parametrize(
    ("seconds", "expected"), [(None, "—"), (0, "0:00"), (65.4, "1:05"), (3725, "1:02:05")]
)
def test_given_seconds_when_formatted_then_wallboard_style_is_used(
    seconds: float | None, expected: str
) -> None:
    assert i18n.fmt_duration(seconds) == expected


@pytest.mark.parametrize(
    ("e164", "expected"),
    [("+33612345678", "06 12 34 56 78"), ("+212661234567", "+212 6 61 23 45 67"), (None, "—")],
)
def test_given_a_stored_number_when_displayed_then_own_country_numbers_are_national(
    e164: str | None, expected: str
) -> None:
    assert i18n.fmt_phone(e164, "FR") == expected


def test_given_every_template_when_compiled_then_jinja_accepts_it() -> None:
    on_disk = sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html"))
    names = ENV.list_templates(extensions=["html"])
    assert names == on_disk and len(names) >= 10, "the loader sees every template of web/templates"
    for name in names:
        template = ENV.get_template(name)  # raises TemplateSyntaxError on a broken one
        assert template.name == name and callable(template.root_render_func)


def test_given_compiled_catalogues_when_written_then_each_language_has_a_mo_file(tmp_path: Path) -> None:
    written = i18n.compile_all(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "en/LC_MESSAGES/messages.mo",
        "fr/LC_MESSAGES/messages.mo",
    ]
    assert all(p.stat().st_size > 0 for p in written)
