"""When the next follow-up goes out: the ACTIVE strategy's interval, moved into
the next allowed window, and a preview of the next few."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from app.enums import FollowUpPreset, LeadStage, ReasonCode, SendKind
from app.policy.rules import STOP_LOOKBACK, ActiveStrategy, PolicyInputs, decide, earliest_allowed

PRESET_HOURS = {
    FollowUpPreset.GENTLE: 72,
    FollowUpPreset.BALANCED: 48,
    FollowUpPreset.AGGRESSIVE: 24,
}


def interval_hours(strategy: ActiveStrategy, stage: LeadStage) -> int:
    """Hours between follow-ups: the preset's, unless overridden for the stage."""
    overrides = strategy.interval_overrides or {}
    return overrides.get(stage.value, PRESET_HOURS[strategy.followup_preset])


def next_followup_after(inputs: PolicyInputs, permit_at: datetime) -> datetime | None:
    """When the follow-up after one permitted at ``permit_at`` is due."""
    if inputs.active_strategy is None:
        return None
    hours = interval_hours(inputs.active_strategy, inputs.lead_stage)
    return earliest_allowed(
        inputs, not_before=permit_at + timedelta(hours=hours), last_permit=permit_at
    )


@dataclass(frozen=True)
class SchedulePreview:
    instants: tuple[datetime, ...]
    # Why the preview ends before ``count`` instants (None when it does not).
    stops_with: ReasonCode | None


def preview(inputs: PolicyInputs, count: int) -> SchedulePreview:
    """The next ``count`` follow-ups if each were sent as soon as allowed and the
    lead never answered; stops at the first denial that is not deferred."""
    at, permits, instants = inputs.at, list(inputs.recent_permits), []
    while len(instants) < count:
        window_start = at - STOP_LOOKBACK
        state = replace(
            inputs,
            kind=SendKind.FOLLOWUP,
            at=at,
            recent_permits=tuple(p for p in permits if window_start < p <= at),
        )
        decision = decide(state)
        if decision.allow_send:
            instants.append(at)
            permits.append(at)
            hours = interval_hours(state.active_strategy, state.lead_stage)  # type: ignore[arg-type]
            at = at + timedelta(hours=hours)
        elif decision.next_allowed_at is not None:
            at = decision.next_allowed_at
        else:
            return SchedulePreview(tuple(instants), decision.reason_code)
    return SchedulePreview(tuple(instants), None)
