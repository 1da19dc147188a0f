"""Dates as the customer reads them: "25 novembre 2026 à 14:40", "25 November 2026 at 14:40".

In Odoo, ``odoo.tools.misc.format_datetime(env, value, tz, "long", lang_code)`` does this with
Babel; the example spells out its two languages to stay standard-library only.
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo

_MONTHS = {
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"],
}
_AT = {"fr": "à", "en": "at"}


def zone(name: str) -> tzinfo:
    if name == "UTC":
        return timezone.utc
    from zoneinfo import ZoneInfo  # needs the system's tz database, which UTC does not

    return ZoneInfo(name)


def format_long(value: datetime, tz: str, lang: str) -> str:
    lang = lang if lang in _MONTHS else "fr"
    local = value.astimezone(zone(tz))
    return f"{local.day} {_MONTHS[lang][local.month - 1]} {local.year} {_AT[lang]} {local:%H:%M}"
