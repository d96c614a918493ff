"""The outreach policy: a pure function from inputs and an instant to a decision.

No I/O and no clock: everything a decision depends on is in ``PolicyInputs``,
which the rule trace records, so any decision can be replayed later. The rules
are data: ``RULES`` lists them in the order they are checked.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from operator import attrgetter
from typing import Any, NamedTuple

from app.enums import (
    BudgetTier,
    ConsentAction,
    FollowUpPreset,
    LeadStage,
    LeadTag,
    MessageFormat,
    MessagingTier,
    ReasonCode,
    SendKind,
    TemplateCategory,
    Weekday,
)
from app.phone_numbers import LeadNumber
from app.policy.jurisdictions import Jurisdiction, jurisdiction_of
from app.policy.local_time import HORIZON_YEARS, SendWindow, local_text, weekday_of, zone
from app.policy.public_holidays import supported
from app.policy.recipient import ZoneChoice, choose_zones

# Bumped whenever a rule changes meaning; the trace records it. 2: the recipient's
# zone(s) from the number, public holidays, jurisdictions, the opening horizon.
# 3: follow-ups held while the lead has stopped marketing messages on the platform.
# 4: follow-ups need the lead's recorded marketing consent where the workspace says so.
# 5: the channel's limits: WhatsApp's messaging tier, undeliverable leads, the per-user
# marketing limit, and restrictions on where templates are delivered.
RULESET_VERSION = 5

OUTBOUND_CAP = timedelta(hours=24)
REPLY_WINDOW = timedelta(hours=24)  # WhatsApp's customer-service window
MESSAGING_WINDOW = timedelta(hours=24)  # the moving window of WhatsApp's messaging limit
STOP_AFTER_UNANSWERED = 5
STOP_LOOKBACK = timedelta(days=14)
CLOSED_STAGES = (LeadStage.OUTCOME_APPOINTMENT, LeadStage.OUTCOME_PURCHASE, LeadStage.CLOSED_LOST)


class Denial(StrEnum):
    """What a failed rule means for the caller."""

    PERMANENT = "permanent"  # never, unless an operator changes the lead
    UNTIL = "until"  # until a condition changes (an attestation, a release, ...)
    DEFERRED = "deferred"  # later: next_allowed_at says when


@dataclass(frozen=True)
class ActiveStrategy:
    id: int
    version_number: int
    followup_preset: FollowUpPreset
    interval_overrides: dict[str, int] | None


@dataclass(frozen=True)
class ConsentRecord:
    """A lead's latest consent event for a purpose (app/policy/consent.py), as the
    rule cites it: the event, and for a grant the wording version shown and its hash."""

    event_id: int
    action: ConsentAction
    captured_at: datetime
    wording_version: int | None = None
    wording_sha256: str | None = None

    @property
    def granted(self) -> bool:
        return self.action is ConsentAction.GRANT


@dataclass(frozen=True)
class Restriction:
    """A platform restriction on where templates are delivered (``channel_restriction``)."""

    id: int
    number_prefix: str
    region: str | None
    template_category: TemplateCategory
    since: date
    description: str

    def covers(self, number: LeadNumber, category: TemplateCategory, day: date) -> bool:
        """Whether a template of ``category`` sent to ``number`` on ``day`` is refused."""
        return (
            self.template_category is category
            and self.since <= day
            and number.e164.startswith(self.number_prefix)
            and (self.region is None or self.region == number.region)
        )


# A follow-up outside the service window is a marketing template.
FOLLOWUP_TEMPLATE = TemplateCategory.MARKETING


@dataclass(frozen=True)
class PolicyInputs:
    """Everything one decision depends on."""

    kind: SendKind
    at: datetime
    lead_id: int
    lead_stage: LeadStage
    lead_tags: tuple[str, ...]
    lead_timezone: str | None
    workspace_timezone: str
    budget_tier: BudgetTier
    attestation_granted: bool | None  # the latest attestation; None when there is none
    active_strategy: ActiveStrategy | None
    send_window_start: time
    send_window_end: time
    send_days: tuple[Weekday, ...]
    blocked_dates: tuple[date, ...]
    policy_version: int
    last_inbound_at: datetime | None
    # Follow-up permits issued in the STOP_LOOKBACK before ``at``, oldest first.
    recent_permits: tuple[datetime, ...] = ()
    # What the lead's id says as a phone number (app/phone_numbers.py), if it is one.
    lead_number: LeadNumber | None = None
    # The workspace's public holiday calendars ("MY", "GB-SCT") and whether the
    # calendar of the lead's country (from its number) applies too.
    holiday_calendars: tuple[str, ...] = ()
    lead_country_holidays: bool = False
    # Since when the lead has stopped marketing messages on the platform (None: it has not).
    marketing_stopped_at: datetime | None = None
    # Whether the workspace requires recorded marketing consent for follow-ups, and the
    # lead's latest marketing consent event (None: none recorded). A trace recorded
    # before ruleset 4 holds neither: its decision required no consent.
    consent_required: bool = False
    marketing_consent: ConsentRecord | None = None
    # The channel (ruleset 5; a trace recorded before holds none of it: unlimited, no
    # failures, no restrictions). The workspace's messaging tier, and how many people it
    # gave a template follow-up permit in the MESSAGING_WINDOW before ``at`` (the oldest
    # of those permits: when a place frees).
    messaging_tier: MessagingTier = MessagingTier.UNLIMITED
    template_recipients_24h: int = 0
    oldest_template_at: datetime | None = None
    # Since when WhatsApp reports the lead undeliverable (131026), and until when its
    # per-user marketing limit holds follow-ups (131049).
    unreachable_since: datetime | None = None
    marketing_limited_until: datetime | None = None
    # The platform's restrictions on template delivery (all of them: few rows).
    channel_restrictions: tuple[Restriction, ...] = ()

    @cached_property
    def zone_choice(self) -> ZoneChoice:
        """The zone(s) the time rules read, and why (app/policy/recipient.py)."""
        return choose_zones(
            self.lead_timezone, self.lead_number, self.workspace_timezone, self.window, self.at
        )

    @property
    def zones(self) -> tuple[str, ...]:
        return self.zone_choice.zones

    @property
    def zone_name(self) -> str:
        """The zone an operator reads instants in: the first zone in effect."""
        return self.zones[0] if self.zones else self.workspace_timezone

    @cached_property
    def local_at(self) -> datetime:
        """The evaluation instant on the local wall clock."""
        return self.at.astimezone(zone(self.zone_name))

    @cached_property
    def local_times(self) -> tuple[datetime, ...]:
        """The evaluation instant on each zone's wall clock."""
        return tuple(self.at.astimezone(zone(name)) for name in self.zones)

    @cached_property
    def jurisdiction(self) -> Jurisdiction | None:
        """The stricter local rule the lead's (valid) number falls under, if any."""
        number = self.lead_number
        return jurisdiction_of(number.e164) if number is not None and number.valid else None

    @cached_property
    def calendars(self) -> tuple[str, ...]:
        """The holiday calendars that apply: the workspace's, and the lead's country's."""
        number, named = self.lead_number, self.holiday_calendars
        country = number.region if number is not None else None
        if self.lead_country_holidays and country and supported(country) and country not in named:
            return (*named, country)
        return named

    @cached_property
    def window(self) -> SendWindow:
        opens, closes = self.send_window_start, self.send_window_end
        if self.jurisdiction is not None:
            opens, closes = self.jurisdiction.narrow(opens, closes)
        return SendWindow(
            opens,
            closes,
            frozenset(self.send_days),
            frozenset(self.blocked_dates),
            self.calendars,
        )

    @cached_property
    def next_opening(self) -> datetime | None:
        """The first instant >= ``at`` at which every deferred rule passes."""
        return earliest_allowed(self)

    def open_now(self) -> bool:
        """Whether every deferred (time) rule passes at ``at``."""
        last, at = self.last_permit, self.at
        capped = last is not None and last > at - OUTBOUND_CAP
        held = self.marketing_limited_until is not None and at < self.marketing_limited_until
        return not (capped or held or self.limited_at(at)) and self.window.open_at(at, self.zones)

    @cached_property
    def last_permit(self) -> datetime | None:
        return max(self.recent_permits, default=None)

    def unanswered_permits(self) -> int:
        """Follow-up permits since the lead last wrote, within the lookback."""
        since = self.at - STOP_LOOKBACK
        if self.last_inbound_at is not None:
            since = max(since, self.last_inbound_at)
        return sum(since < permit <= self.at for permit in self.recent_permits)

    def inbound_within(self, window: timedelta) -> bool:
        return self.last_inbound_at is not None and self.last_inbound_at > self.at - window

    def free_form_at(self, instant: datetime) -> bool:
        """Whether a follow-up at ``instant`` is inside the lead's service window (free
        form), not a template."""
        wrote = self.last_inbound_at
        return wrote is not None and wrote <= instant < wrote + REPLY_WINDOW

    @cached_property
    def limit_frees_at(self) -> datetime | None:
        """When the workspace's messaging limit, reached now, frees a place: the oldest
        counted permit leaves the moving window. None when it is not reached."""
        limit = self.messaging_tier.limit
        if limit is None or self.template_recipients_24h < limit:
            return None
        return (self.oldest_template_at or self.at) + MESSAGING_WINDOW

    def limited_at(self, instant: datetime) -> bool:
        """Whether the messaging limit refuses a follow-up at ``instant`` (a template)."""
        frees = self.limit_frees_at
        return frees is not None and instant < frees and not self.free_form_at(instant)

    @cached_property
    def restriction(self) -> Restriction | None:
        """The first platform restriction that refuses the lead's follow-up template."""
        number = self.lead_number
        if number is None:
            return None
        day = self.at.astimezone(UTC).date()
        return next(
            (r for r in self.channel_restrictions if r.covers(number, FOLLOWUP_TEMPLATE, day)),
            None,
        )


class Check(NamedTuple):
    """One rule's verdict on the inputs, with the reason in words."""

    passed: bool
    detail: str


@dataclass(frozen=True)
class Rule:
    code: ReasonCode
    kinds: frozenset[SendKind]
    denial: Denial
    check: Callable[[PolicyInputs], Check]
    # A workspace rule fails for every lead of the workspace alike.
    workspace_wide: bool = False
    # A time rule reads only where and when (``time_key``): the lead's zone inputs, the
    # send policy, the follow-up permits and the instant.
    time: bool = False
    # The rule's detail cites the lead's own records (``LEAD_ONLY`` inputs): leads that
    # share a verdict (``decide_all``) each get their own detail.
    cites_lead: bool = False


BOTH = frozenset(SendKind)
FOLLOWUP = frozenset({SendKind.FOLLOWUP})
REPLY = frozenset({SendKind.REPLY})


def _not_suppressed(inputs: PolicyInputs) -> Check:
    return Check(inputs.lead_stage != LeadStage.SUPPRESSED, f"stage {inputs.lead_stage}")


def _not_disconnected(inputs: PolicyInputs) -> Check:
    tags = ", ".join(inputs.lead_tags) or "none"
    return Check(LeadTag.DISCONNECT not in inputs.lead_tags, f"tags: {tags}")


def _not_taken_over(inputs: PolicyInputs) -> Check:
    return Check(inputs.lead_stage != LeadStage.TAKE_OVER, f"stage {inputs.lead_stage}")


def _attested(inputs: PolicyInputs) -> Check:
    if inputs.attestation_granted is None:
        return Check(False, "no outreach attestation recorded for the workspace")
    verdict = "granted" if inputs.attestation_granted else "withdrawn"
    return Check(inputs.attestation_granted, f"latest attestation: {verdict}")


def _reply_window_open(inputs: PolicyInputs) -> Check:
    return Check(inputs.inbound_within(REPLY_WINDOW), f"lead last wrote: {_when(inputs)}")


def _not_closed(inputs: PolicyInputs) -> Check:
    return Check(inputs.lead_stage not in CLOSED_STAGES, f"stage {inputs.lead_stage}")


def _marketing_not_stopped(inputs: PolicyInputs) -> Check:
    stopped = inputs.marketing_stopped_at
    if stopped is None:
        return Check(True, "the lead receives marketing messages")
    return Check(
        False,
        f"the lead stopped marketing messages on WhatsApp at {_instant(stopped)}; "
        "held until they resume",
    )


def _reachable(inputs: PolicyInputs) -> Check:
    since = inputs.unreachable_since
    if since is None or since > inputs.at:
        return Check(True, "no undeliverable report")
    if inputs.last_inbound_at is not None and inputs.last_inbound_at > since:
        return Check(
            True,
            f"WhatsApp reported the lead undeliverable at {_instant(since)}; it wrote since, "
            f"at {_instant(inputs.last_inbound_at)}",
        )
    return Check(
        False,
        f"WhatsApp reported the lead undeliverable (131026) at {_instant(since)}: not on "
        "WhatsApp, or it blocked the business; held until the lead writes",
    )


def _consented(inputs: PolicyInputs) -> Check:
    record = inputs.marketing_consent
    if not inputs.consent_required:
        return Check(True, "the workspace does not require recorded consent")
    if record is None:
        return Check(False, "no marketing consent is recorded for the lead; held until a grant")
    if not record.granted:
        return Check(
            False,
            f"the latest marketing consent event #{record.event_id} is a revocation "
            f"(captured {_instant(record.captured_at)}); held until a grant",
        )
    return Check(
        True,
        f"marketing consent granted: event #{record.event_id}, wording "
        f"v{record.wording_version} (sha256 {record.wording_sha256}), "
        f"captured {_instant(record.captured_at)}",
    )


def _strategy_active(inputs: PolicyInputs) -> Check:
    strategy = inputs.active_strategy
    if strategy is None:
        return Check(False, "the workspace has no ACTIVE strategy version")
    return Check(True, f"v{strategy.version_number} is ACTIVE ({strategy.followup_preset})")


def _budget_not_red(inputs: PolicyInputs) -> Check:
    return Check(inputs.budget_tier != BudgetTier.RED, f"budget tier {inputs.budget_tier}")


def _not_unanswered(inputs: PolicyInputs) -> Check:
    count = inputs.unanswered_permits()
    # When it last wrote matters to the count alone: named only when the count is not 0.
    when = f" ({_when(inputs)})" if count else ""
    return Check(
        count < STOP_AFTER_UNANSWERED,
        f"{count} follow-up permits since the lead last wrote{when}, "
        f"within {STOP_LOOKBACK.days} days; the limit is {STOP_AFTER_UNANSWERED}",
    )


def _under_cap(inputs: PolicyInputs) -> Check:
    last = inputs.last_permit
    if last is None or last <= inputs.at - OUTBOUND_CAP:
        return Check(True, f"last follow-up permit: {_instant(last)}")
    return Check(
        False, f"last follow-up permit {_instant(last)}; next after {_instant(last + OUTBOUND_CAP)}"
    )


def _channel_allows(inputs: PolicyInputs) -> Check:
    restriction = inputs.restriction
    if restriction is None:
        return Check(True, "no channel restriction applies to the lead's number")
    rule = (
        f"restriction #{restriction.id}: {restriction.template_category} templates to "
        f"{restriction.number_prefix}{f' ({restriction.region})' if restriction.region else ''} "
        f"not delivered since {restriction.since}"
    )
    # The format is the one the follow-up would go out in: when the time rules allow it
    # (a lead outside its service window now is outside it later too).
    if inputs.free_form_at(inputs.at) and inputs.free_form_at(inputs.next_opening or inputs.at):
        return Check(True, f"free form within the service window; {rule}")
    closes = "" if inputs.free_form_at(inputs.at) else " now"
    return Check(
        False,
        f"a follow-up would be a template{closes} and {rule}: {restriction.description}; "
        "held until the lead writes (free form within 24 h)",
    )


def _zone_resolved(inputs: PolicyInputs) -> Check:
    choice = inputs.zone_choice
    if not choice.zones:
        return Check(False, f"{choice.reason}: set the lead's timezone")
    return Check(True, f"{', '.join(choice.zones)}: {choice.reason}")


def _opens_again(inputs: PolicyInputs) -> Check:
    if inputs.open_now():
        return Check(True, "the time rules pass now")
    opening = inputs.next_opening
    if opening is None:
        return Check(
            False,
            f"no instant within {HORIZON_YEARS} years passes the time rules (send days, "
            "blocked dates, public holidays, hours): change the send policy",
        )
    return Check(True, f"the time rules pass from {_local(inputs, opening)}")


def _each_zone(inputs: PolicyInputs, rule: Callable[[datetime], str | None]) -> Check:
    """A rule read in every zone in effect: it fails where ``rule`` says why."""
    refusals = [why for local in inputs.local_times if (why := rule(local)) is not None]
    shown = "; ".join(refusals) if refusals else _each_local(inputs, "%Y-%m-%d (%a)")
    return Check(not refusals, shown)


def _each_local(inputs: PolicyInputs, pattern: str) -> str:
    """The local value in words: "10:00 EDT in America/New_York"; with several zones,
    that it holds in all of them (the trace's ``local_times`` has each)."""
    if len(inputs.local_times) == 1:
        local = inputs.local_times[0]
        return f"{local:{pattern}} in {local.tzinfo}"
    return f"in all {len(inputs.local_times)} zones"


def _under_user_marketing_limit(inputs: PolicyInputs) -> Check:
    until = inputs.marketing_limited_until
    if until is None or until <= inputs.at:
        return Check(True, f"per-user marketing limit: {'none' if until is None else 'over'}")
    return Check(
        False,
        f"WhatsApp refused a marketing message under the lead's per-user marketing limit "
        f"(131049); next after {_instant(until)}",
    )


def _under_messaging_limit(inputs: PolicyInputs) -> Check:
    tier, count = inputs.messaging_tier, inputs.template_recipients_24h
    limit = tier.limit
    if limit is None:
        return Check(True, f"messaging tier {tier}: no limit")
    counted = f"{count} of {limit} people given a template follow-up in the last 24 h"
    if inputs.free_form_at(inputs.at):
        return Check(True, f"free form within the service window, not counted; {counted}")
    if inputs.limited_at(inputs.at):
        return Check(
            False, f"{counted} (tier {tier}); a place frees at {_instant(inputs.limit_frees_at)}"
        )
    return Check(True, counted)


def _not_blocked_date(inputs: PolicyInputs) -> Check:
    blocked = inputs.window.blocked
    return _each_zone(
        inputs,
        lambda local: (
            f"local date {local:%Y-%m-%d} in {local.tzinfo} is blocked"
            if local.date() in blocked
            else None
        ),
    )


def _not_public_holiday(inputs: PolicyInputs) -> Check:
    if not inputs.window.calendars:
        return Check(True, "no public holiday calendar applies")

    def holiday(local: datetime) -> str | None:
        found = inputs.window.holiday(local.date())
        if found is None:
            return None
        code, name = found
        return f"local date {local:%Y-%m-%d} in {local.tzinfo} is {name} ({code})"

    check = _each_zone(inputs, holiday)
    calendars = ", ".join(inputs.window.calendars)
    return check if not check.passed else Check(True, f"{check.detail}; calendars {calendars}")


def _send_day(inputs: PolicyInputs) -> Check:
    days = ", ".join(inputs.send_days) or "none"
    check = _each_zone(
        inputs,
        lambda local: (
            None
            if weekday_of(local.date()) in inputs.send_days
            else f"local day {local:%A} in {local.tzinfo}"
        ),
    )
    return Check(check.passed, f"{check.detail}; send days {days}")


def _within_hours(inputs: PolicyInputs) -> Check:
    window = inputs.window
    hours = f"window {window.opens:%H:%M}-{window.closes:%H:%M}"
    rule = inputs.jurisdiction
    if rule is not None:
        hours += (
            f" ({rule.name}, {rule.source}, narrows {inputs.send_window_start:%H:%M}-"
            f"{inputs.send_window_end:%H:%M})"
        )
    check = _each_zone(
        inputs,
        lambda local: (
            None
            if window.hours_allowed(local.time())
            else f"local time {local:%H:%M} {local.tzname()} in {local.tzinfo}"
        ),
    )
    shown = check.detail if not check.passed else _each_local(inputs, "%H:%M %Z")
    return Check(check.passed, f"{shown}; {hours}")


def _local(inputs: PolicyInputs, instant: datetime) -> str:
    return local_text(instant, zone(inputs.zone_name))


def _when(inputs: PolicyInputs) -> str:
    return _instant(inputs.last_inbound_at) if inputs.last_inbound_at else "never"


def _instant(instant: datetime | None) -> str:
    return "none" if instant is None else f"{instant.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


R = ReasonCode
RULES: tuple[Rule, ...] = (
    Rule(R.LEAD_SUPPRESSED, BOTH, Denial.PERMANENT, _not_suppressed),
    Rule(R.LEAD_DISCONNECTED, BOTH, Denial.PERMANENT, _not_disconnected),
    Rule(R.HUMAN_TAKEOVER, BOTH, Denial.UNTIL, _not_taken_over),
    Rule(R.ATTESTATION_MISSING, BOTH, Denial.UNTIL, _attested, workspace_wide=True),
    Rule(R.REPLY_WINDOW_CLOSED, REPLY, Denial.UNTIL, _reply_window_open),
    Rule(R.LEAD_CLOSED, FOLLOWUP, Denial.PERMANENT, _not_closed),
    Rule(R.MARKETING_STOPPED, FOLLOWUP, Denial.UNTIL, _marketing_not_stopped),
    Rule(R.CONSENT_MISSING, FOLLOWUP, Denial.UNTIL, _consented, cites_lead=True),
    Rule(R.LEAD_UNREACHABLE, FOLLOWUP, Denial.UNTIL, _reachable),
    Rule(R.NO_ACTIVE_STRATEGY, FOLLOWUP, Denial.UNTIL, _strategy_active, workspace_wide=True),
    Rule(R.BUDGET_RED, FOLLOWUP, Denial.UNTIL, _budget_not_red, workspace_wide=True),
    Rule(R.STOP_UNANSWERED, FOLLOWUP, Denial.UNTIL, _not_unanswered),
    Rule(R.CHANNEL_RESTRICTED, FOLLOWUP, Denial.UNTIL, _channel_allows),
    Rule(R.ZONE_UNRESOLVED, FOLLOWUP, Denial.UNTIL, _zone_resolved, time=True),
    Rule(R.NO_SEND_WINDOW, FOLLOWUP, Denial.UNTIL, _opens_again, time=True),
    Rule(R.OUTBOUND_CAP_24H, FOLLOWUP, Denial.DEFERRED, _under_cap, time=True),
    Rule(R.USER_MARKETING_LIMIT, FOLLOWUP, Denial.DEFERRED, _under_user_marketing_limit, time=True),
    Rule(R.MESSAGING_LIMIT, FOLLOWUP, Denial.DEFERRED, _under_messaging_limit, time=True),
    Rule(R.BLOCKED_DATE, FOLLOWUP, Denial.DEFERRED, _not_blocked_date, time=True),
    Rule(R.PUBLIC_HOLIDAY, FOLLOWUP, Denial.DEFERRED, _not_public_holiday, time=True),
    Rule(R.SUNDAY_HOLD, FOLLOWUP, Denial.DEFERRED, _send_day, time=True),
    Rule(R.QUIET_HOURS, FOLLOWUP, Denial.DEFERRED, _within_hours, time=True),
)
RULES_BY_CODE = {rule.code: rule for rule in RULES}
# The kinds of send some rule citing the lead's own records applies to.
CITING_KINDS = frozenset().union(*(rule.kinds for rule in RULES if rule.cites_lead))


class RuleOutcome(NamedTuple):
    rule: ReasonCode
    applies: bool
    passed: bool | None  # None when the rule does not apply to this kind of send
    denial: Denial
    detail: str

    def as_json(self) -> dict[str, Any]:
        # The enums are str: JSON writes their values.
        return {
            "rule": self.rule,
            "applies": self.applies,
            "passed": self.passed,
            "denial": self.denial,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one send, with every rule's outcome."""

    inputs: PolicyInputs
    outcomes: tuple[RuleOutcome, ...]
    next_allowed_at: datetime | None
    failed: tuple[RuleOutcome, ...] = field(default=())
    # The decision of another lead in the same state, whose verdict this one shares
    # (``decide_all``): the same outcomes, summary and trace but for the lead's own part.
    same_as: "Decision | None" = field(default=None, compare=False, repr=False)

    @property
    def allow_send(self) -> bool:
        return not self.failed

    @property
    def reason_code(self) -> ReasonCode:
        return self.failed[0].rule if self.failed else ReasonCode.POLICY_PASSED

    @property
    def denial(self) -> Denial | None:
        return self.failed[0].denial if self.failed else None

    @property
    def message_format(self) -> MessageFormat | None:
        if not self.allow_send:
            return None
        if self.inputs.inbound_within(REPLY_WINDOW):
            return MessageFormat.FREE_FORM
        return MessageFormat.TEMPLATE

    @cached_property
    def summary(self) -> str:
        # Shared unless the first failure cites this lead's own records.
        if self.same_as is not None and self.failed[:1] == self.same_as.failed[:1]:
            return self.same_as.summary
        kind = self.inputs.kind.value
        if self.allow_send:
            text = f"{kind} allowed ({self.message_format}): every rule passed"
        else:
            first = self.failed[0]
            text = f"{kind} refused, {first.rule} ({first.denial}): {first.detail}"
            if self.next_allowed_at is not None:
                text += f"; next allowed {_local(self.inputs, self.next_allowed_at)}"
        if self.inputs.kind is SendKind.FOLLOWUP:
            choice = self.inputs.zone_choice
            text += f" [zone {', '.join(choice.zones) or 'unresolved'}: {choice.reason}]"
        return text


def decide(inputs: PolicyInputs, timed: "Decision | None" = None) -> Decision:
    """Evaluate every rule in order; the first that fails gives the reason. ``timed``:
    a decision whose inputs have the same ``time_key``, whose time rules hold here."""
    if timed is None:
        outcomes = tuple(_outcome(rule, inputs) for rule in RULES)
    else:
        outcomes = tuple(
            known if rule.time else _outcome(rule, inputs)
            for rule, known in zip(RULES, timed.outcomes, strict=True)
        )
        inputs.__dict__["next_opening"] = timed.inputs.next_opening  # the same instant
    failed = tuple(outcome for outcome in outcomes if outcome.passed is False)
    next_allowed_at = None
    if failed and all(outcome.denial is Denial.DEFERRED for outcome in failed):
        # Never None here: NO_SEND_WINDOW fails (not deferred) when there is none.
        next_allowed_at = inputs.next_opening
    return Decision(inputs, outcomes, next_allowed_at, failed)


def decide_all(batch: list[PolicyInputs]) -> list[Decision]:
    """``decide`` for each; inputs that differ only in which lead they are (``state_key``)
    are decided once, and those at one place and time (``time_key``) share the time
    rules' outcomes: a dispatch batch repeats the same states many times."""
    decided: dict[tuple, Decision] = {}
    timed: dict[tuple, Decision] = {}
    decisions = []
    for inputs in batch:
        key = state_key(inputs)
        first = decided.get(key)
        if first is None:
            when_and_where = time_key(inputs)
            decision = decide(inputs, timed.get(when_and_where))
            timed.setdefault(when_and_where, decision)
            decisions.append(decided.setdefault(key, decision))
        else:
            decisions.append(_shared(first, inputs))
    return decisions


CITING = tuple(index for index, rule in enumerate(RULES) if rule.cites_lead)


def _shared(first: Decision, inputs: PolicyInputs) -> Decision:
    """``first``'s verdict for another lead in the same state: its outcomes, but for
    the rules that cite the lead's own records (``Rule.cites_lead``), checked again."""
    outcomes, failed = first.outcomes, first.failed
    if inputs.kind in CITING_KINDS:
        for index in CITING:
            own = _outcome(RULES[index], inputs)
            if own != outcomes[index]:
                outcomes = (*outcomes[:index], own, *outcomes[index + 1 :])
                if own.passed is False:  # the same verdict (``state_key``), its own words
                    failed = tuple(outcome for outcome in outcomes if outcome.passed is False)
    return Decision(inputs, outcomes, first.next_allowed_at, failed, first)


# What names the lead rather than its state: no rule reads the id, and of a valid
# number the rules read only what ``LeadNumber`` says besides its digits, and the
# jurisdiction its prefix falls under.
# Of its consent, the verdict reads whether the latest event is a grant (``cites_lead``).
LEAD_ONLY = frozenset(
    {"lead_id", "lead_number", "active_strategy", "last_inbound_at", "marketing_consent"}
)
STATE_FIELDS = tuple(f.name for f in fields(PolicyInputs) if f.name not in LEAD_ONLY)
_state_fields = attrgetter(*STATE_FIELDS)  # one call for all of them


def state_key(inputs: PolicyInputs) -> tuple:
    """Everything a decision's verdict depends on, without the lead's identity."""
    strategy = inputs.active_strategy
    version = None if strategy is None else (strategy.id, strategy.version_number)
    return (
        *_state_fields(inputs),
        _inbound_state(inputs),
        _number_state(inputs.lead_number),
        inputs.jurisdiction,
        version and (*version, strategy.followup_preset),  # type: ignore[union-attr]
        _consent_state(inputs.marketing_consent),
        _channel_state(inputs),
    )


def _channel_state(inputs: PolicyInputs) -> tuple | None:
    """What a verdict reads of when the lead wrote for the channel's rules: while the
    messaging limit is reached or a restriction covers the number, whether the
    follow-up is free form when the time rules allow it."""
    restriction = inputs.restriction
    if restriction is None and inputs.limit_frees_at is None:
        return None
    return restriction, inputs.last_inbound_at


TIME_FIELDS = (
    "kind",
    "at",
    "lead_timezone",
    "workspace_timezone",
    "send_window_start",
    "send_window_end",
    "send_days",
    "blocked_dates",
    "recent_permits",
    "holiday_calendars",
    "lead_country_holidays",
    "marketing_limited_until",
    "messaging_tier",
    "template_recipients_24h",
    "oldest_template_at",
)


_time_fields = attrgetter(*TIME_FIELDS)


def time_key(inputs: PolicyInputs) -> tuple:
    """Everything the time rules read (``Rule.time``)."""
    return (
        *_time_fields(inputs),
        _number_state(inputs.lead_number),
        inputs.jurisdiction,
        # The messaging limit counts templates only: when the lead wrote decides the
        # format at ``at`` and, while the limit is reached, at the next opening.
        inputs.free_form_at(inputs.at),
        inputs.last_inbound_at if inputs.limit_frees_at is not None else None,
    )


def _number_state(number: LeadNumber | None) -> tuple | None:
    """What the rules read of a number: not its digits, but for an invalid one, which
    the reasons name."""
    if number is None:
        return None
    digits = None if number.valid else number.e164
    return (number.valid, number.region, number.zones, number.label, digits)


def _consent_state(record: ConsentRecord | None) -> bool | None:
    """What a verdict reads of the lead's consent: whether its latest event is a grant."""
    return None if record is None else record.granted


def _inbound_state(inputs: PolicyInputs) -> tuple:
    """What a follow-up's verdict reads of when the lead last wrote: whether within
    the reply window, and the permits since (with the instant only when there are
    any, as the stop rule names it then). A reply names the instant itself."""
    if inputs.kind is not SendKind.FOLLOWUP:
        return (inputs.last_inbound_at,)
    count = inputs.unanswered_permits()
    named = inputs.last_inbound_at if count else None
    return inputs.inbound_within(REPLY_WINDOW), count, named


def _outcome(rule: Rule, inputs: PolicyInputs) -> RuleOutcome:
    if inputs.kind not in rule.kinds:
        return RuleOutcome(rule.code, False, None, rule.denial, f"not checked for {inputs.kind}")
    verdict = rule.check(inputs)
    return RuleOutcome(rule.code, True, verdict.passed, rule.denial, verdict.detail)


def earliest_allowed(
    inputs: PolicyInputs, not_before: datetime | None = None, last_permit: datetime | None = None
) -> datetime | None:
    """The first instant >= ``not_before`` (default: the evaluation time) at which
    every deferred rule passes: the cap after the last permit (default: the inputs')
    has expired, the lead's per-user marketing limit too, then the window is open; and
    the workspace's messaging limit has a place, unless the follow-up is free form
    then."""
    start = inputs.at if not_before is None else not_before
    last = (
        inputs.last_permit
        if last_permit is None
        else max(last_permit, inputs.last_permit or last_permit)
    )
    if last is not None:
        start = max(start, last + OUTBOUND_CAP)
    if inputs.marketing_limited_until is not None:
        start = max(start, inputs.marketing_limited_until)
    opening = inputs.window.earliest_opening(start, inputs.zones)
    if opening is None or not inputs.limited_at(opening):
        return opening
    return inputs.window.earliest_opening(max(start, inputs.limit_frees_at), inputs.zones)  # type: ignore[arg-type]


def deferred_rules_pass(inputs: PolicyInputs, instant: datetime) -> bool:
    """Whether every deferred (time) rule passes at ``instant``."""
    later = replace(inputs, at=instant)
    return all(rule.check(later).passed for rule in RULES if rule.denial is Denial.DEFERRED)
