"""Independent brute-force oracle for the follow-up TIME rules of a sales lead.

This module re-derives, from the written specification only, whether a follow-up message may
go out to a lead at a given instant.  It deliberately favours obviousness over speed: zones are
resolved with plain rules, the "shared open window" test walks every minute of a week, and
:func:`first_allowed` scans minute by minute before refining to the second.

All instants are handled as aware datetimes converted to UTC, so every duration is real
(elapsed) time; local wall-clock values are always obtained with
``instant.astimezone(ZoneInfo(name))`` (never with a fixed offset).

Rules (summary):

1. Zone(s): the lead's explicit ``lead_timezone``; else the zones of a valid phone number in
   ``external_id`` (unless ``("Etc/Unknown",)``); else ``workspace_timezone``.  Several
   candidate zones must all pass; when they never share an open window during the 7 * 24 hours
   starting at 00:00 UTC of the instant's day, the workspace zone is used alone if it is a
   candidate, otherwise the zone is unresolved (``None``).
2. Hours: ``window_start <= local time < window_end``, narrowed to at most 08:00-20:00 for US
   numbers of Florida, Oklahoma and Maryland area codes.
3. Days: the local weekday is a send day (never Sunday) and the local date is not blocked.
4. Holidays: the local date is no public holiday of the configured calendars nor, optionally,
   of the number's country.
5. Cap: at least 24 hours after ``last_permit``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber
from phonenumbers import timezone as phone_timezone

__all__ = [
    "SHARED_WINDOW_USES_JURISDICTION_HOURS",
    "STRICT_AREA_CODES",
    "allowed_at",
    "effective_window",
    "first_allowed",
    "jurisdiction_of",
    "number_region",
    "parse_number",
    "prepare_rules",
    "zones_of",
]

WEEKDAY_NAMES: tuple[str, ...] = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
"""Weekday names indexed by :meth:`datetime.date.weekday`."""

STRICT_START = time(8, 0)
"""Earliest local send time in the stricter jurisdictions."""

STRICT_END = time(20, 0)
"""Local time from which sending stops in the stricter jurisdictions."""

SHARED_WINDOW_SPAN = timedelta(hours=7 * 24)
"""How far ahead (from the instant) candidate zones are searched for a common open minute."""

MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
CAP = timedelta(hours=24)
"""Minimum real time between two permits."""

UNKNOWN_ZONES: tuple[str, ...] = ("Etc/Unknown",)
"""What :func:`phonenumbers.timezone.time_zones_for_number` returns for an unknown number."""

SHARED_WINDOW_USES_JURISDICTION_HOURS = True
"""Whether the "never share an open window" test uses the jurisdiction-narrowed hours.

The specification says "inside the hours (ignoring blocked dates and holidays)"; the hours of
rule 2 include the jurisdiction narrowing, so by default the narrowed window is used.  Set to
False to test with the configured ``window_start``/``window_end`` only.
"""

# Area codes (NPAs) of the North American Numbering Plan whose numbers fall under a stricter
# state telephone-solicitation law limiting contact hours to 08:00-20:00 local time:
# - Florida: Florida Telephone Solicitation Act, Fla. Stat. 501.059(8)(a);
# - Oklahoma: Oklahoma Telephone Solicitation Act of 2022, 15 O.S. 775C.4;
# - Maryland: Maryland Stop the Spam Calls Act of 2023, Md. Com. Law 14-4503.
# The lists hold every NPA in service or assigned to the state, overlays included (compiled
# from knowledge of the NANP assignments, not from the code under test).
STRICT_AREA_CODES: dict[str, tuple[str, ...]] = {
    "Florida": (
        "239",
        "305",
        "321",
        "324",  # overlay of 904 (2025)
        "352",
        "386",
        "407",
        "448",  # overlay of 850 (2021)
        "483",  # overlay of 727 (assigned)
        "561",
        "645",  # overlay of 305/786 (2023)
        "656",  # overlay of 813 (2022)
        "689",  # overlay of 407/321 (2019)
        "727",
        "728",  # overlay of 561 (2025)
        "754",  # overlay of 954
        "772",
        "786",  # overlay of 305
        "813",
        "850",
        "863",
        "904",
        "941",
        "954",
    ),
    "Oklahoma": (
        "405",
        "539",  # overlay of 918
        "572",  # overlay of 405 (2021)
        "580",
        "918",
    ),
    "Maryland": (
        "227",  # overlay of 301/240 (2025)
        "240",  # overlay of 301
        "301",
        "410",
        "443",  # overlay of 410
        "667",  # overlay of 410/443
    ),
}

_STATE_OF_AREA_CODE: dict[str, str] = {
    code: state for state, codes in STRICT_AREA_CODES.items() for code in codes
}
_ONLY_DIGITS = re.compile(r"[0-9]+")


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------


def parse_number(external_id: str | None) -> PhoneNumber | None:
    """Return the VALID phone number written in ``external_id``, or None.

    A text of only ASCII digits is first given a leading ``+``; the text is parsed with
    ``phonenumbers.parse(text, None)`` and must satisfy ``phonenumbers.is_valid_number``.
    """
    if external_id is None:
        return None
    text = external_id
    if _ONLY_DIGITS.fullmatch(text):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, None)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return number


def number_region(external_id: str | None) -> str | None:
    """Return the region code (e.g. ``"US"``) of the valid number in ``external_id``, or None."""
    number = parse_number(external_id)
    if number is None:
        return None
    region = phonenumbers.region_code_for_number(number)
    return region or None


def jurisdiction_of(external_id: str | None) -> str | None:
    """Return the stricter jurisdiction (state name) of the lead's number, or None.

    Only valid numbers of country code 1 whose area code (the first three digits of the
    national significant number) is listed in :data:`STRICT_AREA_CODES` have one.
    """
    number = parse_number(external_id)
    if number is None or number.country_code != 1:
        return None
    area_code = phonenumbers.national_significant_number(number)[:3]
    return _STATE_OF_AREA_CODE.get(area_code)


def effective_window(
    *, external_id: str | None, window_start: time, window_end: time
) -> tuple[time, time]:
    """Return the allowed local hours ``[start, end)`` for the lead's number (rule 2)."""
    if jurisdiction_of(external_id) is None:
        return window_start, window_end
    return max(window_start, STRICT_START), min(window_end, STRICT_END)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _utc(instant: datetime) -> datetime:
    """Return the aware ``instant`` converted to UTC (ValueError when it is naive)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got {instant!r}")
    return instant.astimezone(UTC)


@cache
def _zone(name: str) -> ZoneInfo:
    """Return the :class:`ZoneInfo` called ``name``."""
    return ZoneInfo(name)


def _send_weekdays(send_days: Iterable[str]) -> frozenset[int]:
    """Return the weekday numbers (Monday 0) of ``send_days``; Sunday is never included."""
    wanted = {day.upper() for day in send_days}
    return frozenset(index for index, name in enumerate(WEEKDAY_NAMES[:6]) if name in wanted)


def _in_hours(local: datetime, start: time, end: time) -> bool:
    """Return whether the local wall-clock time of ``local`` is in ``[start, end)``."""
    return start <= local.time() < end


@cache
def _supported_countries() -> frozenset[str]:
    """Return the country codes the ``holidays`` package supports."""
    return frozenset(holidays.list_supported_countries())


@cache
def _holiday_dates(code: str, year: int) -> frozenset[date]:
    """Return the public holidays of calendar ``code`` (``"US"``, ``"GB-SCT"``) in ``year``."""
    country, _, subdiv = code.partition("-")
    calendar = holidays.country_holidays(country, subdiv=subdiv or None, years=year)
    return frozenset(calendar.keys())


def _lead_country_calendar(number: PhoneNumber | None) -> str | None:
    """Return the number's country as a holiday calendar code when ``holidays`` supports it."""
    if number is None:
        return None
    region = phonenumbers.region_code_for_number(number)
    if region and region in _supported_countries():
        return region
    return None


# --------------------------------------------------------------------------------------------
# Rule 1: zones
# --------------------------------------------------------------------------------------------


def _candidate_zones(
    *, external_id: str | None, lead_timezone: str | None, workspace_timezone: str
) -> tuple[str, ...]:
    """Return the candidate zone(s) of rule 1 a/b/c, before the shared-window test."""
    if lead_timezone is not None:
        return (lead_timezone,)
    number = parse_number(external_id)
    if number is not None:
        zones = tuple(phone_timezone.time_zones_for_number(number))
        if zones and zones != UNKNOWN_ZONES:
            return zones
    return (workspace_timezone,)


def _share_open_window(
    zones: tuple[str, ...], *, start: time, end: time, weekdays: frozenset[int], at: datetime
) -> bool:
    """Return whether some minute in the week from ``at`` is open in every zone.

    Open means: the local weekday is a send day and the local time is in ``[start, end)``;
    blocked dates and holidays are ignored.  Every minute ``at + k min`` for
    ``0 <= k < 7 * 24 * 60`` is checked.
    """
    infos = [_zone(name) for name in zones]
    for k in range(SHARED_WINDOW_SPAN // MINUTE):
        instant = at + k * MINUTE
        for info in infos:
            local = instant.astimezone(info)
            if local.weekday() not in weekdays or not _in_hours(local, start, end):
                break
        else:
            return True
    return False


def zones_of(
    *,
    external_id: str | None,
    lead_timezone: str | None,
    workspace_timezone: str,
    window_start: time,
    window_end: time,
    send_days: Collection[str],
    at: datetime,
) -> tuple[str, ...] | None:
    """Return the zone(s) in which the rules are checked at ``at`` (rule 1), None if unresolved.

    With several candidate zones that never share an open window in the 7 * 24 hours starting
    at 00:00 UTC of ``at``'s day, the workspace zone alone is used when it is a candidate;
    otherwise None.
    """
    at = _utc(at)
    zones = _candidate_zones(
        external_id=external_id,
        lead_timezone=lead_timezone,
        workspace_timezone=workspace_timezone,
    )
    if len(zones) <= 1:
        return zones
    if SHARED_WINDOW_USES_JURISDICTION_HOURS:
        start, end = effective_window(
            external_id=external_id, window_start=window_start, window_end=window_end
        )
    else:
        start, end = window_start, window_end
    weekdays = _send_weekdays(send_days)
    week_start = at.replace(hour=0, minute=0, second=0, microsecond=0)  # 00:00 UTC that day
    if _share_open_window(zones, start=start, end=end, weekdays=weekdays, at=week_start):
        return zones
    if workspace_timezone in zones:
        return (workspace_timezone,)
    return None


# --------------------------------------------------------------------------------------------
# Rules 2-5 with the zones held fixed
# --------------------------------------------------------------------------------------------


class FixedZoneRules:
    """The time rules for one lead with the zone(s) already resolved and held fixed.

    Per-(zone, local date) day verdicts and per-(calendar, year) holiday sets are cached, so
    minute-by-minute scans over several days with many zones stay fast.
    """

    def __init__(
        self,
        *,
        zones: tuple[str, ...],
        start: time,
        end: time,
        weekdays: frozenset[int],
        blocked_dates: frozenset[date],
        calendars: tuple[str, ...],
        not_before_cap: datetime | None,
    ) -> None:
        """Store the resolved rule parameters (``not_before_cap`` is ``last_permit + 24 h``)."""
        self.zones = zones
        self.start = start
        self.end = end
        self.weekdays = weekdays
        self.blocked_dates = blocked_dates
        self.calendars = calendars
        self.not_before_cap = not_before_cap
        self._infos = tuple((name, _zone(name)) for name in zones)
        self._day_cache: dict[tuple[str, date], bool] = {}

    def _day_ok(self, zone: str, local_date: date) -> bool:
        """Return whether ``local_date`` (in ``zone``) is a send day, unblocked, no holiday."""
        key = (zone, local_date)
        verdict = self._day_cache.get(key)
        if verdict is None:
            verdict = (
                local_date.weekday() in self.weekdays
                and local_date not in self.blocked_dates
                and not any(
                    local_date in _holiday_dates(code, local_date.year) for code in self.calendars
                )
            )
            self._day_cache[key] = verdict
        return verdict

    def allowed(self, instant: datetime) -> bool:
        """Return whether rules 2-5 allow a follow-up at ``instant`` (aware, UTC)."""
        if self.not_before_cap is not None and instant < self.not_before_cap:
            return False
        for name, info in self._infos:
            local = instant.astimezone(info)
            if not _in_hours(local, self.start, self.end):
                return False
            if not self._day_ok(name, local.date()):
                return False
        return True

    def refine(self, previous: datetime, found: datetime) -> datetime:
        """Return the first allowed instant in ``(previous, found]``, knowing ``found`` is.

        Checks the whole seconds before ``found`` (``found - 59 s`` .. ``found - 1 s``) that are
        after ``previous``, plus the exact cap instant ``last_permit + 24 h`` when it falls in
        that gap (the only rule boundary that need not be on a whole second).
        """
        candidates = {found - n * SECOND for n in range(1, 60)}
        if self.not_before_cap is not None:
            candidates.add(self.not_before_cap)
        for candidate in sorted(c for c in candidates if previous < c < found):
            if self.allowed(candidate):
                return candidate
        return found


def prepare_rules(
    *,
    external_id: str | None,
    lead_timezone: str | None,
    workspace_timezone: str,
    window_start: time,
    window_end: time,
    send_days: Collection[str],
    blocked_dates: Collection[date],
    holiday_calendars: Iterable[str],
    lead_country_holidays: bool,
    last_permit: datetime | None,
    at: datetime,
) -> FixedZoneRules | None:
    """Resolve the zone(s) ONCE at ``at`` and return the rules held fixed (None: unresolved)."""
    zones = zones_of(
        external_id=external_id,
        lead_timezone=lead_timezone,
        workspace_timezone=workspace_timezone,
        window_start=window_start,
        window_end=window_end,
        send_days=send_days,
        at=at,
    )
    if zones is None:
        return None
    start, end = effective_window(
        external_id=external_id, window_start=window_start, window_end=window_end
    )
    calendars = list(dict.fromkeys(holiday_calendars))
    if lead_country_holidays:
        lead_calendar = _lead_country_calendar(parse_number(external_id))
        if lead_calendar is not None and lead_calendar not in calendars:
            calendars.append(lead_calendar)
    return FixedZoneRules(
        zones=zones,
        start=start,
        end=end,
        weekdays=_send_weekdays(send_days),
        blocked_dates=frozenset(blocked_dates),
        calendars=tuple(calendars),
        not_before_cap=None if last_permit is None else _utc(last_permit) + CAP,
    )


def allowed_at(
    *,
    external_id: str | None,
    lead_timezone: str | None,
    workspace_timezone: str,
    window_start: time,
    window_end: time,
    send_days: Collection[str],
    blocked_dates: Collection[date],
    holiday_calendars: Iterable[str],
    lead_country_holidays: bool,
    last_permit: datetime | None,
    at: datetime,
) -> bool | None:
    """Return whether the time rules allow a follow-up at ``at`` (None: zone unresolved).

    The zone(s) are resolved at ``at`` itself.
    """
    at = _utc(at)
    rules = prepare_rules(
        external_id=external_id,
        lead_timezone=lead_timezone,
        workspace_timezone=workspace_timezone,
        window_start=window_start,
        window_end=window_end,
        send_days=send_days,
        blocked_dates=blocked_dates,
        holiday_calendars=holiday_calendars,
        lead_country_holidays=lead_country_holidays,
        last_permit=last_permit,
        at=at,
    )
    if rules is None:
        return None
    return rules.allowed(at)


def first_allowed(
    *,
    external_id: str | None,
    lead_timezone: str | None,
    workspace_timezone: str,
    window_start: time,
    window_end: time,
    send_days: Collection[str],
    blocked_dates: Collection[date],
    holiday_calendars: Iterable[str],
    lead_country_holidays: bool,
    last_permit: datetime | None,
    not_before: datetime,
    horizon: timedelta,
) -> datetime | None:
    """Return the first instant ``>= not_before`` at which a follow-up is allowed, or None.

    The zone(s) are resolved once at ``not_before`` and held fixed.  The scan checks
    ``not_before`` itself, then every following whole minute up to and including
    ``not_before + horizon``, and refines a hit to the exact second (see
    :meth:`FixedZoneRules.refine`).  None when unresolved or nothing is allowed in the horizon.
    The result is in UTC.
    """
    start = _utc(not_before)
    limit = start + horizon
    if limit < start:
        return None
    rules = prepare_rules(
        external_id=external_id,
        lead_timezone=lead_timezone,
        workspace_timezone=workspace_timezone,
        window_start=window_start,
        window_end=window_end,
        send_days=send_days,
        blocked_dates=blocked_dates,
        holiday_calendars=holiday_calendars,
        lead_country_holidays=lead_country_holidays,
        last_permit=last_permit,
        at=start,
    )
    if rules is None:
        return None
    if rules.allowed(start):
        return start
    previous = start
    minute = start.replace(second=0, microsecond=0) + MINUTE
    while minute <= limit:
        if rules.allowed(minute):
            return rules.refine(previous, minute)
        previous = minute
        minute += MINUTE
    return None
