"""Local wall-clock time in a named zone, and the send window's next opening.

Windows and days are wall-clock times in the lead's IANA zone; durations are UTC.
A wall time that does not exist (clocks spring forward) becomes the first instant
after it that does; an ambiguous one (clocks fall back) is its first occurrence.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from app.enums import Weekday

WEEKDAYS = tuple(Weekday)  # date.weekday() order
# Blocked dates are bounded (app/policy/workspace_policy.py), so an opening is
# always within this many days; the bound only guards against a bad policy.
MAX_DAYS_AHEAD = 3 * 366


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA zone of this name (cached: ZoneInfo objects are immutable)."""
    return ZoneInfo(name)


@cache
def known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA zone this machine knows."""
    return name in available_timezones()


def weekday_of(day: date) -> Weekday:
    return WEEKDAYS[day.weekday()]


def instant_of(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant at which ``tz``'s clocks show ``wall`` on ``day``.

    Ambiguous wall times give their first occurrence; wall times that do not
    exist give the first instant whose wall time is later.
    """
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    # In a gap: fold=0 reads the wall time with the offset before the
    # transition, fold=1 with the one after. The transition lies between them.
    other = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    before, after = min(first, other), max(first, other)
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(tz).replace(tzinfo=None) >= naive:
            after = middle
        else:
            before = middle
    return after


@dataclass(frozen=True)
class SendWindow:
    """When follow-ups may go out: local hours on allowed, non-blocked days."""

    opens: time
    closes: time
    days: frozenset[Weekday]
    blocked: frozenset[date]

    def day_allowed(self, day: date) -> bool:
        return weekday_of(day) in self.days and day not in self.blocked

    def hours_allowed(self, wall: time) -> bool:
        return self.opens <= wall < self.closes

    def earliest_opening(self, not_before: datetime, tz: ZoneInfo) -> datetime | None:
        """The first instant >= ``not_before`` on an allowed day inside the hours."""
        day = not_before.astimezone(tz).date()
        for _ in range(MAX_DAYS_AHEAD):
            if self.day_allowed(day):
                opening = max(not_before, instant_of(day, self.opens, tz))
                if opening < instant_of(day, self.closes, tz):
                    return opening
            day += timedelta(days=1)
        return None


def local_text(instant: datetime, tz: ZoneInfo) -> str:
    """``2027-03-14 09:00 EDT (Sun)``: how an operator reads an instant locally."""
    local = instant.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({local:%a})"
