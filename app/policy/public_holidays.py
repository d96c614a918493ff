"""Public holiday calendars through the ``holidays`` package (no hand-written tables).

A calendar is named by an ISO 3166 country code, optionally with a subdivision:
``MY``, ``US``, ``GB-SCT``, ``US-CA``. Names come in English where the package has them.
"""

import re
from datetime import date
from functools import cache, lru_cache

import holidays

# Names in one language whatever the machine's locale, so that a replay reads the same.
LANGUAGE = "en_US"
CALENDAR = re.compile(r"^([A-Z]{2})(?:-([A-Z0-9]{1,10}))?$")


def calendar_problem(code: object) -> str | None:
    """Why ``code`` is not a holiday calendar this machine knows, or None."""
    if not isinstance(code, str) or not (match := CALENDAR.match(code)):
        return f"{code!r} is not a calendar code such as 'MY', 'US' or 'GB-SCT'"
    country, subdivision = match.groups()
    supported = holidays.list_supported_countries()
    if country not in supported:
        return f"{code!r}: no public holidays are known for country {country!r}"
    if subdivision is not None and subdivision not in supported[country]:
        return f"{code!r}: {country} has no subdivision {subdivision!r}"
    return None


@cache
def calendar_codes() -> tuple[str, ...]:
    """Every calendar code the package knows: countries and their subdivisions."""
    countries = holidays.list_supported_countries()
    return tuple(
        sorted(
            code
            for country, subdivisions in countries.items()
            for code in (country, *(f"{country}-{sub}" for sub in subdivisions))
            if CALENDAR.match(code)  # not the alpha-3 aliases or names with spaces
        )
    )


@cache
def supported(code: str) -> bool:
    return calendar_problem(code) is None


@lru_cache(maxsize=4096)
def _year(code: str, year: int) -> dict[date, str]:
    country, _, subdivision = code.partition("-")
    calendar = holidays.country_holidays(
        country, subdiv=subdivision or None, years=year, language=LANGUAGE
    )
    return dict(calendar.items())


def holiday_on(code: str, day: date) -> str | None:
    """The name of the public holiday of calendar ``code`` on ``day``, if any."""
    if not supported(code):
        return None
    return _year(code, day.year).get(day)
