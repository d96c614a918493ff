"""Where the recipient is: the zone(s) whose local time every time rule reads.

The order, the same for every decision, preview and page:

1. the lead's explicit ``timezone``;
2. else the zones libphonenumber gives for the lead's number (``phonenumbers``);
3. else the workspace's zone.

A number with several candidate zones is sent to only when every candidate's window
is open. When the candidates never share an open window (no instant in the week
from 00:00 UTC of the evaluation's day is inside the hours on a send day in all of
them), the
workspace's zone is used if it is one of the candidates; otherwise the zone is
unresolved and follow-ups wait (ZONE_UNRESOLVED) until an operator sets the lead's
timezone. Nothing is guessed silently: ``ZoneChoice.reason`` says which and why.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache

from app.phone_numbers import LeadNumber
from app.policy.local_time import SendWindow, known_zone

SHARED_WINDOW_LOOKAHEAD = timedelta(days=7)


class ZoneSource(StrEnum):
    """Where the zone in effect came from."""

    LEAD_TIMEZONE = "lead_timezone"
    PHONE_NUMBER = "phone_number"
    WORKSPACE = "workspace"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class ZoneChoice:
    zones: tuple[str, ...]  # empty when unresolved
    source: ZoneSource
    reason: str


def number_zones(number: LeadNumber | None) -> tuple[str, ...]:
    """The number's candidate zones this machine knows."""
    if number is None:
        return ()
    return tuple(name for name in number.zones if known_zone(name))


def candidate_zones(
    lead_timezone: str | None, number: LeadNumber | None, workspace_timezone: str | None
) -> ZoneChoice:
    """Steps 1-3 without the window: what a lead page shows (without the workspace's
    zone when it is not given)."""
    if lead_timezone:
        return ZoneChoice((lead_timezone,), ZoneSource.LEAD_TIMEZONE, "the lead's timezone")
    zones = number_zones(number)
    if number is not None and zones:
        shown = zones[0] if len(zones) == 1 else f"{len(zones)} zones"
        reason = f"{shown}, from the {number.label} number"
        return ZoneChoice(zones, ZoneSource.PHONE_NUMBER, reason)
    zones = (workspace_timezone,) if workspace_timezone else ()
    return ZoneChoice(zones, ZoneSource.WORKSPACE, _workspace_reason(number))


def _workspace_reason(number: LeadNumber | None) -> str:
    if number is None:
        why = "the lead has no timezone and its id is not a phone number"
    elif not number.valid:
        why = f"the lead has no timezone and {number.e164} is not a valid phone number"
    else:
        why = f"the lead has no timezone and the {number.label} number names no zone"
    return f"the workspace's zone: {why}"


def choose_zones(
    lead_timezone: str | None,
    number: LeadNumber | None,
    workspace_timezone: str,
    window: SendWindow,
    at: datetime,
) -> ZoneChoice:
    """The zone(s) every time rule reads at ``at``, and why."""
    choice = candidate_zones(lead_timezone, number, workspace_timezone)
    if len(choice.zones) < 2:
        return choice
    day = at.astimezone(UTC).date()
    if _share_a_window(choice.zones, window.hours_only(), day):
        return ZoneChoice(
            choice.zones,
            choice.source,
            f"every one of the {choice.reason} ({', '.join(choice.zones)}) "
            "must be inside its window",
        )
    label = number.label if number else "lead's"
    never = f"the {label} number's {len(choice.zones)} zones never share the send window"
    if workspace_timezone in choice.zones:
        return ZoneChoice(
            (workspace_timezone,),
            ZoneSource.WORKSPACE,
            f"the workspace's zone, one of {never.removeprefix('the ')}",
        )
    return ZoneChoice((), ZoneSource.UNRESOLVED, f"{never}, and the workspace's zone is not one")


@lru_cache(maxsize=4096)
def _share_a_window(zones: tuple[str, ...], hours: SendWindow, day: date) -> bool:
    """Whether the zones' hours on send days overlap in the week from the start (00:00
    UTC) of ``day``: one answer per day, so a day's decisions share it."""
    start = datetime.combine(day, time(0), UTC)
    return hours.search_opening(start, zones, start + SHARED_WINDOW_LOOKAHEAD) is not None
