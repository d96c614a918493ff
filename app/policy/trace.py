"""The rule trace: a decision's inputs and every rule's outcome, as JSON.

It holds enough to replay the decision: ``inputs_from_trace`` rebuilds the exact
``PolicyInputs`` (app/policy/input_codec.py) and ``decide`` runs again on them.
"""

import json
from datetime import datetime
from itertools import pairwise
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from app.policy.input_codec import inputs_from_json, inputs_to_json
from app.policy.rules import CITING, RULESET_VERSION, ConsentRecord, Decision, PolicyInputs


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


def compact(value: Any) -> str:
    """JSON text without spaces, as the traces are sent to the database."""
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
        consent = _consent_text(inputs.marketing_consent)
        if decision.outcomes is not origin.outcomes:
            rules_text = _rules_text(decision, origin, rules)
        texts.append(
            f'{head}{own},"lead_number":{number_text},"marketing_consent":{consent}}},'
            f"{rules_text}}}"
        )
    return texts


def _consent_text(record: ConsentRecord | None) -> str:
    """``marketing_consent`` of the inputs as JSON (as ``inputs_to_json`` writes it,
    which tests/test_recipient_time.py checks): ids, an enum, an ISO instant and a
    hash written directly, one lead at a time being the cost of a dispatch batch."""
    if record is None:
        return "null"
    version = "null" if record.wording_version is None else record.wording_version
    digest = "null" if record.wording_sha256 is None else _string(record.wording_sha256)
    return (
        f'{{"event_id":{record.event_id},"action":"{record.action.value}",'
        f'"captured_at":"{record.captured_at.isoformat()}",'
        f'"wording_version":{version},"wording_sha256":{digest}}}'
    )


def _shared_parts(decision: Decision) -> tuple[str, str, list[str], str]:
    """The trace's text before the lead's id, its number's after its digits, the rule
    outcomes' text in pieces (``_joined``) and the rules' text: of a lead's inputs only
    its id, when it last wrote, its number's digits and its consent are its own
    (``state_key``), and of the outcomes those that cite it."""
    trace = rule_trace(decision)
    inputs, rules = trace.pop("inputs"), trace.pop("rules")
    number = inputs.pop("lead_number")
    del inputs["lead_id"], inputs["last_inbound_at"], inputs["marketing_consent"]
    head = f'{compact(trace)[:-1]},"inputs":{compact(inputs)[:-1]},'
    number_rest = ""
    if number is not None:
        del number["e164"]
        number_rest = f",{compact(number)[1:]}"
    # The outcomes between those that cite the lead, as text, then the citing ones: a
    # lead in this state puts its own citing outcomes between the others.
    bounds = (-1, *CITING, len(rules))
    texts = [compact(rules[start + 1 : end])[1:-1] for start, end in pairwise(bounds)]
    texts += [compact(rules[index]) for index in CITING]
    return head, number_rest, texts, _joined(texts)


def _rules_text(decision: Decision, origin: Decision, texts: list[str]) -> str:
    """The rules of a decision that shares ``origin``'s verdict: its origin's outcomes,
    and its own where they differ (those that cite the lead). They differ in their
    detail alone, the last key (``RuleOutcome.as_json``): the origin's text up to it,
    then this lead's."""
    own, mine = decision.outcomes, list(texts)
    for place, index in enumerate(CITING, start=len(CITING) + 1):
        if own[index] is not origin.outcomes[index]:
            text = mine[place]
            before_detail = text[: text.index(DETAIL) + len(DETAIL)]
            mine[place] = f"{before_detail}{_string(own[index].detail)}}}"
    return _joined(mine)


DETAIL = '"detail":'
_string = encode_basestring_ascii  # a JSON string, as json.dumps writes it


def _joined(texts: list[str]) -> str:
    """``"rules":[...]`` from the segments and the citing outcomes (``_shared_parts``)."""
    segments, citing = texts[: len(CITING) + 1], texts[len(CITING) + 1 :]
    parts = [segments[0]]
    for outcome, segment in zip(citing, segments[1:], strict=True):
        parts += (outcome, segment)
    return f'"rules":[{",".join(part for part in parts if part)}]'


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
