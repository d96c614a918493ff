"""Local wall-clock time in named zones, and the send window's next opening.

Windows and days are wall-clock times in the recipient's IANA zone(s); durations
are UTC. Openings are computed on instants, not wall times: the window of a local
day is the set of instants whose local date is that day and whose local time lies
in the hours, split wherever the zone's offset changes. So a day whose clocks fall
back inside (or across the edge of) the window opens exactly when the wall clock
says so, however often a wall time occurs, and a wall time that does not exist is
never an opening. With several zones, an instant is open when it is open in each.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, available_timezones

from app.enums import Weekday
from app.policy.public_holidays import holiday_on

WEEKDAYS = tuple(Weekday)  # date.weekday() order
# How far ahead an opening is looked for. The longest wait a valid policy allows is
# one send day a week with all 400 blocked dates on it (about 7.7 years) plus the
# public holidays that fall on it; past ten years the policy leaves no opening and
# the decision says so (NO_SEND_WINDOW) instead of deferring for ever.
HORIZON = timedelta(days=3653)
HORIZON_YEARS = 10
# No zone's offset has ever been beyond +-16 h (LMT included): a local day's
# instants lie within these bounds of its UTC midnight.
WIDEST_OFFSET = timedelta(hours=16)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)

Interval = tuple[datetime, datetime]  # [start, end) in UTC


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA zone of this name (cached: ZoneInfo objects are immutable)."""
    return ZoneInfo(name)


@cache
def _available_zones() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the zone database: ~20 ms


def known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA zone this machine knows."""
    return name in _available_zones()


def weekday_of(day: date) -> Weekday:
    return WEEKDAYS[day.weekday()]


def _offset(tz: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(tz).utcoffset()  # type: ignore[return-value]


def _transition(tz: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first second in (before, after] with ``after``'s offset."""
    wanted = _offset(tz, after)
    while after - before > SECOND:
        middle = (before + (after - before) / 2).replace(microsecond=0)
        if _offset(tz, middle) == wanted:
            after = middle
        else:
            before = middle
    return after


def _offset_spans(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[from, to) spans of one offset covering [start, end); offsets sampled hourly."""
    spans, span_start, instant = [], start, start
    offset = _offset(tz, start)
    while instant < end:
        following = min(instant + HOUR, end)
        if _offset(tz, following) != offset:
            changed = _transition(tz, instant, following)
            spans.append((span_start, changed))
            span_start, offset = changed, _offset(tz, changed)
        instant = following
    spans.append((span_start, end))
    return spans


@lru_cache(maxsize=65536)
def day_window(zone_name: str, day: date, opens: time, closes: time) -> tuple[Interval, ...]:
    """The instants at which ``zone_name``'s clocks show ``day`` and a time in
    [opens, closes), as sorted disjoint intervals."""
    tz = zone(zone_name)
    midnight = datetime.combine(day, time(0), UTC)
    first, last = datetime.combine(day, opens, UTC), datetime.combine(day, closes, UTC)
    found: list[Interval] = []
    for span_start, span_end in _offset_spans(
        tz, midnight - WIDEST_OFFSET, midnight + timedelta(days=1) + WIDEST_OFFSET
    ):
        offset = _offset(tz, span_start)
        start, end = max(first - offset, span_start), min(last - offset, span_end)
        if start < end:
            found.append((start, end))
    return tuple(_merged(sorted(found)))


def _merged(intervals: list[Interval]) -> Iterable[Interval]:
    merged: list[Interval] = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class SendWindow:
    """When follow-ups may go out: local hours on allowed days (a send day, not
    blocked, not a public holiday of any of the calendars)."""

    opens: time
    closes: time
    days: frozenset[Weekday]
    blocked: frozenset[date]
    calendars: tuple[str, ...] = field(default=())

    def holiday(self, day: date) -> tuple[str, str] | None:
        """(calendar, holiday name) when ``day`` is a holiday of a calendar."""
        for code in self.calendars:
            name = holiday_on(code, day)
            if name is not None:
                return code, name
        return None

    def day_allowed(self, day: date) -> bool:
        return weekday_of(day) in self.days and day not in self.blocked and not self.holiday(day)

    def hours_allowed(self, wall: time) -> bool:
        return self.opens <= wall < self.closes

    def open_at(self, instant: datetime, zone_names: tuple[str, ...]) -> bool:
        """Whether ``instant`` is on an allowed day within the hours in every zone."""
        for name in zone_names:
            local = instant.astimezone(zone(name))
            if not (self.hours_allowed(local.time()) and self.day_allowed(local.date())):
                return False
        return True

    def hours_only(self) -> "SendWindow":
        """The same hours and days, without blocked dates or holidays."""
        return replace(self, blocked=frozenset(), calendars=())

    def _first_open_in(self, zone_name: str, not_before: datetime, limit: datetime):
        """The first instant in [not_before, limit) open in one zone, or None."""
        day = not_before.astimezone(zone(zone_name)).date() - timedelta(days=1)
        best: datetime | None = None
        while True:
            earliest_of_day = datetime.combine(day, time(0), UTC) - WIDEST_OFFSET
            if earliest_of_day >= limit or (best is not None and earliest_of_day >= best):
                break
            if self.day_allowed(day):
                for start, end in day_window(zone_name, day, self.opens, self.closes):
                    if end > not_before:
                        candidate = max(start, not_before)
                        best = candidate if best is None else min(best, candidate)
                        break
            day += timedelta(days=1)
        return best if best is not None and best < limit else None

    def earliest_opening(
        self, not_before: datetime, zone_names: tuple[str, ...], limit: datetime | None = None
    ) -> datetime | None:
        """The first instant >= ``not_before`` (and before ``limit``, default the
        horizon) open in every zone; None when there is none."""
        return _earliest_opening(self, not_before, zone_names, limit)

    def search_opening(
        self, not_before: datetime, zone_names: tuple[str, ...], limit: datetime | None
    ) -> datetime | None:
        limit = not_before + HORIZON if limit is None else limit
        candidate = not_before
        while candidate < limit:
            moved = False
            for name in zone_names:
                opening = self._first_open_in(name, candidate, limit)
                if opening is None:
                    return None
                if opening > candidate:
                    candidate, moved = opening, True
            if not moved:
                return candidate
        return None


# A dispatch batch shares its instant, so most of its leads ask the same question.
@lru_cache(maxsize=16384)
def _earliest_opening(
    window: SendWindow, not_before: datetime, zone_names: tuple[str, ...], limit: datetime | None
) -> datetime | None:
    return window.search_opening(not_before, zone_names, limit)


def local_text(instant: datetime, tz: ZoneInfo) -> str:
    """``2027-03-14 09:00 EDT (Sun)``: how an operator reads an instant locally."""
    local = instant.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({local:%a})"
