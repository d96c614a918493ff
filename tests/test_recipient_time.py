"""Recipient-local time: the zone(s) of the lead's number, public holidays, stricter
jurisdictions and openings computed on instants, checked against an oracle written
from the specification alone (tests/recipient_oracle.py), not from the code."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.enums import (
    FLOOR_SEND_DAYS,
    ConsentAction,
    LeadStage,
    MessagingTier,
    ReasonCode,
    SendKind,
    Weekday,
)
from app.phone_numbers import lead_number
from app.policy.recipient import ZoneSource
from app.policy.rules import ConsentRecord, Denial, PolicyInputs, decide, deferred_rules_pass
from app.policy.schedule import preview
from app.policy.trace import inputs_from_trace, rule_trace
from tests import recipient_oracle as oracle
from tests.test_channel_rules import US_MARKETING_PAUSE
from tests.test_policy_rules import ready

WORKSPACE_ZONES = ["Asia/Kuala_Lumpur", "America/New_York", "Europe/London"]
WEDNESDAY = datetime(2027, 6, 16, tzinfo=UTC)
SATURDAY = datetime(2027, 6, 19, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def fresh_database() -> None:
    """The policy is pure: these tests need no database."""


@cache
def example_mobiles() -> tuple[tuple[str, str], ...]:
    """(region, E.164) of libphonenumber's example mobile number of every region."""
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if number is not None:
            found.append((region, phonenumbers.format_number(number, 0)))
    return tuple(found)


def lead(e164: str, **changes) -> PolicyInputs:
    """A lead every non-time rule lets through, known only by its number."""
    return ready(**{"lead_timezone": None, "lead_number": lead_number(e164), **changes})


def oracle_arguments(inputs: PolicyInputs, e164: str | None) -> dict:
    return {
        "external_id": e164,
        "lead_timezone": inputs.lead_timezone,
        "workspace_timezone": inputs.workspace_timezone,
        "window_start": inputs.send_window_start,
        "window_end": inputs.send_window_end,
        "send_days": [day.value for day in inputs.send_days],
        "blocked_dates": set(inputs.blocked_dates),
        "holiday_calendars": list(inputs.holiday_calendars),
        "lead_country_holidays": inputs.lead_country_holidays,
        "last_permit": max(inputs.recent_permits, default=None),
    }


def oracle_allows(inputs: PolicyInputs, e164: str | None) -> bool | None:
    return oracle.allowed_at(**oracle_arguments(inputs, e164), at=inputs.at)


# --- every region of libphonenumber's metadata ---------------------------------------------


def test_the_metadata_has_example_mobiles_of_every_region():
    regions = example_mobiles()
    assert len(regions) >= 240
    assert sum(len(lead_number(e164).zones) > 1 for _, e164 in regions) >= 40


@pytest.mark.parametrize("workspace_zone", WORKSPACE_ZONES)
def test_no_permit_falls_outside_the_window_of_the_numbers_zones(workspace_zone):
    """Each region's example mobile number, no timezone, at every hour of a Wednesday and
    a Saturday: the engine allows exactly when the oracle does in the number's zone(s)
    (resolved by the oracle once per day)."""
    disagreements, permits = [], 0
    for region, e164 in example_mobiles():
        for day in (WEDNESDAY, SATURDAY):
            inputs = lead(e164, workspace_timezone=workspace_zone, at=day)
            rules = oracle.prepare_rules(**oracle_arguments(inputs, e164), at=day)
            for hour in range(24):
                decision = decide(replace(inputs, at=day + hour * HOUR))
                if rules is None:
                    agrees = decision.reason_code is ReasonCode.ZONE_UNRESOLVED
                else:
                    agrees = decision.allow_send == rules.allowed(day + hour * HOUR)
                if not agrees:
                    disagreements.append((region, day + hour * HOUR, decision.summary))
                permits += decision.allow_send
    assert disagreements == []
    assert permits > 0


def test_the_opening_of_every_region_is_the_first_the_oracle_finds():
    """At Wednesday 22:00 UTC in a Kuala Lumpur workspace: next_allowed_at is the first
    instant the brute-force oracle allows, and the engine allows there."""
    for region, e164 in example_mobiles():
        inputs = lead(e164, workspace_timezone="Asia/Kuala_Lumpur", at=WEDNESDAY + 22 * HOUR)
        decision = decide(inputs)
        if decision.allow_send or decision.denial is not Denial.DEFERRED:
            continue
        expected = oracle.first_allowed(
            **oracle_arguments(inputs, e164), not_before=inputs.at, horizon=timedelta(days=8)
        )
        assert decision.next_allowed_at == expected, (region, decision.summary)
        assert decide(replace(inputs, at=decision.next_allowed_at)).allow_send, region


# --- named cases ----------------------------------------------------------------------------


def at_local(zone_name: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone_name)).astimezone(UTC)


NEW_YORK_NUMBER = "+12125550123"


def test_a_new_york_number_in_a_kuala_lumpur_workspace_is_read_in_new_york():
    inputs = lead(NEW_YORK_NUMBER, workspace_timezone="Asia/Kuala_Lumpur")
    morning = decide(replace(inputs, at=at_local("America/New_York", 2027, 6, 16, 10)))
    night = decide(replace(inputs, at=at_local("America/New_York", 2027, 6, 16, 22)))
    assert morning.allow_send
    assert night.reason_code is ReasonCode.QUIET_HOURS
    trace = rule_trace(night)
    assert trace["zones"] == ["America/New_York"]
    assert trace["zone_source"] == ZoneSource.PHONE_NUMBER
    assert "America/New_York, from the +1 212 number" in night.summary
    assert night.next_allowed_at == at_local("America/New_York", 2027, 6, 17, 9)


def test_the_leads_explicit_timezone_beats_its_number():
    inputs = lead(
        NEW_YORK_NUMBER,
        lead_timezone="Asia/Tokyo",
        at=at_local("America/New_York", 2027, 6, 16, 22),  # 11:00 in Tokyo
    )
    decision = decide(inputs)
    assert decision.allow_send
    assert rule_trace(decision)["zones"] == ["Asia/Tokyo"]
    assert "the lead's timezone" in decision.summary


@pytest.mark.parametrize(
    ("external_id", "why"),
    [
        ("+10000000000", "+10000000000 is not a valid phone number"),
        ("crm:42", "its id is not a phone number"),
    ],
)
def test_without_a_zone_from_the_number_the_workspaces_zone_applies(external_id, why):
    inputs = ready(
        lead_timezone=None,
        lead_number=lead_number(external_id),
        workspace_timezone="Asia/Kuala_Lumpur",
        at=at_local("Asia/Kuala_Lumpur", 2027, 6, 16, 22),
    )
    decision = decide(inputs)
    assert decision.reason_code is ReasonCode.QUIET_HOURS
    assert rule_trace(decision)["zones"] == ["Asia/Kuala_Lumpur"]
    assert rule_trace(decision)["zone_source"] == ZoneSource.WORKSPACE
    assert why in decision.summary


RUSSIAN_NUMBER = "+79123456789"


def test_a_russian_number_is_sent_to_only_when_every_zone_is_open():
    zones = lead_number(RUSSIAN_NUMBER).zones
    assert len(zones) >= 11
    inputs = lead(RUSSIAN_NUMBER, workspace_timezone="Asia/Kuala_Lumpur")
    for hour in range(24):
        at = WEDNESDAY + hour * HOUR
        decision = decide(replace(inputs, at=at))
        everywhere = all(
            9 <= at.astimezone(ZoneInfo(name)).hour < 21
            and at.astimezone(ZoneInfo(name)).weekday() < 6
            for name in zones
        )
        assert decision.allow_send == everywhere, (at, decision.summary)


def test_candidates_that_never_share_the_window_fall_back_or_wait_for_an_operator():
    narrow = {"send_window_start": time(9), "send_window_end": time(17), "at": WEDNESDAY}
    unresolved = decide(lead(RUSSIAN_NUMBER, workspace_timezone="Asia/Kuala_Lumpur", **narrow))
    assert unresolved.reason_code is ReasonCode.ZONE_UNRESOLVED
    assert unresolved.denial is Denial.UNTIL and unresolved.next_allowed_at is None
    assert "never share the send window" in unresolved.summary
    assert "set the lead's timezone" in unresolved.summary
    moscow = decide(lead(RUSSIAN_NUMBER, workspace_timezone="Europe/Moscow", **narrow))
    assert rule_trace(moscow)["zones"] == ["Europe/Moscow"]
    assert rule_trace(moscow)["zone_source"] == ZoneSource.WORKSPACE
    # Replies are not held: the customer-service window has no local hours.
    reply = decide(
        lead(RUSSIAN_NUMBER, workspace_timezone="Asia/Kuala_Lumpur", kind=SendKind.REPLY, **narrow)
    )
    assert reply.allow_send


def test_an_australian_mobile_waits_for_every_australian_zone():
    e164 = "+61412345678"
    zones = lead_number(e164).zones
    assert {"Australia/Perth", "Australia/Sydney"} <= set(zones)
    # 09:30 in Sydney is 07:30 in Perth: not yet. The window opens when the last of the
    # candidates (the number's zones include Cocos and Christmas Islands) reaches 09:00.
    early = decide(lead(e164, at=at_local("Australia/Sydney", 2027, 6, 16, 9, 30)))
    assert early.reason_code is ReasonCode.QUIET_HOURS
    assert early.next_allowed_at == max(at_local(name, 2027, 6, 16, 9) for name in zones)


FLORIDA_NUMBER = "+13055550123"


def test_a_florida_number_is_not_sent_to_after_20_00_local():
    inputs = lead(FLORIDA_NUMBER, workspace_timezone="Asia/Kuala_Lumpur")
    late = decide(replace(inputs, at=at_local("America/New_York", 2027, 6, 16, 20, 30)))
    earlier = decide(replace(inputs, at=at_local("America/New_York", 2027, 6, 16, 19, 30)))
    new_york = decide(lead(NEW_YORK_NUMBER, at=at_local("America/New_York", 2027, 6, 16, 20, 30)))
    assert late.reason_code is ReasonCode.QUIET_HOURS
    assert "Florida" in late.summary and "501.059" in late.summary
    assert earlier.allow_send and new_york.allow_send
    assert late.next_allowed_at == at_local("America/New_York", 2027, 6, 17, 9)


@pytest.mark.parametrize(
    ("e164", "state"), [("+14055550123", "Oklahoma"), ("+14105550123", "Maryland")]
)
def test_oklahoma_and_maryland_numbers_end_at_20_00(e164, state):
    zone_name = lead_number(e164).zones[0]
    decision = decide(lead(e164, at=at_local(zone_name, 2027, 6, 16, 20, 0)))
    assert decision.reason_code is ReasonCode.QUIET_HOURS and state in decision.summary
    assert oracle.jurisdiction_of(e164) == state


MALAYSIAN_NUMBER = "+60123456789"


def test_a_malaysian_number_waits_out_a_malaysian_public_holiday():
    # Malaysia Day, Thursday 16 September 2027.
    at = at_local("Asia/Kuala_Lumpur", 2027, 9, 16, 11)
    inputs = lead(MALAYSIAN_NUMBER, at=at, lead_country_holidays=True)
    decision = decide(inputs)
    assert decision.reason_code is ReasonCode.PUBLIC_HOLIDAY
    assert "Malaysia Day" in decision.summary and "(MY)" in decision.summary
    assert decision.next_allowed_at == at_local("Asia/Kuching", 2027, 9, 17, 9)
    assert decision.next_allowed_at == oracle.first_allowed(
        **oracle_arguments(inputs, MALAYSIAN_NUMBER), not_before=at, horizon=timedelta(days=3)
    )
    # Off by default, and a named calendar does the same for every lead.
    assert decide(replace(inputs, lead_country_holidays=False)).allow_send
    named = decide(lead(NEW_YORK_NUMBER, lead_timezone="Asia/Kuala_Lumpur", at=at,
                        holiday_calendars=("MY",)))  # fmt: skip
    assert named.reason_code is ReasonCode.PUBLIC_HOLIDAY


def test_a_holiday_on_a_daylight_saving_day():
    # Holy Saturday, 4 April 2026, is a public holiday in Chile, and Santiago's clocks
    # fall back at midnight that night (a 25-hour Saturday).
    inputs = ready(
        lead_timezone="America/Santiago",
        holiday_calendars=("CL",),
        at=at_local("America/Santiago", 2026, 4, 4, 11),
    )
    decision = decide(inputs)
    assert decision.reason_code is ReasonCode.PUBLIC_HOLIDAY
    assert "Holy Saturday" in decision.summary
    # Sunday is held too; Monday 09:00 is read with the offset after the change (-04).
    assert decision.next_allowed_at == datetime(2026, 4, 6, 13, 0, tzinfo=UTC)
    assert decision.next_allowed_at == oracle.first_allowed(
        **oracle_arguments(inputs, None), not_before=inputs.at, horizon=timedelta(days=4)
    )


def test_the_trace_replays_the_number_and_holidays():
    inputs = lead(MALAYSIAN_NUMBER, at=at_local("Asia/Kuala_Lumpur", 2027, 9, 16, 11),
                  lead_country_holidays=True, holiday_calendars=("GB-SCT",))  # fmt: skip
    decision = decide(inputs)
    assert inputs_from_trace(rule_trace(decision)) == inputs


# --- the horizon ----------------------------------------------------------------------------


def saturdays(first: date, count: int) -> tuple[date, ...]:
    return tuple(first + timedelta(weeks=n) for n in range(count))


@pytest.mark.parametrize("blocked", [157, 400])
def test_a_deferred_denial_always_says_when(blocked):
    first = date(2027, 6, 19)
    inputs = ready(
        send_days=(Weekday.SAT,),
        blocked_dates=saturdays(first, blocked),
        at=datetime(2027, 6, 16, 11, tzinfo=UTC),
    )
    decision = decide(inputs)
    assert decision.denial is Denial.DEFERRED
    opening = decision.next_allowed_at
    assert opening is not None
    assert opening.astimezone(ZoneInfo("Europe/London")).date() == first + timedelta(weeks=blocked)
    assert decide(replace(inputs, at=opening)).allow_send


def test_past_the_horizon_the_denial_is_not_deferred():
    # Beyond what a workspace may store (400 dates): eleven years of Saturdays.
    inputs = ready(
        send_days=(Weekday.SAT,),
        blocked_dates=saturdays(date(2027, 6, 19), 11 * 53),
        at=datetime(2027, 6, 16, 11, tzinfo=UTC),
    )
    decision = decide(inputs)
    assert decision.reason_code is ReasonCode.NO_SEND_WINDOW
    assert decision.denial is Denial.UNTIL and decision.next_allowed_at is None


# --- openings on instants, where the clocks fall back inside the window --------------------

# (zone, an instant near a fall-back that crosses or lies inside late or odd windows)
FALL_BACKS = [
    ("Pacific/Kwajalein", datetime(1969, 9, 30, 12, tzinfo=UTC)),
    ("Antarctica/Vostok", datetime(1994, 1, 31, tzinfo=UTC)),
    ("Pacific/Easter", datetime(2027, 4, 3, 12, tzinfo=UTC)),
    ("America/Santiago", datetime(2027, 4, 3, 12, tzinfo=UTC)),
    ("Asia/Beirut", datetime(2027, 10, 30, 12, tzinfo=UTC)),
    ("Africa/Cairo", datetime(2027, 10, 28, 12, tzinfo=UTC)),
    ("America/New_York", datetime(2027, 11, 6, 12, tzinfo=UTC)),
]


@st.composite
def around_fall_backs(draw):
    zone_name, anchor = draw(st.sampled_from(FALL_BACKS))
    at = anchor + timedelta(minutes=draw(st.integers(-2 * 24 * 60, 3 * 24 * 60)))
    opens = draw(st.sampled_from([time(0), time(0, 30), time(9), time(22), time(23, 15)]))
    closes = draw(st.sampled_from([time(0, 45), time(1), time(12), time(23, 30), time(23, 59)]))
    if not opens < closes:
        opens, closes = time(0), time(23, 59)
    days = draw(st.lists(st.sampled_from(FLOOR_SEND_DAYS), min_size=1, max_size=6, unique=True))
    return ready(
        lead_timezone=zone_name,
        at=at,
        send_window_start=opens,
        send_window_end=closes,
        send_days=tuple(days),
    )


@settings(max_examples=150, deadline=None)
@given(around_fall_backs())
def test_openings_are_computed_on_instants(inputs):
    decision = decide(inputs)
    assert decision.allow_send == oracle_allows(inputs, None)
    if decision.allow_send:
        return
    opening = decision.next_allowed_at
    assert opening is not None and opening >= inputs.at
    assert deferred_rules_pass(inputs, opening) and decide(replace(inputs, at=opening)).allow_send
    assert opening == oracle.first_allowed(
        **oracle_arguments(inputs, None), not_before=inputs.at, horizon=timedelta(days=9)
    )
    # The schedule preview ends on every input.
    assert len(preview(inputs, 3).instants) == 3


def test_a_window_reopens_when_the_clocks_fall_back_across_its_end():
    # New York, 7 November 2027: 01:59:59 EDT is followed by 01:00:00 EST. A window
    # 00:30-01:30 is open 04:30-05:30 UTC, then again 06:00-06:30 UTC.
    inputs = ready(
        lead_timezone="America/New_York",
        send_window_start=time(0, 30),
        send_window_end=time(1, 30),
        send_days=(*FLOOR_SEND_DAYS, Weekday.SUN),
        at=datetime(2027, 11, 7, 5, 45, tzinfo=UTC),
    )
    decision = decide(inputs)
    assert decision.reason_code is ReasonCode.QUIET_HOURS
    assert decision.next_allowed_at == datetime(2027, 11, 7, 6, 0, tzinfo=UTC)


# --- a batch decided at once -----------------------------------------------------------------


@st.composite
def batches(draw):
    """Leads of one workspace at one instant, in a few states, with numbers of several
    kinds (one zone, many zones, a jurisdiction, invalid, none) and consent events of
    their own (a grant, a revocation, none), required or not."""
    numbers = ["+12125550123", "+13055550123", "+79123456789", "+61412345678", "+10000000000"]
    at = WEDNESDAY + timedelta(minutes=draw(st.integers(0, 7 * 24 * 60)))
    consent_required = draw(st.booleans())
    # The channel: the workspace at its messaging limit or not, the US restriction.
    tier = draw(st.sampled_from([MessagingTier.UNLIMITED, MessagingTier.TIER_250]))
    at_limit = draw(st.booleans())
    restrictions = draw(st.sampled_from([(), (US_MARKETING_PAUSE,)]))
    batch = []
    for lead_id in range(draw(st.integers(1, 12))):
        consent = draw(st.sampled_from([None, ConsentAction.GRANT, ConsentAction.REVOKE]))
        record = consent and ConsentRecord(
            event_id=100 + lead_id,
            action=consent,
            captured_at=at - timedelta(days=lead_id + 1),
            wording_version=lead_id % 2 + 1 if consent is ConsentAction.GRANT else None,
            wording_sha256=f"{lead_id:064x}" if consent is ConsentAction.GRANT else None,
        )
        e164 = draw(st.sampled_from([*numbers, "crm:1"]))
        number = lead_number(e164 if e164 != "+12125550123" else f"+1212555{lead_id:04d}")
        batch.append(
            ready(
                lead_id=lead_id,
                lead_timezone=draw(st.sampled_from([None, None, "Asia/Tokyo"])),
                lead_number=number,
                at=at,
                recent_permits=draw(
                    st.sampled_from([(), (at - 20 * HOUR,), (at - 50 * HOUR, at - 100 * HOUR)])
                ),
                last_inbound_at=draw(
                    st.sampled_from(
                        [None, at - 2 * HOUR, at - 3 * HOUR, at - 23 * HOUR, at - 70 * HOUR]
                    )
                ),
                kind=draw(st.sampled_from([SendKind.FOLLOWUP, SendKind.FOLLOWUP, SendKind.REPLY])),
                lead_stage=draw(st.sampled_from([LeadStage.CONTACTED, LeadStage.CLOSED_LOST])),
                lead_tags=draw(st.sampled_from([(), ("DISCONNECT",)])),
                lead_country_holidays=True,
                consent_required=consent_required,
                marketing_consent=record,
                messaging_tier=tier,
                template_recipients_24h=250 if at_limit else 17,
                oldest_template_at=at - 20 * HOUR,
                channel_restrictions=restrictions,
                unreachable_since=draw(st.sampled_from([None, None, at - 5 * HOUR])),
                marketing_limited_until=draw(st.sampled_from([None, None, at + 7 * HOUR])),
            )
        )
    return batch


@settings(max_examples=60, deadline=None)
@given(batches())
def test_a_batch_decides_each_lead_as_alone(batch):
    """Leads in the same state share one evaluation; each decision, summary and trace is
    the one the lead gets on its own."""
    import json

    from app.policy.rules import decide_all
    from app.policy.trace import rule_trace_texts

    # Alone on copies: a batch fills the inputs' cached instants (``next_opening``).
    alone = [decide(replace(inputs)) for inputs in batch]
    together = decide_all(batch)
    assert [d.inputs for d in together] == batch
    for shared, own in zip(together, alone, strict=True):
        assert (shared.outcomes, shared.next_allowed_at, shared.summary) == (
            own.outcomes,
            own.next_allowed_at,
            own.summary,
        )
    from app.policy.engine import effect_of, effects_of

    lease = timedelta(minutes=5)
    assert effects_of(together, lease) == [effect_of(d, lease=lease) for d in alone]
    texts = rule_trace_texts(together)
    assert [json.loads(text) for text in texts] == [
        json.loads(json.dumps(rule_trace(d))) for d in alone
    ]


def test_leads_in_one_state_share_one_evaluation():
    from app.policy.rules import decide_all

    batch = [lead(f"+1212555{n:04d}", lead_id=n) for n in range(3)]
    decisions = decide_all(batch)
    assert decisions[0].same_as is None
    assert all(d.same_as is decisions[0] for d in decisions[1:])
