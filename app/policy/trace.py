"""The rule trace: a decision's inputs and every rule's outcome, as JSON.

It holds enough to replay the decision: ``inputs_from_trace`` rebuilds the exact
``PolicyInputs`` (app/policy/input_codec.py) and ``decide`` runs again on them.
"""

import json
from datetime import datetime
from typing import Any

from app.policy.input_codec import INPUT_WRITERS, inputs_from_json, inputs_to_json
from app.policy.rules import CITING, RULESET_VERSION, Decision, PolicyInputs


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
    lead adds its id, its number's digits, its consent and the outcomes that cite
    it (``Rule.cites_lead``)."""
    shared: dict[int, tuple[str, str, list[str], str]] = {}
    texts = []
    for decision in decisions:
        origin = decision.same_as or decision
        head, number, rules, rules_text = shared.get(id(origin)) or shared.setdefault(
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
        consent = _compact(MARKETING_CONSENT(inputs.marketing_consent))
        if decision.outcomes is not origin.outcomes:
            rules_text = _rules_text(decision, origin, rules)
        texts.append(
            f'{head}{own},"lead_number":{number_text},"marketing_consent":{consent}}},'
            f"{rules_text}}}"
        )
    return texts


MARKETING_CONSENT = dict(INPUT_WRITERS)["marketing_consent"]


def _shared_parts(decision: Decision) -> tuple[str, str, list[str], str]:
    """The trace's text before the lead's id, its number's after its digits, each rule
    outcome's text and the rules' text: of a lead's inputs only its id, when it last
    wrote, its number's digits and its consent are its own (``state_key``), and of the
    outcomes those that cite it."""
    trace = rule_trace(decision)
    inputs, rules = trace.pop("inputs"), trace.pop("rules")
    number = inputs.pop("lead_number")
    del inputs["lead_id"], inputs["last_inbound_at"], inputs["marketing_consent"]
    head = f'{_compact(trace)[:-1]},"inputs":{_compact(inputs)[:-1]},'
    number_rest = ""
    if number is not None:
        del number["e164"]
        number_rest = f",{_compact(number)[1:]}"
    texts = [_compact(rule) for rule in rules]
    return head, number_rest, texts, _joined(texts)


def _rules_text(decision: Decision, origin: Decision, rules: list[str]) -> str:
    """The rules of a decision that shares ``origin``'s verdict: its origin's outcomes,
    and its own where they differ (those that cite the lead)."""
    own, texts = decision.outcomes, list(rules)
    for index in CITING:
        if own[index] is not origin.outcomes[index]:
            texts[index] = _compact(own[index].as_json())
    return _joined(texts)


def _joined(rules: list[str]) -> str:
    return f'"rules":[{",".join(rules)}]'


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
