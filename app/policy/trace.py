"""The rule trace: a decision's inputs and every rule's outcome, as JSON.

It holds enough to replay the decision: ``inputs_from_trace`` rebuilds the exact
``PolicyInputs`` (app/policy/input_codec.py) and ``decide`` runs again on them.
"""

import json
from datetime import datetime
from typing import Any

from app.policy.input_codec import inputs_from_json, inputs_to_json
from app.policy.rules import RULESET_VERSION, Decision, PolicyInputs


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def inputs_from_trace(trace: dict[str, Any]) -> PolicyInputs:
    """The inputs a recorded decision was made on."""
    return inputs_from_json(trace["inputs"])


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
        "inputs": inputs_to_json(inputs),
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
