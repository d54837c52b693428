"""UI translations with Babel: French (default) and English.

The `.po` catalogues under `web/locale/` are the source of truth and live in git. They are compiled to
`.mo` in memory when the process starts (and by `plateau i18n-compile` / `make i18n` for tools that want
files), so a stale compiled catalogue can never hide a fresh translation.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
from babel import Locale
from babel.dates import format_datetime as _babel_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

from core.settings import ROOT

LOCALE_DIR = ROOT / "web" / "locale"
DOMAIN = "messages"
LANGUAGES: dict[str, str] = {"fr": "Français", "en": "English"}  # each shown in its own language
DEFAULT_LANGUAGE = "fr"


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_po(po: Path) -> bytes:
    """The `.mo` bytes of a `.po` file (fuzzy entries are left out, as msgfmt does)."""
    with po.open("rb") as fh:
        catalog = read_po(fh)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def compile_all(out_dir: Path | None = None) -> list[Path]:
    """Write `messages.mo` next to (or under `out_dir` instead of) each `.po`; returns the files."""
    written = []
    for lang in LANGUAGES:
        target = (out_dir or LOCALE_DIR) / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(compile_po(po_path(lang)))
        written.append(target)
    return written


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> Translations:
    lang = normalise(lang)
    return Translations(io.BytesIO(compile_po(po_path(lang))), domain=DOMAIN)


def normalise(lang: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """A supported language code for any input ('en-GB' → 'en', 'ar' → the default)."""
    code = (lang or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else default


# --- formatting, used as Jinja filters ------------------------------------------------------------------
# The one rule for a date and time on any page, the same as the browser's (desk_util.js `formatDate`:
# Intl's short date and time, in fr-FR or en-GB, in the centre's zone): 15/01/2030 10:30.
DATE_LOCALES = {"fr": "fr_FR", "en": "en_GB"}


def fmt_datetime(value: datetime | None, lang: str, zone: str, fmt: str = "short") -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:  # SQLite gives naive datetimes: they are UTC
        value = value.replace(tzinfo=UTC)
    return _babel_datetime(value, fmt, tzinfo=ZoneInfo(zone), locale=DATE_LOCALES.get(lang, lang))


def fmt_percent(value: float | None, lang: str) -> str:
    """0.8302 → '83,0 %' (fr) / '83.0%' (en); None (no calls) → a dash, never 0 %."""
    if value is None:
        return "—"
    pattern = Locale.parse(lang).percent_formats[None].pattern.replace("#,##0", "#,##0.0", 1)
    return format_percent(value, pattern, locale=lang)


def fmt_number(value: float | None, lang: str, digits: int = 1) -> str:
    if value is None:
        return "—"
    return format_decimal(value, "#,##0" + ("." + "0" * digits if digits else ""), locale=lang)


def fmt_duration(seconds: float | None) -> str:
    """Seconds as m:ss or h:mm:ss, the way wallboards show times."""
    if seconds is None:
        return "—"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def fmt_phone(e164: str | None, region: str) -> str:
    """Display form: national digits for numbers of the centre's own country, international otherwise."""
    if not e164:
        return "—"
    try:
        num = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    own = phonenumbers.region_code_for_number(num) == region
    fmt = phonenumbers.PhoneNumberFormat.NATIONAL if own else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(num, fmt)
