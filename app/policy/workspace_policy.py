"""A workspace's send policy: it may narrow the floor (09:00-21:00, Monday to
Saturday), never widen it; public holidays only add days without follow-ups. The
database CHECKs the same rules."""

import json
from collections.abc import Callable
from datetime import date, time
from typing import Any

from app.db.executor import fetch
from app.enums import FLOOR_SEND_DAYS, FLOOR_SEND_WINDOW, Weekday
from app.errors import InvalidValue, NotFound, RuleBroken
from app.policy.public_holidays import calendar_problem
from app.tables import MAX_HOLIDAY_CALENDARS, WINDOW_CLOSES, WINDOW_OPENS
from app.validation import decoded_json

# Required in a PUT; the holiday fields are optional there (kept when left out), so
# clients written before them go on replacing the policy they know.
REQUIRED_FIELDS = ("send_window_start", "send_window_end", "send_days", "blocked_dates")
HOLIDAY_FIELDS = ("holiday_calendars", "lead_country_holidays")
POLICY_FIELDS = (*REQUIRED_FIELDS, *HOLIDAY_FIELDS)
MAX_BLOCKED_DATES = 400
POLICY_COLUMNS = "id, " + ", ".join(POLICY_FIELDS) + ", policy_version"


def window_edge(field: str, value: Any) -> time:
    """A local wall-clock time "HH:MM" within the floor's window."""
    if isinstance(value, str):
        try:
            value = time.fromisoformat(value.strip())
        except ValueError:
            raise InvalidValue(field, f"{value!r} is not a time such as '09:30'") from None
    if not isinstance(value, time) or value.tzinfo is not None:
        raise InvalidValue(field, "must be a local time such as '09:30'")
    if value.second or value.microsecond:
        raise InvalidValue(field, "whole minutes only, such as '09:30'")
    if not WINDOW_OPENS <= value <= WINDOW_CLOSES:
        raise InvalidValue(
            field,
            f"{value:%H:%M} is outside {FLOOR_SEND_WINDOW[0]}-{FLOOR_SEND_WINDOW[1]}: "
            "a workspace may narrow the send window, never widen it",
        )
    return value


def send_days(field: str, value: Any) -> list[str]:
    """Distinct days from MON to SAT; at least one."""
    days = decoded_json(field, value)
    allowed = [day.value for day in FLOOR_SEND_DAYS]
    if not isinstance(days, list) or not days:
        raise InvalidValue(field, f"must be a non-empty list of days from {allowed}")
    if Weekday.SUN.value in days:
        raise InvalidValue(
            field, "Sunday is never a send day: a workspace may drop days, not add Sunday"
        )
    unknown = [day for day in days if day not in allowed]
    if unknown:
        raise InvalidValue(field, f"unknown days {unknown}; allowed: {allowed}")
    if len(set(days)) != len(days):
        raise InvalidValue(field, "a day appears more than once")
    return sorted(days, key=allowed.index)


ItemProblem = Callable[[Any], str | None]


def distinct_items(
    field: str, value: Any, noun: str, example: str, limit: int, problem: ItemProblem
) -> list[Any]:
    """A JSON list of at most ``limit`` distinct items, each without a ``problem``."""
    items = decoded_json(field, value)
    if not isinstance(items, list):
        raise InvalidValue(field, f"must be a list of {noun}s such as {example}")
    if len(items) > limit:
        raise InvalidValue(field, f"at most {limit} {noun}s")
    for item in items:
        why = problem(item)
        if why:
            raise InvalidValue(field, why)
    if len(set(items)) != len(items):
        raise InvalidValue(field, f"a {noun} appears more than once")
    return items


def _date_problem(day: Any) -> str | None:
    try:
        valid = isinstance(day, str) and date.fromisoformat(day).isoformat() == day
    except ValueError:
        valid = False
    return None if valid else f"{day!r} is not a date such as '2027-12-25'"


def blocked_dates(field: str, value: Any) -> list[str]:
    """Distinct local dates "YYYY-MM-DD" on which no follow-up goes out."""
    example = '["2027-12-25"]'
    return sorted(distinct_items(field, value, "date", example, MAX_BLOCKED_DATES, _date_problem))


def holiday_calendars(field: str, value: Any) -> list[str]:
    """Distinct public holiday calendars the ``holidays`` package knows ("MY", "GB-SCT")."""
    example = '["MY", "GB-SCT"]'
    return distinct_items(
        field, value, "calendar", example, MAX_HOLIDAY_CALENDARS, calendar_problem
    )


def lead_country_holidays(field: str, value: Any) -> bool:
    """Whether each lead's own country's public holidays hold its follow-ups too."""
    if not isinstance(value, bool):
        raise InvalidValue(field, "must be true or false")
    return value


FIELD_RULES = {
    "send_window_start": window_edge,
    "send_window_end": window_edge,
    "send_days": send_days,
    "blocked_dates": blocked_dates,
    "holiday_calendars": holiday_calendars,
    "lead_country_holidays": lead_country_holidays,
}


def checked_policy(fields: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The policy fields given, checked and normalised; the window edges are
    compared with each other (taking the current value of a missing one)."""
    checked = {
        name: rule(name, fields[name]) for name, rule in FIELD_RULES.items() if name in fields
    }
    merged = {**(current or {}), **checked}
    opens, closes = merged.get("send_window_start"), merged.get("send_window_end")
    if isinstance(opens, str):
        opens = window_edge("send_window_start", opens)
    if isinstance(closes, str):
        closes = window_edge("send_window_end", closes)
    if opens is not None and closes is not None and not opens < closes:
        raise RuleBroken(
            "send_window_end", f"{closes:%H:%M} must be later than the start {opens:%H:%M}"
        )
    return checked


def policy_json(row: dict[str, Any]) -> dict[str, Any]:
    """The policy as the API shows it: times as "HH:MM", lists decoded."""
    return {
        "send_window_start": row["send_window_start"].strftime("%H:%M"),
        "send_window_end": row["send_window_end"].strftime("%H:%M"),
        "send_days": decoded_json("send_days", row["send_days"]),
        "blocked_dates": decoded_json("blocked_dates", row["blocked_dates"]),
        "holiday_calendars": decoded_json("holiday_calendars", row["holiday_calendars"]),
        "lead_country_holidays": row["lead_country_holidays"],
        "policy_version": row["policy_version"],
    }


async def get_policy(workspace_id: int) -> dict[str, Any]:
    rows = await fetch(f"SELECT {POLICY_COLUMNS} FROM workspace WHERE id = {{}}", workspace_id)
    if not rows:
        raise NotFound(f"workspace {workspace_id} does not exist")
    return policy_json(rows[0])


async def put_policy(workspace_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """Replace the workspace's send policy; the holiday fields, when left out, stay."""
    missing = [name for name in REQUIRED_FIELDS if name not in fields]
    if missing:
        raise InvalidValue(missing[0], "is required")
    checked = checked_policy({name: value for name, value in fields.items() if value is not None})
    calendars = checked.get("holiday_calendars")
    rows = await fetch(
        "UPDATE workspace SET send_window_start = {}, send_window_end = {}, "
        "send_days = {}::jsonb, blocked_dates = {}::jsonb, "
        "holiday_calendars = coalesce({}::jsonb, holiday_calendars), "
        "lead_country_holidays = coalesce({}, lead_country_holidays) WHERE id = {} "
        f"RETURNING {POLICY_COLUMNS}",
        checked["send_window_start"],
        checked["send_window_end"],
        json.dumps(checked["send_days"]),
        json.dumps(checked["blocked_dates"]),
        None if calendars is None else json.dumps(calendars),
        checked.get("lead_country_holidays"),
        workspace_id,
    )
    if not rows:
        raise NotFound(f"workspace {workspace_id} does not exist")
    return policy_json(rows[0])
