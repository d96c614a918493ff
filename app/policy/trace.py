"""The rule trace: a decision's inputs and every rule's outcome, as JSON.

It holds enough to replay the decision: ``inputs_from_trace`` rebuilds the exact
``PolicyInputs`` and ``decide`` runs again on them.
"""

import json
from dataclasses import fields
from datetime import date, datetime, time
from typing import Any

from app.enums import BudgetTier, FollowUpPreset, LeadStage, SendKind, Weekday
from app.phone_numbers import LeadNumber
from app.policy.rules import RULESET_VERSION, ActiveStrategy, Decision, PolicyInputs

NUMBER_FIELDS = tuple(field.name for field in fields(LeadNumber))


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _read_instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def inputs_json(inputs: PolicyInputs) -> dict[str, Any]:
    strategy = inputs.active_strategy
    return {
        "kind": inputs.kind.value,
        "at": _instant(inputs.at),
        "lead_id": inputs.lead_id,
        "lead_stage": inputs.lead_stage.value,
        "lead_tags": list(inputs.lead_tags),
        "lead_timezone": inputs.lead_timezone,
        "workspace_timezone": inputs.workspace_timezone,
        "budget_tier": inputs.budget_tier.value,
        "attestation_granted": inputs.attestation_granted,
        "active_strategy": None
        if strategy is None
        else {
            "id": strategy.id,
            "version_number": strategy.version_number,
            "followup_preset": strategy.followup_preset.value,
            "interval_overrides": strategy.interval_overrides,
        },
        "send_window_start": inputs.send_window_start.strftime("%H:%M"),
        "send_window_end": inputs.send_window_end.strftime("%H:%M"),
        "send_days": [day.value for day in inputs.send_days],
        "blocked_dates": [day.isoformat() for day in inputs.blocked_dates],
        "policy_version": inputs.policy_version,
        "last_inbound_at": _instant(inputs.last_inbound_at),
        "recent_permits": [_instant(permit) for permit in inputs.recent_permits],
        "lead_number": _number_json(inputs.lead_number),
        "holiday_calendars": list(inputs.holiday_calendars),
        "lead_country_holidays": inputs.lead_country_holidays,
        "marketing_stopped_at": _instant(inputs.marketing_stopped_at),
    }


def inputs_from_trace(trace: dict[str, Any]) -> PolicyInputs:
    """The inputs a recorded decision was made on."""
    data = trace["inputs"]
    strategy = data["active_strategy"]
    return PolicyInputs(
        kind=SendKind(data["kind"]),
        at=datetime.fromisoformat(data["at"]),
        lead_id=data["lead_id"],
        lead_stage=LeadStage(data["lead_stage"]),
        lead_tags=tuple(data["lead_tags"]),
        lead_timezone=data["lead_timezone"],
        workspace_timezone=data["workspace_timezone"],
        budget_tier=BudgetTier(data["budget_tier"]),
        attestation_granted=data["attestation_granted"],
        active_strategy=None
        if strategy is None
        else ActiveStrategy(
            id=strategy["id"],
            version_number=strategy["version_number"],
            followup_preset=FollowUpPreset(strategy["followup_preset"]),
            interval_overrides=strategy["interval_overrides"],
        ),
        send_window_start=time.fromisoformat(data["send_window_start"]),
        send_window_end=time.fromisoformat(data["send_window_end"]),
        send_days=tuple(Weekday(day) for day in data["send_days"]),
        blocked_dates=tuple(date.fromisoformat(day) for day in data["blocked_dates"]),
        policy_version=data["policy_version"],
        last_inbound_at=_read_instant(data["last_inbound_at"]),
        recent_permits=tuple(datetime.fromisoformat(p) for p in data["recent_permits"]),
        # Decisions recorded before ruleset 2 read no number and no holidays.
        lead_number=_read_number(data.get("lead_number")),
        holiday_calendars=tuple(data.get("holiday_calendars", ())),
        lead_country_holidays=data.get("lead_country_holidays", False),
        # Decisions recorded before ruleset 3 read no marketing preference.
        marketing_stopped_at=_read_instant(data.get("marketing_stopped_at")),
    )


def _number_json(number: LeadNumber | None) -> dict[str, Any] | None:
    if number is None:
        return None
    return {name: getattr(number, name) for name in NUMBER_FIELDS}


def _read_number(data: dict[str, Any] | None) -> LeadNumber | None:
    if data is None:
        return None
    return LeadNumber(**{**data, "zones": tuple(data["zones"])})


def rule_trace(decision: Decision) -> dict[str, Any]:
    """What is recorded with the decision: inputs, zone, versions, every rule."""
    inputs = decision.inputs
    return {
        "ruleset_version": RULESET_VERSION,
        "policy_version": inputs.policy_version,
        "evaluated_at": _instant(inputs.at),
        "kind": inputs.kind.value,
        "zone": inputs.zone_name,
        "zones": list(inputs.zones),
        "zone_source": inputs.zone_choice.source.value,
        "zone_reason": inputs.zone_choice.reason,
        "local_time": inputs.local_at.isoformat(),
        "local_times": {local.tzinfo.key: local.isoformat() for local in inputs.local_times},
        "inputs": inputs_json(inputs),
        "rules": [outcome.as_json() for outcome in decision.outcomes],
    }


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def rule_trace_texts(decisions: list[Decision]) -> list[str]:
    """Each decision's ``rule_trace`` as JSON text; the part decisions in one state
    share is written once (a dispatch batch would otherwise write it per lead): a
    lead adds its id and its number's digits."""
    shared: dict[int, tuple[str, str, str]] = {}
    texts = []
    for decision in decisions:
        origin = decision.same_as or decision
        head, number, tail = shared.get(id(origin)) or shared.setdefault(
            id(origin), _shared_parts(origin)
        )
        inputs = decision.inputs
        # E.164 digits and ISO instants need no JSON escaping.
        if inputs.lead_number is not None:
            number_text = f'{{"e164":"{inputs.lead_number.e164}"{number}'
        else:
            number_text = "null"
        wrote = inputs.last_inbound_at
        wrote_text = "null" if wrote is None else f'"{wrote.isoformat()}"'
        own = f'"lead_id":{inputs.lead_id},"last_inbound_at":{wrote_text}'
        texts.append(f'{head}{own},"lead_number":{number_text}{tail}')
    return texts


def _shared_parts(decision: Decision) -> tuple[str, str, str]:
    """The trace's text before the lead's id, its number's after its digits, and the
    rest: of a lead's inputs only its id, when it last wrote and its number's digits
    are its own (``state_key``)."""
    trace = rule_trace(decision)
    inputs, rules = trace.pop("inputs"), trace.pop("rules")
    number = inputs.pop("lead_number")
    del inputs["lead_id"], inputs["last_inbound_at"]
    head = f'{_compact(trace)[:-1]},"inputs":{_compact(inputs)[:-1]},'
    number_rest = ""
    if number is not None:
        del number["e164"]
        number_rest = f",{_compact(number)[1:]}"
    return head, number_rest, f'}},"rules":{_compact(rules)}}}'


def decision_json(decision: Decision) -> dict[str, Any]:
    """The decision as the API returns it (without the id and recording time)."""
    return {
        "lead_id": decision.inputs.lead_id,
        "kind": decision.inputs.kind.value,
        "allow_send": decision.allow_send,
        "reason_code": decision.reason_code.value,
        "next_allowed_at": decision.next_allowed_at,
        "message_format": decision.message_format,
        "summary": decision.summary,
        "rule_trace": rule_trace(decision),
    }
