"""The messaging limit and the per-user marketing limit against oracles written from the
issue's text (tests/channel_oracle.py for the channel, tests/recipient_oracle.py for the
time rules): for generated tiers, counts at and below the limit, oldest permits, leads
who wrote recently or not, quiet hours and daylight-saving changes in the lead's zone,
``decide()`` allows exactly when both oracles do, and at ``next_allowed_at`` it allows
while no earlier instant (each minute from ``at``) does."""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.enums import FLOOR_SEND_DAYS, MessageFormat, MessagingTier, ReasonCode
from app.policy.rules import Denial, PolicyInputs, decide
from tests import channel_oracle as channel
from tests import recipient_oracle
from tests.test_policy_rules import ready

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
# Wednesday 16 June 2027, 12:00 in London.
AT = datetime(2027, 6, 16, 11, 0, tzinfo=UTC)


@pytest.fixture
def fresh_database() -> None:
    """The policy is pure: these tests need no database."""


@dataclass(frozen=True)
class Case:
    """Generated inputs and the facts the oracle reads (the permits behind the count)."""

    inputs: PolicyInputs
    permits: dict[datetime, int]

    def oracle_allows(self, instant: datetime) -> bool:
        inputs = self.inputs
        rules = recipient_oracle.prepare_rules(
            external_id=None,
            lead_timezone=inputs.lead_timezone,
            workspace_timezone=inputs.workspace_timezone,
            window_start=inputs.send_window_start,
            window_end=inputs.send_window_end,
            send_days=[day.value for day in inputs.send_days],
            blocked_dates=set(inputs.blocked_dates),
            holiday_calendars=list(inputs.holiday_calendars),
            lead_country_holidays=inputs.lead_country_holidays,
            last_permit=max(inputs.recent_permits, default=None),
            at=inputs.at,
        )
        assert rules is not None
        return rules.allowed(instant) and self.channel_allows(instant)

    def channel_allows(self, instant: datetime) -> bool:
        return channel.channel_allows(
            tier=self.inputs.messaging_tier.value,
            permits=self.permits,
            wrote_at=self.inputs.last_inbound_at,
            limited_until=self.inputs.marketing_limited_until,
            instant=instant,
        )


# (zone, an instant near a change of its clocks)
DST_CHANGES = [
    ("America/New_York", datetime(2027, 3, 14, 7, tzinfo=UTC)),
    ("America/New_York", datetime(2027, 11, 7, 6, tzinfo=UTC)),
    ("Europe/London", datetime(2027, 3, 28, 1, tzinfo=UTC)),
    ("Europe/London", datetime(2027, 10, 31, 1, tzinfo=UTC)),
    ("Australia/Sydney", datetime(2027, 4, 3, 16, tzinfo=UTC)),
    ("Australia/Sydney", datetime(2027, 10, 2, 16, tzinfo=UTC)),
    ("Asia/Kuala_Lumpur", datetime(2027, 6, 16, 4, tzinfo=UTC)),  # no DST at all
]
WINDOWS = [(time(9), time(21)), (time(10), time(18)), (time(9), time(12)), (time(20), time(21))]


def seconds(draw, low: int, high: int) -> timedelta:
    return timedelta(seconds=draw(st.integers(low, high)))


@st.composite
def permits_behind(draw, at: datetime, limit: int) -> dict[datetime, int]:
    """The template permits of the 24 h before ``at``: how many people at which instant,
    in all at or below the limit (a limit just reached is the interesting edge)."""
    count = draw(st.sampled_from([0, 1, limit - 1, limit, limit]))
    if count == 0:
        return {}
    oldest = at - seconds(draw, 1, 24 * 3600 - 1)
    first = min(count, draw(st.integers(1, 3)))
    permits = {oldest: first}
    rest = count - first
    for _ in range(draw(st.integers(0, 2))):
        if rest == 0:
            break
        later = oldest + (at - oldest) * draw(st.floats(0.01, 1.0))
        people = draw(st.integers(1, rest))
        permits[later] = permits.get(later, 0) + people
        rest -= people
    if rest:
        permits[at] = permits.get(at, 0) + rest
    return permits


@st.composite
def cases(draw) -> Case:
    zone, change = draw(st.sampled_from(DST_CHANGES))
    at = change + seconds(draw, -2 * 86_400, 2 * 86_400)
    opens, closes = draw(st.sampled_from(WINDOWS))
    tier = draw(st.sampled_from(list(MessagingTier)))
    limit = tier.limit
    permits = {} if limit is None else draw(permits_behind(at, limit))
    # Often just about 24 h before: the service window closes around ``at``.
    ago = st.integers(0, 3 * 86_400) | st.integers(86_400 - 300, 86_400 + 300)
    wrote = draw(st.none() | ago.map(lambda s: at - timedelta(seconds=s)))
    until = draw(
        st.none() | st.integers(-86_400, 2 * 86_400).map(lambda s: at + timedelta(seconds=s))
    )
    inputs = ready(
        at=at,
        lead_timezone=zone,
        send_window_start=opens,
        send_window_end=closes,
        send_days=FLOOR_SEND_DAYS,
        messaging_tier=tier,
        template_recipients_24h=sum(permits.values()),
        oldest_template_at=min(permits, default=None),
        last_inbound_at=wrote,
        marketing_limited_until=until,
    )
    return Case(inputs, permits)


def minutes_before(start: datetime, end: datetime):
    """``start``, then every whole minute after it, before ``end``."""
    yield start
    minute = start.replace(second=0, microsecond=0) + MINUTE
    while minute < end:
        yield minute
        minute += MINUTE


@pytest.mark.long_running
@settings(max_examples=300, deadline=None)
@given(cases())
def test_the_next_allowed_instant_is_the_first_the_oracles_allow(case):
    inputs = case.inputs
    decision = decide(inputs)
    assert decision.allow_send == case.oracle_allows(inputs.at), decision.summary
    if decision.allow_send:
        free = channel.free_form(inputs.last_inbound_at, inputs.at)
        assert decision.message_format is (
            MessageFormat.FREE_FORM if free else MessageFormat.TEMPLATE
        )
        return
    if not case.channel_allows(inputs.at):
        held_by_user = channel.user_marketing_limit_holds(inputs.marketing_limited_until, inputs.at)
        assert decision.reason_code is (
            ReasonCode.USER_MARKETING_LIMIT if held_by_user else ReasonCode.MESSAGING_LIMIT
        )
    assert decision.denial is Denial.DEFERRED
    allowed_at = decision.next_allowed_at
    assert allowed_at is not None and allowed_at > inputs.at
    assert case.oracle_allows(allowed_at), decision.summary
    assert decide(replace(inputs, at=allowed_at)).allow_send
    early = next((m for m in minutes_before(inputs.at, allowed_at) if case.oracle_allows(m)), None)
    assert early is None, (early, decision.summary)


# --- the edges, by example -------------------------------------------------------------------

FULL = {
    "messaging_tier": MessagingTier.TIER_250,
    "template_recipients_24h": 250,
    "oldest_template_at": AT - 20 * HOUR,
}


def test_at_the_limit_a_lead_who_wrote_goes_free_form_and_one_who_did_not_waits():
    wrote = decide(ready(**FULL, last_inbound_at=AT - 23 * HOUR - 59 * MINUTE))
    assert (wrote.allow_send, wrote.message_format) == (True, MessageFormat.FREE_FORM)
    silent = decide(ready(**FULL, last_inbound_at=AT - 24 * HOUR))  # the window just closed
    assert (silent.reason_code, silent.next_allowed_at) == (
        ReasonCode.MESSAGING_LIMIT,
        AT + 4 * HOUR,
    )
    assert "250 of 250 people" in silent.summary and "a place frees at" in silent.summary


def test_below_the_limit_a_template_goes():
    decision = decide(ready(**{**FULL, "template_recipients_24h": 249}, last_inbound_at=None))
    assert (decision.allow_send, decision.message_format) == (True, MessageFormat.TEMPLATE)


def test_a_free_form_window_open_at_the_opening_does_not_wait_for_a_place():
    # 22:00 in London: the window opens 09:00 Thursday, while the lead's service window
    # is still open (it wrote at 21:30): free form then, not counted.
    night = datetime(2027, 6, 16, 21, 0, tzinfo=UTC)
    full = {**FULL, "oldest_template_at": night - 2 * HOUR}
    wrote_late = decide(ready(**full, at=night, last_inbound_at=night - 30 * MINUTE))
    assert wrote_late.reason_code is ReasonCode.QUIET_HOURS
    assert wrote_late.next_allowed_at == datetime(2027, 6, 17, 8, 0, tzinfo=UTC)
    # It wrote at 08:00: free form now, but the service window closes before the
    # opening; a template then waits for the place that frees at 20:00 Thursday (the
    # oldest permit + 24 h). Had it never written, the limit itself would be the reason.
    wrote_early = decide(ready(**full, at=night, last_inbound_at=night - 14 * HOUR))
    assert wrote_early.reason_code is ReasonCode.QUIET_HOURS
    assert wrote_early.next_allowed_at == night - 2 * HOUR + 24 * HOUR
    silent = decide(ready(**full, at=night, last_inbound_at=None))
    assert silent.reason_code is ReasonCode.MESSAGING_LIMIT
    assert silent.next_allowed_at == night - 2 * HOUR + 24 * HOUR


def test_the_per_user_marketing_limit_holds_even_free_form():
    until = AT + 30 * HOUR
    decision = decide(ready(marketing_limited_until=until, last_inbound_at=AT - HOUR))
    assert (decision.reason_code, decision.next_allowed_at) == (
        ReasonCode.USER_MARKETING_LIMIT,
        until,
    )
    assert decide(ready(marketing_limited_until=until, at=until)).allow_send
