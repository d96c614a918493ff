"""The channel's own rules as the pure function applies them: a lead WhatsApp reported
undeliverable (LEAD_UNREACHABLE) and the platform's restrictions on where templates
are delivered (CHANNEL_RESTRICTED); and the restriction the migrations seed, read from
the database by the engine."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from app.enums import MessagingTier, ReasonCode, SendKind, TemplateCategory
from app.phone_numbers import lead_number
from app.policy import engine
from app.policy.rules import Denial, PolicyInputs, Restriction, decide, decide_all
from tests.policy_setup import london_lead, outreach_workspace
from tests.test_policy_rules import ready

# As the migration seeds it: marketing templates to US numbers, from 2025-04-01.
US_MARKETING_PAUSE = Restriction(
    id=1,
    number_prefix="+1",
    region="US",
    template_category=TemplateCategory.MARKETING,
    since=date(2025, 4, 1),
    description="WhatsApp does not deliver marketing template messages to US phone numbers",
)
# Wednesday 16 June 2027, 11:00 UTC: 07:00 in New York, 07:00 in Toronto (EDT).
AT = datetime(2027, 6, 16, 11, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
NEW_YORK, TORONTO = "+12125550123", "+14165550123"


def number_lead(e164: str, **changes) -> PolicyInputs:
    """A lead every other rule lets through at noon in its own zone, with the US
    restriction in force, who last wrote three days ago (a follow-up is a template)."""
    values = {
        "lead_timezone": None,
        "lead_number": lead_number(e164),
        "at": AT + 5 * HOUR,  # 12:00 EDT
        "last_inbound_at": AT - 72 * HOUR,
        "channel_restrictions": (US_MARKETING_PAUSE,),
        **changes,
    }
    return ready(**values)


# --- LEAD_UNREACHABLE -----------------------------------------------------------------------


def test_an_undeliverable_lead_is_held_until_it_writes():
    reported = AT - 5 * HOUR
    held = decide(ready(unreachable_since=reported, last_inbound_at=AT - 30 * HOUR))
    assert (held.reason_code, held.denial, held.next_allowed_at) == (
        ReasonCode.LEAD_UNREACHABLE,
        Denial.UNTIL,
        None,
    )
    assert "131026" in held.summary and "held until the lead writes" in held.summary
    wrote_since = decide(ready(unreachable_since=reported, last_inbound_at=AT - 2 * HOUR))
    assert wrote_since.allow_send


def test_a_report_after_the_decision_instant_does_not_hold_it():
    """A replay of a decision made before the report reads the lead as it was."""
    assert decide(ready(unreachable_since=AT + HOUR, last_inbound_at=AT - 30 * HOUR)).allow_send


def test_an_undeliverable_lead_may_still_get_a_reply():
    reply = decide(ready(kind=SendKind.REPLY, unreachable_since=AT - HOUR))
    assert reply.allow_send


# --- CHANNEL_RESTRICTED ---------------------------------------------------------------------


def test_a_follow_up_template_to_a_us_number_is_refused_naming_the_restriction():
    decision = decide(number_lead(NEW_YORK))
    assert (decision.reason_code, decision.denial, decision.next_allowed_at) == (
        ReasonCode.CHANNEL_RESTRICTED,
        Denial.UNTIL,
        None,
    )
    assert "restriction #1" in decision.summary
    assert "+1 (US)" in decision.summary and "2025-04-01" in decision.summary


def test_a_canadian_number_shares_the_prefix_but_not_the_restriction():
    assert decide(number_lead(TORONTO)).allow_send


def test_a_lead_in_its_service_window_gets_free_form_not_a_template():
    decision = decide(number_lead(NEW_YORK, last_inbound_at=AT + 2 * HOUR))
    assert decision.allow_send
    assert decision.message_format == "free_form"


def test_the_window_must_still_be_open_when_the_time_rules_allow_the_follow_up():
    """At 06:00 in New York the follow-up waits for 09:00; the lead wrote 22 hours
    earlier, so by then its service window has closed: a template, refused."""
    at = AT - HOUR  # 06:00 EDT
    closing = decide(number_lead(NEW_YORK, at=at, last_inbound_at=at - 22 * HOUR))
    assert closing.reason_code is ReasonCode.CHANNEL_RESTRICTED
    open_then = decide(number_lead(NEW_YORK, at=at, last_inbound_at=at - 2 * HOUR))
    assert (open_then.reason_code, open_then.next_allowed_at) == (
        ReasonCode.QUIET_HOURS,
        datetime(2027, 6, 16, 13, 0, tzinfo=UTC),  # 09:00 EDT, inside the window
    )
    assert decide(replace(open_then.inputs, at=open_then.next_allowed_at)).allow_send


def test_a_restriction_counts_from_its_day_and_for_its_category_only():
    before = number_lead(NEW_YORK, at=datetime(2025, 3, 31, 16, 0, tzinfo=UTC))
    assert decide(before).allow_send
    utility = replace(US_MARKETING_PAUSE, template_category=TemplateCategory.UTILITY)
    assert decide(number_lead(NEW_YORK, channel_restrictions=(utility,))).allow_send


def test_a_lead_without_a_number_is_not_restricted():
    assert decide(
        number_lead(NEW_YORK, lead_number=None, lead_timezone="America/New_York")
    ).allow_send


# --- from the database ----------------------------------------------------------------------


async def test_the_seeded_restriction_holds_us_leads_and_replays(connection):
    workspace = await outreach_workspace(connection)
    us_lead = await london_lead(connection, workspace, NEW_YORK, timezone=None)
    ca_lead = await london_lead(connection, workspace, TORONTO, timezone=None)
    at = AT + 5 * HOUR
    refused = await engine.request_permit(workspace, us_lead, SendKind.FOLLOWUP, at)
    allowed = await engine.simulate(workspace, ca_lead, SendKind.FOLLOWUP, at)
    assert (refused["allow_send"], refused["reason_code"]) == (False, "CHANNEL_RESTRICTED")
    assert allowed["allow_send"] is True
    seeded = await connection.fetchrow(
        "SELECT number_prefix, region, template_category, since FROM channel_restriction"
    )
    assert tuple(seeded) == ("+1", "US", "MARKETING", date(2025, 4, 1))
    replayed = await engine.replay(workspace, refused["id"])
    assert replayed["same"] is True
    assert replayed["replayed"]["reason_code"] == "CHANNEL_RESTRICTED"


# --- a batch decided at once ----------------------------------------------------------------


def batch_matches_alone(batch: list[PolicyInputs]) -> bool:
    """Each lead's decision in the batch is the one it gets alone (on its own copy of
    the inputs: a batch fills the inputs' cached instants)."""
    alone = [decide(replace(inputs)) for inputs in batch]
    together = decide_all(batch)
    return [(d.reason_code, d.next_allowed_at, d.summary) for d in together] == [
        (d.reason_code, d.next_allowed_at, d.summary) for d in alone
    ]


def test_a_batch_tells_apart_leads_whose_window_closes_before_the_opening():
    """Two US leads in the same state but for when they wrote (both within 24 h): one
    still has free form at 09:00, the other does not."""
    at = AT - HOUR  # 06:00 EDT
    batch = [
        number_lead(NEW_YORK, at=at, lead_id=1, last_inbound_at=at - 2 * HOUR),
        number_lead(NEW_YORK, at=at, lead_id=2, last_inbound_at=at - 22 * HOUR),
    ]
    assert [d.reason_code for d in map(decide, batch)] == [
        ReasonCode.QUIET_HOURS,
        ReasonCode.CHANNEL_RESTRICTED,
    ]
    assert batch_matches_alone(batch)


def test_a_batch_at_the_messaging_limit_tells_apart_free_form_at_the_opening():
    at = AT - 5 * HOUR  # 07:00 in London: quiet hours until 09:00 (08:00 UTC)
    full = {
        "at": at,
        "messaging_tier": MessagingTier.TIER_250,
        "template_recipients_24h": 250,
        "oldest_template_at": at - 20 * HOUR,  # a place frees at 10:00 UTC
    }
    batch = [
        ready(lead_id=1, last_inbound_at=at - 2 * HOUR, **full),
        ready(lead_id=2, last_inbound_at=at - 22 * HOUR, **full),
    ]
    alone = [decide(inputs) for inputs in batch]
    assert [d.next_allowed_at for d in alone] == [
        datetime(2027, 6, 16, 8, 0, tzinfo=UTC),  # 09:00 BST, still free form
        datetime(2027, 6, 16, 10, 0, tzinfo=UTC),  # its window closed at 08:00: a template
    ]
    assert batch_matches_alone(batch)
