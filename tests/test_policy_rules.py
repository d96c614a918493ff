"""The policy as a pure function: each rule, each kind of send, the order of the
rules, next_allowed_at across daylight-saving changes, and the schedule preview."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.enums import (
    FLOOR_SEND_DAYS,
    BudgetTier,
    FollowUpPreset,
    LeadStage,
    LeadTag,
    MessageFormat,
    ReasonCode,
    SendKind,
    Weekday,
)
from app.policy.local_time import day_window
from app.policy.rules import (
    RULES,
    ActiveStrategy,
    Denial,
    PolicyInputs,
    decide,
    deferred_rules_pass,
)
from app.policy.schedule import interval_hours, next_followup_after, preview
from app.policy.trace import inputs_from_trace, rule_trace

# Wednesday 16 June 2027, 12:00 in London (11:00 UTC): every rule passes.
WEDNESDAY_NOON_LONDON = datetime(2027, 6, 16, 11, 0, tzinfo=UTC)
BALANCED = ActiveStrategy(
    id=1, version_number=1, followup_preset=FollowUpPreset.BALANCED, interval_overrides=None
)


def ready(**changes) -> PolicyInputs:
    """Inputs of a lead every rule lets through; ``changes`` break one thing."""
    inputs = PolicyInputs(
        kind=SendKind.FOLLOWUP,
        at=WEDNESDAY_NOON_LONDON,
        lead_id=1,
        lead_stage=LeadStage.CONTACTED,
        lead_tags=(),
        lead_timezone="Europe/London",
        workspace_timezone="UTC",
        budget_tier=BudgetTier.GREEN,
        attestation_granted=True,
        active_strategy=BALANCED,
        send_window_start=time(9),
        send_window_end=time(21),
        send_days=FLOOR_SEND_DAYS,
        blocked_dates=(),
        policy_version=1,
        last_inbound_at=WEDNESDAY_NOON_LONDON - timedelta(hours=2),
        recent_permits=(),
    )
    return replace(inputs, **changes)


HOUR = timedelta(hours=1)
AT = WEDNESDAY_NOON_LONDON


@pytest.fixture
def fresh_database() -> None:
    """The policy is pure: these tests need no database."""


# (reason, kind, what breaks it); deferred reasons get a next_allowed_at, others NULL.
DENIALS = [
    (ReasonCode.LEAD_SUPPRESSED, SendKind.FOLLOWUP, {"lead_stage": LeadStage.SUPPRESSED}),
    (ReasonCode.LEAD_SUPPRESSED, SendKind.REPLY, {"lead_stage": LeadStage.SUPPRESSED}),
    (ReasonCode.LEAD_DISCONNECTED, SendKind.FOLLOWUP, {"lead_tags": (LeadTag.DISCONNECT,)}),
    (ReasonCode.LEAD_DISCONNECTED, SendKind.REPLY, {"lead_tags": (LeadTag.DISCONNECT,)}),
    (ReasonCode.HUMAN_TAKEOVER, SendKind.FOLLOWUP, {"lead_stage": LeadStage.TAKE_OVER}),
    (ReasonCode.HUMAN_TAKEOVER, SendKind.REPLY, {"lead_stage": LeadStage.TAKE_OVER}),
    (ReasonCode.ATTESTATION_MISSING, SendKind.FOLLOWUP, {"attestation_granted": None}),
    (ReasonCode.ATTESTATION_MISSING, SendKind.FOLLOWUP, {"attestation_granted": False}),
    (ReasonCode.ATTESTATION_MISSING, SendKind.REPLY, {"attestation_granted": False}),
    (ReasonCode.REPLY_WINDOW_CLOSED, SendKind.REPLY, {"last_inbound_at": None}),
    (ReasonCode.REPLY_WINDOW_CLOSED, SendKind.REPLY, {"last_inbound_at": AT - 24 * HOUR}),
    (ReasonCode.LEAD_CLOSED, SendKind.FOLLOWUP, {"lead_stage": LeadStage.OUTCOME_APPOINTMENT}),
    (ReasonCode.LEAD_CLOSED, SendKind.FOLLOWUP, {"lead_stage": LeadStage.OUTCOME_PURCHASE}),
    (ReasonCode.LEAD_CLOSED, SendKind.FOLLOWUP, {"lead_stage": LeadStage.CLOSED_LOST}),
    (ReasonCode.NO_ACTIVE_STRATEGY, SendKind.FOLLOWUP, {"active_strategy": None}),
    (ReasonCode.BUDGET_RED, SendKind.FOLLOWUP, {"budget_tier": BudgetTier.RED}),
    (
        ReasonCode.STOP_UNANSWERED,
        SendKind.FOLLOWUP,
        {
            "last_inbound_at": AT - 13 * 24 * HOUR,
            "recent_permits": tuple(AT - days * 48 * HOUR for days in (5, 4, 3, 2, 1)),
        },
    ),
    (ReasonCode.OUTBOUND_CAP_24H, SendKind.FOLLOWUP, {"recent_permits": (AT - 23 * HOUR,)}),
    (ReasonCode.BLOCKED_DATE, SendKind.FOLLOWUP, {"blocked_dates": (date(2027, 6, 16),)}),
    (ReasonCode.SUNDAY_HOLD, SendKind.FOLLOWUP, {"at": AT + 4 * 24 * HOUR}),  # Sunday
    (ReasonCode.SUNDAY_HOLD, SendKind.FOLLOWUP, {"send_days": (Weekday.MON, Weekday.TUE)}),
    (ReasonCode.QUIET_HOURS, SendKind.FOLLOWUP, {"at": AT + 10 * HOUR}),  # 22:00 London
    (ReasonCode.QUIET_HOURS, SendKind.FOLLOWUP, {"at": AT - 4 * HOUR}),  # 08:00 London
    (ReasonCode.QUIET_HOURS, SendKind.FOLLOWUP, {"send_window_start": time(13)}),
]
DEFERRED = {rule.code for rule in RULES if rule.denial is Denial.DEFERRED}


@pytest.mark.parametrize(("reason", "kind", "changes"), DENIALS)
def test_each_rule_refuses_with_its_reason(reason, kind, changes):
    inputs = ready(kind=kind, **changes)
    decision = decide(inputs)
    assert (decision.allow_send, decision.reason_code) == (False, reason)
    assert decision.message_format is None
    if reason in DEFERRED:
        assert decision.next_allowed_at is not None and decision.next_allowed_at > inputs.at
        assert deferred_rules_pass(inputs, decision.next_allowed_at)
    else:
        assert decision.next_allowed_at is None


@pytest.mark.parametrize("kind", list(SendKind))
def test_a_lead_that_breaks_no_rule_is_allowed(kind):
    decision = decide(ready(kind=kind))
    assert (decision.allow_send, decision.reason_code) == (True, ReasonCode.POLICY_PASSED)
    assert decision.next_allowed_at is None


@pytest.mark.parametrize(
    "changes",
    [
        {"at": AT + 4 * 24 * HOUR},  # Sunday
        {"at": AT + 10 * HOUR},  # night
        {"blocked_dates": (date(2027, 6, 16),)},
        {"recent_permits": (AT - HOUR,)},
        {"lead_stage": LeadStage.CLOSED_LOST},
        {"budget_tier": BudgetTier.RED},
        {"active_strategy": None},
    ],
)
def test_replies_are_not_held_by_follow_up_rules(changes):
    reply = ready(kind=SendKind.REPLY, **changes)
    reply = replace(reply, last_inbound_at=reply.at - HOUR)  # the lead just wrote
    assert decide(reply).allow_send
    assert not decide(replace(reply, kind=SendKind.FOLLOWUP)).allow_send


def test_rules_are_checked_in_order_and_every_rule_is_recorded():
    # Suppressed, without attestation, at night on a blocked Sunday: four failures.
    decision = decide(
        ready(
            lead_stage=LeadStage.SUPPRESSED,
            attestation_granted=None,
            at=AT + 4 * 24 * HOUR + 10 * HOUR,
            blocked_dates=(date(2027, 6, 20),),
        )
    )
    trace = rule_trace(decision)
    assert [rule["rule"] for rule in trace["rules"]] == [rule.code for rule in RULES]
    failed = [rule["rule"] for rule in trace["rules"] if rule["passed"] is False]
    assert failed == [
        "LEAD_SUPPRESSED",
        "ATTESTATION_MISSING",
        "BLOCKED_DATE",
        "SUNDAY_HOLD",
        "QUIET_HOURS",
    ]
    assert decision.reason_code == ReasonCode.LEAD_SUPPRESSED
    assert decision.next_allowed_at is None  # a permanent rule failed


def test_rules_that_do_not_apply_to_the_kind_are_recorded_as_not_checked():
    trace = rule_trace(decide(ready(kind=SendKind.REPLY)))
    skipped = {rule["rule"] for rule in trace["rules"] if not rule["applies"]}
    assert skipped == {rule.code for rule in RULES if SendKind.REPLY not in rule.kinds}
    assert "REPLY_WINDOW_CLOSED" not in skipped and "QUIET_HOURS" in skipped


def test_message_format_is_free_form_inside_the_customer_service_window():
    inside = decide(ready(last_inbound_at=AT - 23 * HOUR))
    outside = decide(ready(last_inbound_at=AT - 25 * HOUR))
    never = decide(ready(last_inbound_at=None))
    assert inside.message_format == MessageFormat.FREE_FORM
    assert outside.message_format == never.message_format == MessageFormat.TEMPLATE


def test_local_time_is_the_leads_zone_else_the_workspaces():
    # 11:00 UTC is 20:00 in Tokyo (open) and 07:00 in New York (closed).
    tokyo = ready(lead_timezone=None, workspace_timezone="Asia/Tokyo")
    assert decide(tokyo).allow_send
    new_york_lead = ready(lead_timezone="America/New_York", workspace_timezone="Asia/Tokyo")
    assert decide(new_york_lead).reason_code == ReasonCode.QUIET_HOURS


def test_the_stop_rule_counts_only_permits_since_the_lead_last_wrote():
    five = tuple(AT - days * 48 * HOUR for days in (5, 4, 3, 2, 1))
    assert decide(ready(recent_permits=five, last_inbound_at=None)).reason_code == (
        ReasonCode.STOP_UNANSWERED
    )
    # The lead wrote after the second permit: three unanswered, go on.
    wrote = ready(recent_permits=five, last_inbound_at=AT - 7 * 24 * HOUR)
    assert decide(wrote).allow_send
    # Permits older than 14 days no longer count.
    old = tuple(AT - days * 24 * HOUR for days in (15, 14.5, 4, 3, 2))
    assert decide(ready(recent_permits=old, last_inbound_at=None)).allow_send


def test_the_cap_defers_to_24_hours_after_the_last_permit():
    last = AT - 20 * HOUR  # Tuesday 15:00 UTC = 16:00 London
    decision = decide(ready(recent_permits=(last,)))
    assert decision.reason_code == ReasonCode.OUTBOUND_CAP_24H
    assert decision.next_allowed_at == last + timedelta(hours=24)


def test_the_send_policy_narrows_the_window():
    florida = ready(
        lead_timezone="America/New_York",
        send_window_start=time(10),
        send_window_end=time(20),
        at=datetime(2027, 6, 16, 0, 30, tzinfo=UTC),
    )
    decision = decide(florida)  # 20:30 Tuesday in New York
    assert decision.reason_code == ReasonCode.QUIET_HOURS
    # Wednesday 10:00 EDT = 14:00 UTC.
    assert decision.next_allowed_at == datetime(2027, 6, 16, 14, 0, tzinfo=UTC)


def test_blocked_dates_and_dropped_days_push_the_next_opening():
    # Friday 22:00 London; Saturday dropped; Monday blocked: Tuesday 09:00 BST.
    friday_night = datetime(2027, 6, 18, 21, 0, tzinfo=UTC)
    decision = decide(
        ready(
            at=friday_night,
            send_days=(Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI),
            blocked_dates=(date(2027, 6, 21),),
        )
    )
    assert decision.next_allowed_at == datetime(2027, 6, 22, 8, 0, tzinfo=UTC)


def test_the_trace_holds_what_is_needed_to_replay():
    inputs = ready(recent_permits=(AT - 30 * HOUR,), blocked_dates=(date(2027, 12, 25),))
    decision = decide(inputs)
    trace = rule_trace(decision)
    assert inputs_from_trace(trace) == inputs
    assert trace["zone"] == "Europe/London"
    assert trace["local_time"].startswith("2027-06-16T12:00:00+01:00")
    assert rule_trace(decide(inputs_from_trace(trace))) == trace


# --- wall-clock time across daylight-saving changes ----------------------------------------


def instant_of(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """Where a window opening at ``wall`` on ``day`` starts."""
    return day_window(tz.key, day, wall, time(23, 59))[0][0]


def test_a_wall_time_that_does_not_exist_moves_to_the_first_instant_that_does():
    # New York, 14 March 2027: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    new_york = ZoneInfo("America/New_York")
    assert instant_of(date(2027, 3, 14), time(2, 30), new_york) == datetime(
        2027, 3, 14, 7, 0, tzinfo=UTC
    )
    # Lord Howe, 3 October 2027: 02:00 jumps to 02:30 (+10:30 to +11).
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    assert instant_of(date(2027, 10, 3), time(2, 15), lord_howe) == datetime(
        2027, 10, 2, 15, 30, tzinfo=UTC
    )


def test_an_ambiguous_wall_time_takes_its_first_occurrence():
    # New York, 7 November 2027: 01:30 happens at 05:30 UTC (EDT), then at 06:30 UTC (EST).
    assert instant_of(date(2027, 11, 7), time(1, 30), ZoneInfo("America/New_York")) == datetime(
        2027, 11, 7, 5, 30, tzinfo=UTC
    )
    # Lord Howe, 4 April 2027: 01:45 happens at 14:45 UTC (+11), then at 15:15 UTC (+10:30).
    assert instant_of(date(2027, 4, 4), time(1, 45), ZoneInfo("Australia/Lord_Howe")) == (
        datetime(2027, 4, 3, 14, 45, tzinfo=UTC)
    )


# Evaluated one minute before each transition (a Sunday night in every one of these
# zones): the next opening is Monday 09:00 local, read with the offset AFTER the change.
TRANSITIONS = [
    ("America/New_York", datetime(2027, 3, 14, 6, 59, tzinfo=UTC), "2027-03-15T13:00"),
    ("America/New_York", datetime(2027, 11, 7, 5, 59, tzinfo=UTC), "2027-11-08T14:00"),
    ("Europe/London", datetime(2027, 3, 28, 0, 59, tzinfo=UTC), "2027-03-29T08:00"),
    ("Europe/London", datetime(2027, 10, 31, 0, 59, tzinfo=UTC), "2027-11-01T09:00"),
    ("Australia/Lord_Howe", datetime(2027, 4, 3, 14, 59, tzinfo=UTC), "2027-04-04T22:30"),
    ("Australia/Lord_Howe", datetime(2027, 10, 2, 15, 29, tzinfo=UTC), "2027-10-03T22:00"),
    ("Pacific/Chatham", datetime(2027, 4, 3, 13, 59, tzinfo=UTC), "2027-04-04T20:15"),
    ("Pacific/Chatham", datetime(2027, 9, 25, 13, 59, tzinfo=UTC), "2027-09-26T19:15"),
    ("America/Sao_Paulo", datetime(2018, 2, 18, 1, 59, tzinfo=UTC), "2018-02-19T12:00"),
    ("America/Sao_Paulo", datetime(2018, 11, 4, 2, 59, tzinfo=UTC), "2018-11-05T11:00"),
    ("Asia/Kuala_Lumpur", datetime(2027, 3, 13, 16, 0, tzinfo=UTC), "2027-03-15T01:00"),
]


@pytest.mark.parametrize(("zone_name", "at", "expected_utc"), TRANSITIONS)
def test_the_next_opening_after_a_clock_change(zone_name, at, expected_utc):
    decision = decide(ready(lead_timezone=zone_name, at=at))
    assert decision.reason_code in (ReasonCode.SUNDAY_HOLD, ReasonCode.QUIET_HOURS)
    expected = datetime.fromisoformat(expected_utc).replace(tzinfo=UTC)
    assert decision.next_allowed_at == expected
    assert decision.next_allowed_at.astimezone(ZoneInfo(zone_name)).strftime("%a %H:%M") == (
        "Mon 09:00"
    )


def test_the_24_hour_cap_is_counted_in_utc_not_wall_clock():
    # Permit Saturday 2027-03-13 18:00 EST (23:00 UTC); clocks spring forward that night.
    # 24 real hours later it is Sunday 19:00 EDT: held to Monday 09:00 EDT.
    last = datetime(2027, 3, 13, 23, 0, tzinfo=UTC)
    decision = decide(
        ready(
            lead_timezone="America/New_York", recent_permits=(last,), at=last + timedelta(hours=2)
        )
    )
    assert decision.reason_code == ReasonCode.OUTBOUND_CAP_24H
    assert decision.next_allowed_at == datetime(2027, 3, 15, 13, 0, tzinfo=UTC)
    # In Kuala Lumpur (no DST) a permit at Monday 10:00 allows Tuesday 10:00 exactly.
    monday = datetime(2027, 3, 15, 2, 0, tzinfo=UTC)
    kl = decide(
        ready(
            lead_timezone="Asia/Kuala_Lumpur",
            recent_permits=(monday,),
            at=monday + timedelta(hours=1),
        )
    )
    assert kl.next_allowed_at == monday + timedelta(hours=24)


DST_ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kuala_Lumpur",
    "Pacific/Chatham",
    "America/Sao_Paulo",
]


@cache
def transitions_of(zone_name: str) -> tuple[datetime, ...]:
    """UTC hours at which the zone's offset changes, in years with and without DST."""
    tz = ZoneInfo(zone_name)
    found = []
    for year in (2017, 2018, 2026, 2027, 2028):
        hour = datetime(year, 1, 1, tzinfo=UTC)
        previous = hour.astimezone(tz).utcoffset()
        while hour.year == year:
            hour += timedelta(hours=1)
            offset = hour.astimezone(tz).utcoffset()
            if offset != previous:
                found.append(hour)
            previous = offset
    # A zone without DST still gets instants: the new year in each sampled year.
    return tuple(found) or tuple(datetime(year, 1, 1, tzinfo=UTC) for year in (2018, 2027))


@st.composite
def around_transitions(draw):
    zone_name = draw(st.sampled_from(DST_ZONES))
    anchor = draw(st.sampled_from(transitions_of(zone_name)))
    at = anchor + timedelta(
        minutes=draw(st.integers(-3 * 24 * 60, 3 * 24 * 60)), seconds=draw(st.integers(0, 59))
    )
    opens = draw(st.sampled_from([time(9), time(9, 30), time(10), time(12, 15)]))
    closes = draw(st.sampled_from([time(13), time(17, 45), time(20), time(21)]))
    days = draw(st.lists(st.sampled_from(FLOOR_SEND_DAYS), min_size=1, max_size=6, unique=True))
    local_day = at.astimezone(ZoneInfo(zone_name)).date()
    blocked = draw(st.lists(st.integers(0, 4), max_size=2, unique=True))
    permits = draw(st.lists(st.integers(1, 30 * 60), max_size=1))
    return ready(
        lead_timezone=zone_name,
        at=at,
        send_window_start=opens,
        send_window_end=closes,
        send_days=tuple(days),
        blocked_dates=tuple(local_day + timedelta(days=n) for n in blocked),
        recent_permits=tuple(at - timedelta(minutes=m) for m in permits),
    )


WEEKDAYS = list(Weekday)


def open_at(inputs: PolicyInputs, instant: datetime) -> bool:
    """The time rules, read straight from the specification: 24 real hours since the
    last permit, then the lead's local date, day and wall-clock time."""
    local = instant.astimezone(ZoneInfo(inputs.zone_name))
    last = max(inputs.recent_permits, default=None)
    return (
        (last is None or instant - last >= timedelta(hours=24))
        and local.date() not in inputs.blocked_dates
        and WEEKDAYS[local.weekday()] in inputs.send_days
        and inputs.send_window_start <= local.time() < inputs.send_window_end
    )


@settings(max_examples=200, deadline=None)
@given(around_transitions())
def test_next_allowed_at_is_the_first_allowed_minute(inputs):
    decision = decide(inputs)
    assert decision.allow_send == open_at(inputs, inputs.at)
    if decision.allow_send:
        return
    allowed = decision.next_allowed_at
    assert allowed is not None and allowed >= inputs.at
    assert deferred_rules_pass(inputs, allowed) and open_at(inputs, allowed)
    # Brute force: no earlier minute passes every time rule.
    minute = inputs.at
    while minute < allowed:
        assert not open_at(inputs, minute), (minute, allowed)
        minute += timedelta(minutes=1)
    # The opening is exact to the second, not merely on the minute grid.
    assert not open_at(inputs, allowed - timedelta(seconds=1)) or allowed == inputs.at


# --- the schedule ------------------------------------------------------------------------------


def test_intervals_come_from_the_preset_unless_the_stage_is_overridden():
    assert [
        interval_hours(replace(BALANCED, followup_preset=preset), LeadStage.NEW)
        for preset in FollowUpPreset
    ] == [72, 48, 24]
    overridden = replace(BALANCED, interval_overrides={"QUALIFIED": 6})
    assert interval_hours(overridden, LeadStage.QUALIFIED) == 6
    assert interval_hours(overridden, LeadStage.NEW) == 48


def test_the_next_follow_up_is_moved_into_the_next_window():
    # Allowed Wednesday 12:00 London; 48 h later is Friday 12:00 London.
    assert next_followup_after(ready(), AT) == AT + timedelta(hours=48)
    # Friday 20:30 London + 48 h = Sunday 20:30: held to Monday 09:00 BST.
    friday = datetime(2027, 6, 18, 19, 30, tzinfo=UTC)
    assert next_followup_after(ready(at=friday), friday) == datetime(2027, 6, 21, 8, 0, tzinfo=UTC)
    # A 6-hour override still waits out the 24-hour cap.
    quick = ready(active_strategy=replace(BALANCED, interval_overrides={"CONTACTED": 6}))
    assert next_followup_after(quick, AT) == AT + timedelta(hours=24)


def test_the_preview_stops_after_five_unanswered_follow_ups():
    planned = preview(ready(last_inbound_at=None), 10)
    assert len(planned.instants) == 5
    assert planned.stops_with == ReasonCode.STOP_UNANSWERED
    gaps = [b - a for a, b in zip(planned.instants, planned.instants[1:], strict=False)]
    assert all(gap >= timedelta(hours=48) for gap in gaps)
    for instant in planned.instants:
        assert deferred_rules_pass(ready(), instant)


def test_the_preview_is_empty_when_a_rule_refuses_for_good():
    planned = preview(ready(lead_tags=(LeadTag.DISCONNECT,)), 5)
    assert (planned.instants, planned.stops_with) == ((), ReasonCode.LEAD_DISCONNECTED)
