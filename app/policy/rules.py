"""The outreach policy: a pure function from inputs and an instant to a decision.

No I/O and no clock: everything a decision depends on is in ``PolicyInputs``,
which the rule trace records, so any decision can be replayed later. The rules
are data: ``RULES`` lists them in the order they are checked.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any, NamedTuple

from app.enums import (
    BudgetTier,
    FollowUpPreset,
    LeadStage,
    LeadTag,
    MessageFormat,
    ReasonCode,
    SendKind,
    Weekday,
)
from app.policy.local_time import SendWindow, local_text, weekday_of, zone

# Bumped whenever a rule changes meaning; the trace records it.
RULESET_VERSION = 1

OUTBOUND_CAP = timedelta(hours=24)
REPLY_WINDOW = timedelta(hours=24)  # WhatsApp's customer-service window
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

    @property
    def zone_name(self) -> str:
        return self.lead_timezone or self.workspace_timezone

    @cached_property
    def local_at(self) -> datetime:
        """The evaluation instant on the local wall clock."""
        return self.at.astimezone(zone(self.zone_name))

    @cached_property
    def window(self) -> SendWindow:
        return SendWindow(
            self.send_window_start,
            self.send_window_end,
            frozenset(self.send_days),
            frozenset(self.blocked_dates),
        )

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


def _strategy_active(inputs: PolicyInputs) -> Check:
    strategy = inputs.active_strategy
    if strategy is None:
        return Check(False, "the workspace has no ACTIVE strategy version")
    return Check(True, f"v{strategy.version_number} is ACTIVE ({strategy.followup_preset})")


def _budget_not_red(inputs: PolicyInputs) -> Check:
    return Check(inputs.budget_tier != BudgetTier.RED, f"budget tier {inputs.budget_tier}")


def _not_unanswered(inputs: PolicyInputs) -> Check:
    count = inputs.unanswered_permits()
    return Check(
        count < STOP_AFTER_UNANSWERED,
        f"{count} follow-up permits since the lead last wrote ({_when(inputs)}), "
        f"within {STOP_LOOKBACK.days} days; the limit is {STOP_AFTER_UNANSWERED}",
    )


def _under_cap(inputs: PolicyInputs) -> Check:
    last = inputs.last_permit
    if last is None or last <= inputs.at - OUTBOUND_CAP:
        return Check(True, f"last follow-up permit: {_instant(last)}")
    return Check(
        False, f"last follow-up permit {_instant(last)}; next after {_instant(last + OUTBOUND_CAP)}"
    )


def _not_blocked_date(inputs: PolicyInputs) -> Check:
    day = inputs.local_at.date()
    blocked = day in inputs.blocked_dates
    return Check(not blocked, f"local date {day}{' is blocked' if blocked else ''}")


def _send_day(inputs: PolicyInputs) -> Check:
    day = inputs.local_at.date()
    days = ", ".join(inputs.send_days) or "none"
    return Check(weekday_of(day) in inputs.send_days, f"local day {day:%A}; send days {days}")


def _within_hours(inputs: PolicyInputs) -> Check:
    local = inputs.local_at
    window = f"{inputs.send_window_start:%H:%M}-{inputs.send_window_end:%H:%M}"
    return Check(
        inputs.window.hours_allowed(local.time()),
        f"local time {local:%H:%M} {local.tzname()}; window {window}",
    )


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
    Rule(R.NO_ACTIVE_STRATEGY, FOLLOWUP, Denial.UNTIL, _strategy_active, workspace_wide=True),
    Rule(R.BUDGET_RED, FOLLOWUP, Denial.UNTIL, _budget_not_red, workspace_wide=True),
    Rule(R.STOP_UNANSWERED, FOLLOWUP, Denial.UNTIL, _not_unanswered),
    Rule(R.OUTBOUND_CAP_24H, FOLLOWUP, Denial.DEFERRED, _under_cap),
    Rule(R.BLOCKED_DATE, FOLLOWUP, Denial.DEFERRED, _not_blocked_date),
    Rule(R.SUNDAY_HOLD, FOLLOWUP, Denial.DEFERRED, _send_day),
    Rule(R.QUIET_HOURS, FOLLOWUP, Denial.DEFERRED, _within_hours),
)
RULES_BY_CODE = {rule.code: rule for rule in RULES}


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

    @property
    def summary(self) -> str:
        kind = self.inputs.kind.value
        if self.allow_send:
            return f"{kind} allowed ({self.message_format}): every rule passed"
        first = self.failed[0]
        text = f"{kind} refused, {first.rule} ({first.denial}): {first.detail}"
        if self.next_allowed_at is not None:
            tz = zone(self.inputs.zone_name)
            text += f"; next allowed {local_text(self.next_allowed_at, tz)}"
        return text


def decide(inputs: PolicyInputs) -> Decision:
    """Evaluate every rule in order; the first that fails gives the reason."""
    outcomes = tuple(_outcome(rule, inputs) for rule in RULES)
    failed = tuple(outcome for outcome in outcomes if outcome.passed is False)
    next_allowed_at = None
    if failed and all(outcome.denial is Denial.DEFERRED for outcome in failed):
        next_allowed_at = earliest_allowed(inputs)
    return Decision(inputs, outcomes, next_allowed_at, failed)


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
    has expired, then the window is open."""
    start = inputs.at if not_before is None else not_before
    last = (
        inputs.last_permit
        if last_permit is None
        else max(last_permit, inputs.last_permit or last_permit)
    )
    if last is not None:
        start = max(start, last + OUTBOUND_CAP)
    return inputs.window.earliest_opening(start, zone(inputs.zone_name))


def deferred_rules_pass(inputs: PolicyInputs, instant: datetime) -> bool:
    """Whether every deferred (time) rule passes at ``instant``."""
    later = replace(inputs, at=instant)
    return all(rule.check(later).passed for rule in RULES if rule.denial is Denial.DEFERRED)
