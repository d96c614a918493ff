"""Independent oracle for the channel's deferred rules of a follow-up, written from the
text of issue 24 alone (not from app/policy/rules.py):

- Messaging limit: WhatsApp counts the unique people a business portfolio reached with
  business-initiated messages, those outside the 24-hour customer-service window
  (templates), in a moving 24 hours: 250, 2,000, 10,000, 100,000 or unlimited. At the
  tier's number no further template goes until one of those people leaves the window;
  a follow-up inside the window (the lead wrote less than 24 hours before) is free form,
  neither counted nor held.
- Per-user marketing limit (error 131049): no follow-up to that lead before the instant
  its mark names (the failure + 24 hours).

Instants are aware datetimes; durations are elapsed time (UTC arithmetic).
"""

from collections.abc import Mapping
from datetime import datetime, timedelta

SERVICE_WINDOW = timedelta(hours=24)
LIMIT_WINDOW = timedelta(hours=24)

PEOPLE_PER_TIER: dict[str, int | None] = {
    "TIER_250": 250,
    "TIER_2K": 2_000,
    "TIER_10K": 10_000,
    "TIER_100K": 100_000,
    "UNLIMITED": None,
}


def free_form(wrote_at: datetime | None, instant: datetime) -> bool:
    """Whether a message at ``instant`` falls in the service window the lead opened."""
    return wrote_at is not None and wrote_at <= instant < wrote_at + SERVICE_WINDOW


def people_in_window(permits: Mapping[datetime, int], instant: datetime) -> int:
    """People reached with a template in the 24 hours up to ``instant``: ``permits`` maps
    each permit instant to how many people were reached then."""
    return sum(people for at, people in permits.items() if instant - LIMIT_WINDOW < at <= instant)


def messaging_limit_holds(
    *, tier: str, permits: Mapping[datetime, int], wrote_at: datetime | None, instant: datetime
) -> bool:
    """Whether the workspace's messaging limit refuses the lead a follow-up at ``instant``."""
    limit = PEOPLE_PER_TIER[tier]
    if limit is None or free_form(wrote_at, instant):
        return False
    return people_in_window(permits, instant) >= limit


def user_marketing_limit_holds(limited_until: datetime | None, instant: datetime) -> bool:
    """Whether the lead's per-user marketing limit refuses a follow-up at ``instant``."""
    return limited_until is not None and instant < limited_until


def channel_allows(
    *,
    tier: str,
    permits: Mapping[datetime, int],
    wrote_at: datetime | None,
    limited_until: datetime | None,
    instant: datetime,
) -> bool:
    """Whether both channel limits let a follow-up go at ``instant``."""
    return not (
        user_marketing_limit_holds(limited_until, instant)
        or messaging_limit_holds(tier=tier, permits=permits, wrote_at=wrote_at, instant=instant)
    )
