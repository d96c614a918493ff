"""The policy engine's I/O: load a decision's inputs in one statement, decide
(app/policy/rules.py), record the decision and its effect on the lead.

Permits are issued in one transaction that first locks the lead row, so two
workers asking at once are serialised: the second sees the first's permit. Under a
messaging limit (a tier other than UNLIMITED) a follow-up's transaction first takes
the workspace's messaging-limit lock, so the count of people it loads sees every
earlier permit of the workspace: 50 leads asking for the last place get one permit.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, NamedTuple

import asyncpg

from app.db.executor import fetch, fetch_on, transaction
from app.enums import (
    ChatRole,
    LeadTag,
    MessageFormat,
    MessagingTier,
    ReasonCode,
    SendKind,
    StrategyStatus,
)
from app.errors import Conflict, NotFound
from app.leads import DUE_LEADS
from app.metrics import DISPATCH_BATCHES, DISPATCH_LEADS, count_decisions
from app.policy.consent import LATEST_MARKETING_CONSENT
from app.policy.decisions import DECISION_COLUMNS
from app.policy.input_codec import inputs_from_json, inputs_from_row
from app.policy.local_time import known_zone, local_text, zone
from app.policy.rules import (
    MESSAGING_WINDOW,
    RULES_BY_CODE,
    STOP_LOOKBACK,
    Decision,
    Denial,
    PolicyInputs,
    decide,
    decide_all,
)
from app.policy.schedule import interval_hours, next_followup_after, preview
from app.policy.trace import compact, decision_json, rule_trace, rule_trace_texts
from app.validation import stored_json

# The permits WhatsApp's messaging limit counts (rule MESSAGING_LIMIT): follow-up
# permits in a template; the predicate of the partial index
# policy_decision_template_permits, so that the index serves every count of them.
TEMPLATE_PERMITS = (
    f"allow_send AND kind = '{SendKind.FOLLOWUP}' AND message_format = '{MessageFormat.TEMPLATE}'"
)

# One statement: the workspace's policy, attestation and ACTIVE strategy, and for
# each lead its state, its last inbound message, its recent follow-up permits and
# its latest marketing consent event (one lookup on consent_event_lead_latest),
# all as of one instant (``at``, default the statement's own time). Each column is
# named after its field of PolicyInputs (app/policy/input_codec.py reads them).
LOAD_INPUTS = f"""
WITH clock AS (SELECT coalesce({{}}::timestamptz, statement_timestamp()) AS at),
policy AS MATERIALIZED (
    SELECT w.id AS workspace_id, w.timezone AS workspace_timezone, w.budget_tier,
           w.send_window_start, w.send_window_end, w.send_days, w.blocked_dates,
           w.policy_version, w.holiday_calendars, w.lead_country_holidays,
           w.consent_required, w.messaging_tier,
           templates.template_recipients_24h, templates.oldest_template_at,
           (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'id', r.id, 'number_prefix', r.number_prefix, 'region', r.region,
                       'template_category', r.template_category, 'since', r.since,
                       'description', r.description) ORDER BY r.id), '[]')
            FROM channel_restriction r) AS channel_restrictions,
           (SELECT a.granted FROM outreach_attestation a
            WHERE a.workspace_id = w.id AND a."timestamp" <= clock.at
            ORDER BY a."timestamp" DESC, a.id DESC LIMIT 1) AS attestation_granted,
           CASE WHEN s.id IS NOT NULL THEN jsonb_build_object(
               'id', s.id, 'version_number', s.version_number,
               'followup_preset', s.followup_preset, 'interval_overrides', s.interval_overrides)
           END AS active_strategy
    FROM clock, workspace w
    LEFT JOIN strategy_version s
        ON s.workspace_id = w.id AND s.status = '{StrategyStatus.ACTIVE}'
    -- The people given a template follow-up permit in the messaging limit's window,
    -- read only under a limit.
    CROSS JOIN LATERAL (
        SELECT count(DISTINCT p.lead_id)::int AS template_recipients_24h,
               min(p.created_at) AS oldest_template_at
        FROM policy_decision p
        WHERE w.messaging_tier <> '{MessagingTier.UNLIMITED}'
          AND p.workspace_id = w.id AND {TEMPLATE_PERMITS}
          AND p.created_at > clock.at - interval '{MESSAGING_WINDOW.total_seconds():.0f} seconds'
          AND p.created_at <= clock.at
    ) templates
    WHERE w.id = {{}}
)
SELECT clock.at, policy.*, l.id AS lead_id, l.external_id AS lead_number,
       l.stage AS lead_stage, l.tags AS lead_tags, l.timezone AS lead_timezone,
       l.marketing_stopped_at, l.unreachable_since, l.marketing_limited_until,
       CASE WHEN l.last_inbound_at IS NULL OR l.last_inbound_at <= clock.at
            THEN l.last_inbound_at
            ELSE (SELECT max(m.created_at) FROM chat_message m
                  JOIN conversation_thread t ON t.id = m.thread_id
                  WHERE t.lead_id = l.id AND m.role = '{ChatRole.USER}'
                    AND m.created_at <= clock.at)
       END AS last_inbound_at,
       ARRAY(SELECT p.created_at FROM policy_decision p
             WHERE p.lead_id = l.id AND p.allow_send AND p.kind = '{SendKind.FOLLOWUP}'
               AND p.created_at > clock.at - interval '{STOP_LOOKBACK.days} days'
               AND p.created_at <= clock.at
             ORDER BY p.created_at) AS recent_permits,
       consent.marketing_consent
FROM clock, policy JOIN lead l ON l.workspace_id = policy.workspace_id
LEFT JOIN LATERAL ({LATEST_MARKETING_CONSENT}) consent ON true
WHERE l.id = ANY({{}}::int[])
ORDER BY l.id
"""

# The messaging limit's lock: pg_advisory_xact_lock(MESSAGING_LIMIT_LOCK, workspace id),
# held to the end of the transaction that loads a follow-up's inputs under a limit and
# records its decision. Two int keys: apart from the one-bigint locks of app/whatsapp.
MESSAGING_LIMIT_LOCK = 24_001
LIMITED = f"w.messaging_tier <> '{MessagingTier.UNLIMITED}'"
LIMIT_LOCK = f"pg_advisory_xact_lock({MESSAGING_LIMIT_LOCK}, w.id)"

# The lead's row, and for a follow-up under a limit the workspace's lock first (the
# select list is computed before the row is locked): in that order everywhere.
LOCK_LEAD = f"""
SELECT l.id, CASE WHEN {{}}::text = '{SendKind.FOLLOWUP}' AND {LIMITED}
                  THEN {LIMIT_LOCK}::text END AS limit_lock
FROM lead l JOIN workspace w ON w.id = l.workspace_id
WHERE l.id = {{}} AND l.workspace_id = {{}}
FOR UPDATE OF l
"""

# Dispatch takes the workspace's lock before it claims its due leads.
LOCK_LIMITED_WORKSPACE = f"SELECT {LIMIT_LOCK} FROM workspace w WHERE w.id = {{}} AND {LIMITED}"

# The recorded decision without its trace: the caller has that already.
RECORDED_COLUMNS = ", ".join(
    column for column in DECISION_COLUMNS.split(", ") if column != "rule_trace"
)


def inputs_of(row: Mapping[str, Any], kind: SendKind) -> PolicyInputs:
    """A loaded row as the pure function's inputs; Conflict when the lead's local
    time cannot be known (a zone name written around the validation)."""
    for name in (row["lead_timezone"], row["workspace_timezone"]):
        if name is not None and not known_zone(name):
            raise Conflict(
                f"lead {row['lead_id']}: {name!r} is not an IANA timezone name, so its "
                "local time is unknown and nothing is sent; correct the lead's or the "
                "workspace's timezone"
            )
    return inputs_from_row(row, kind=kind)


async def load_inputs(
    connection: asyncpg.Connection,
    workspace_id: int,
    lead_ids: list[int],
    kind: SendKind,
    at: datetime | None = None,
) -> list[PolicyInputs]:
    """The inputs of a decision for each lead (one statement), as of ``at`` or now."""
    rows = await fetch_on(connection, LOAD_INPUTS, at, workspace_id, lead_ids)
    return [inputs_of(row, kind) for row in rows]


async def _inputs(workspace_id: int, lead_id: int, kind: SendKind, at=None) -> PolicyInputs:
    async with transaction() as connection:
        loaded = await load_inputs(connection, workspace_id, [lead_id], kind, at)
    if not loaded:
        raise NotFound(f"lead {lead_id} does not exist")
    return loaded[0]


# --- what a decision does to the lead -------------------------------------------------


@dataclass(frozen=True)
class LeadEffect:
    """How recording a follow-up decision changes the lead's schedule."""

    lead_id: int
    permitted: bool
    at: datetime
    next_followup_at: datetime | None
    keep_lease: bool
    lease_until: datetime | None
    no_response: bool


def effect_of(decision: Decision, *, lease: timedelta | None = None) -> LeadEffect | None:
    """Allowed: sent now, the next one due after the interval. Deferred: due when
    allowed. Refused for good, or unanswered: nothing scheduled (and NO_RESPONSE for
    the latter). Refused until something changes: the schedule stays as it is,
    except for a dispatched lead, which would otherwise be due again and again.

    A dispatched lead (``lease`` given) is leased to the sender when permitted and
    released otherwise; any other decision leaves the lease as it is."""
    claimed = lease is not None
    inputs = decision.inputs
    if inputs.kind is not SendKind.FOLLOWUP:
        return None
    unanswered = decision.reason_code is ReasonCode.STOP_UNANSWERED
    if decision.allow_send:
        next_at = next_followup_after(inputs, inputs.at)
    elif decision.denial is Denial.DEFERRED:
        next_at = decision.next_allowed_at
    elif claimed or unanswered or decision.denial is Denial.PERMANENT:
        next_at = None
    else:
        return None
    return LeadEffect(
        lead_id=inputs.lead_id,
        permitted=decision.allow_send,
        at=inputs.at,
        next_followup_at=next_at,
        keep_lease=not claimed,
        lease_until=inputs.at + lease if claimed and decision.allow_send else None,
        no_response=unanswered,
    )


def effects_of(decisions: list[Decision], lease: timedelta) -> list[LeadEffect | None]:
    """``effect_of`` each dispatched decision; one that shares another's verdict
    (``Decision.same_as``) has that one's effect on its own lead."""
    worked_out: dict[int, LeadEffect | None] = {}
    effects = []
    for decision in decisions:
        origin = decision.same_as or decision
        if id(origin) not in worked_out:
            worked_out[id(origin)] = effect_of(origin, lease=lease)
        effect = worked_out[id(origin)]
        if effect is not None and decision is not origin:
            effect = LeadEffect(decision.inputs.lead_id, *_after_lead(effect))
        effects.append(effect)
    return effects


EFFECT_FIELDS = tuple(field.name for field in fields(LeadEffect))
_after_lead = attrgetter(*EFFECT_FIELDS[1:])  # every field but the lead, in order


# --- recording: decisions and effects as arrays, in one statement -----------------------


class SentArray(NamedTuple):
    """One column of recorded decisions, sent as an array to ``unnest``."""

    name: str
    sql_type: str
    value: Callable[[Decision, str], Any]  # from the decision and its trace text
    stored_as: str = ""  # a cast into the table's column type


DECISION_ARRAYS = (
    SentArray("lead_id", "int", lambda d, trace: d.inputs.lead_id),
    SentArray("kind", "text", lambda d, trace: d.inputs.kind.value),
    SentArray("allow_send", "bool", lambda d, trace: d.allow_send),
    SentArray("reason_code", "text", lambda d, trace: d.reason_code.value),
    SentArray(
        "message_format", "text", lambda d, trace: d.message_format and d.message_format.value
    ),
    SentArray("next_allowed_at", "timestamptz", lambda d, trace: d.next_allowed_at),
    SentArray("rule_trace", "text", lambda d, trace: trace, stored_as="jsonb"),
    SentArray("summary", "text", lambda d, trace: d.summary),
    SentArray("created_at", "timestamptz", lambda d, trace: d.inputs.at),
)
# The SQL element type of each LeadEffect field, by its annotation.
SQL_TYPES: dict[Any, str] = {int: "int", bool: "bool", datetime: "timestamptz"}
SQL_TYPES[datetime | None] = "timestamptz"
EFFECT_TYPES = tuple(SQL_TYPES[field.type] for field in fields(LeadEffect))


def unnest(alias: str, names: tuple[str, ...], sql_types: tuple[str, ...]) -> str:
    """``unnest`` of one array placeholder per column, named ``alias(names)``."""
    arrays = ", ".join(f"{{}}::{sql_type}[]" for sql_type in sql_types)
    return f"unnest({arrays}) AS {alias}({', '.join(names)})"


DECISION_NAMES = tuple(column.name for column in DECISION_ARRAYS)


def _stored(column: SentArray) -> str:
    return f"d.{column.name}::{column.stored_as}" if column.stored_as else f"d.{column.name}"


# One statement: append the decisions and apply their effects on the leads (the
# effect arrays may be empty). Decisions come back in the order given. The arrays'
# columns come from DECISION_ARRAYS and LeadEffect, so their order is written once.
RECORD_DECISIONS = f"""
WITH recorded AS (
    INSERT INTO policy_decision (workspace_id, {", ".join(DECISION_NAMES)})
    SELECT {{}}, {", ".join(map(_stored, DECISION_ARRAYS))}
    FROM {unnest("d", DECISION_NAMES, tuple(c.sql_type for c in DECISION_ARRAYS))}
    RETURNING {RECORDED_COLUMNS}
),
applied AS (
    UPDATE lead SET
        last_followup_at = CASE WHEN e.permitted THEN e.at ELSE lead.last_followup_at END,
        next_followup_at = e.next_followup_at,
        followup_lease_until = CASE WHEN e.keep_lease THEN lead.followup_lease_until
                                    ELSE e.lease_until END,
        tags = CASE WHEN e.no_response AND NOT lead.tags @> '["{LeadTag.NO_RESPONSE}"]'
                    THEN lead.tags || '["{LeadTag.NO_RESPONSE}"]'::jsonb ELSE lead.tags END
    FROM {unnest("e", ("id", *EFFECT_FIELDS[1:]), EFFECT_TYPES)}
    WHERE lead.id = e.id AND lead.workspace_id = {{}}
)
SELECT * FROM recorded
"""


async def _record(
    connection: asyncpg.Connection,
    workspace_id: int,
    decisions: list[Decision],
    effects: list[LeadEffect],
    traces: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Append the decisions and apply the effects (one statement); rows in order,
    without their trace (the caller has the decisions, and may pass their traces as
    JSON text)."""
    if traces is None:
        traces = rule_trace_texts(decisions)
    decision_arrays = [
        [column.value(d, trace) for d, trace in zip(decisions, traces, strict=True)]
        for column in DECISION_ARRAYS
    ]
    effect_arrays = [[getattr(e, name) for e in effects] for name in EFFECT_FIELDS]
    rows = await fetch_on(
        connection,
        RECORD_DECISIONS,
        workspace_id,
        *decision_arrays,
        *effect_arrays,
        workspace_id,
    )
    count_decisions((d.inputs.kind.value, d.reason_code.value, d.allow_send) for d in decisions)
    by_lead = {row["lead_id"]: row for row in rows}
    return [by_lead[d.inputs.lead_id] for d in decisions]


# --- the engine's operations ----------------------------------------------------------


async def request_permit(
    workspace_id: int, lead_id: int, kind: SendKind, at: datetime | None = None
) -> dict[str, Any]:
    """Decide now (or at ``at``: tests and replays of history) whether the lead may be
    sent a message of this kind; record the decision (an allowed one is the permit a
    `model` message names)."""
    async with transaction() as connection:
        return await permit_on(connection, workspace_id, lead_id, kind, at)


async def permit_on(
    connection: asyncpg.Connection,
    workspace_id: int,
    lead_id: int,
    kind: SendKind,
    at: datetime | None = None,
) -> dict[str, Any]:
    """``request_permit`` inside the caller's transaction on ``connection``."""
    # The first statement of the transaction carries the statement settings (who asks:
    # app/change_log.py), the later ones need not (app/db/executor.py).
    kind = SendKind(kind)
    if not await fetch_on(connection, LOCK_LEAD, kind.value, lead_id, workspace_id):
        raise NotFound(f"lead {lead_id} does not exist")
    [inputs] = await load_inputs(connection, workspace_id, [lead_id], kind, at)
    decision = decide(inputs)
    effect = effect_of(decision)
    trace = rule_trace(decision)
    effects = [effect] if effect else []
    recorded = await _record(connection, workspace_id, [decision], effects, [compact(trace)])
    return {**recorded[0], "rule_trace": trace}


async def simulate(
    workspace_id: int, lead_id: int, kind: SendKind, at: datetime | None = None
) -> dict[str, Any]:
    """The decision the engine would make at ``at`` (default now); nothing is recorded."""
    decision = decide(await _inputs(workspace_id, lead_id, SendKind(kind), at))
    return {"id": None, "created_at": None, **decision_json(decision)}


async def replay(workspace_id: int, decision_id: int) -> dict[str, Any]:
    """Re-run the pure function on a recorded decision's inputs."""
    rows = await fetch(
        f"SELECT {DECISION_COLUMNS} FROM policy_decision WHERE id = {{}} AND workspace_id = {{}}",
        decision_id,
        workspace_id,
    )
    if not rows:
        raise NotFound(f"policy decision {decision_id} does not exist")
    recorded = rows[0]
    trace = stored_json(recorded["rule_trace"])
    if recorded["kind"] is None or "inputs" not in trace:
        raise Conflict(
            f"policy decision {decision_id} was not made by the policy engine: "
            "it has no recorded inputs to replay"
        )
    replayed = decide(inputs_from_json(trace["inputs"]))
    # A rule added since the decision was recorded is compared by the verdict alone.
    recorded_rules = {outcome["rule"] for outcome in trace["rules"]}
    recorded_view = _comparable(
        recorded["allow_send"],
        recorded["reason_code"],
        recorded["next_allowed_at"],
        recorded["message_format"],
        trace["rules"],
    )
    replayed_view = _comparable(
        replayed.allow_send,
        replayed.reason_code.value,
        replayed.next_allowed_at,
        replayed.message_format and replayed.message_format.value,
        [o for o in rule_trace(replayed)["rules"] if o["rule"] in recorded_rules],
    )
    return {
        "decision_id": decision_id,
        "same": recorded_view == replayed_view,
        "recorded": recorded_view,
        "replayed": replayed_view,
    }


def _comparable(allow_send, reason_code, next_allowed_at, message_format, rules) -> dict:
    return {
        "allow_send": allow_send,
        "reason_code": reason_code,
        "next_allowed_at": next_allowed_at,
        "message_format": message_format,
        "rules": rules,
    }


async def schedule(workspace_id: int, lead_id: int, count: int) -> dict[str, Any]:
    """The next ``count`` follow-up instants if each were sent when allowed."""
    inputs = await _inputs(workspace_id, lead_id, SendKind.FOLLOWUP)
    planned = preview(inputs, count)
    tz = zone(inputs.zone_name)
    strategy = inputs.active_strategy
    return {
        "lead_id": lead_id,
        "zone": inputs.zone_name,
        "zones": list(inputs.zones),
        "zone_source": inputs.zone_choice.source.value,
        "zone_reason": inputs.zone_choice.reason,
        "interval_hours": interval_hours(strategy, inputs.lead_stage) if strategy else None,
        "items": [
            {"at": instant, "local": instant.astimezone(tz), "local_text": local_text(instant, tz)}
            for instant in planned.instants
        ],
        "stops_with": planned.stops_with,
    }


@dataclass(frozen=True)
class DispatchResult:
    permits: list[dict[str, Any]]
    deferred: int
    stopped: int
    # Set when a workspace-wide rule holds every follow-up, or the messaging limit the
    # rest of the batch's templates: {reason_code, detail, until (when known)}.
    paused: dict[str, Any] | None = None


async def dispatch(
    workspace_id: int, limit: int, lease_seconds: int, at: datetime | None = None
) -> DispatchResult:
    """Claim due leads and gate each in one transaction: a permit and the next
    follow-up scheduled, a deferral to when it is allowed, or a stop.

    When a workspace-wide rule refuses every follow-up (no attestation, no ACTIVE
    strategy, budget RED) nothing is recorded and the schedule waits. When the
    messaging limit has no place left, the batch's remaining template follow-ups are
    not decided: they stay due, and the result names the pause once."""
    async with transaction() as connection:
        await fetch_on(connection, LOCK_LIMITED_WORKSPACE, workspace_id)
        due = await fetch_on(connection, DUE_LEADS, at, workspace_id, limit)
        if not due:
            return counted(DispatchResult([], 0, 0))
        claimed = [row["id"] for row in due]
        loaded = await load_inputs(connection, workspace_id, claimed, SendKind.FOLLOWUP, at)
        decisions = decide_all(loaded)
        paused = _workspace_hold(decisions[0])
        if paused is not None:
            return counted(DispatchResult([], 0, 0, paused))
        decisions, paused = within_messaging_limit(decisions, claimed)
        if not decisions:
            return counted(DispatchResult([], 0, 0, paused))
        lease = timedelta(seconds=lease_seconds)
        effects = effects_of(decisions, lease)
        recorded = await _record(
            connection, workspace_id, decisions, [e for e in effects if e is not None]
        )
    permits = [
        {**row, "rule_trace": rule_trace(d)}
        for row, d in zip(recorded, decisions, strict=True)
        if d.allow_send
    ]
    deferred = sum(d.denial is Denial.DEFERRED for d in decisions)
    stopped = len(decisions) - len(permits) - deferred
    return counted(DispatchResult(permits, deferred, stopped, paused))


def counted(result: DispatchResult) -> DispatchResult:
    """``result``, counted in the dispatch metrics (app/metrics.py)."""
    decided = len(result.permits) + result.deferred + result.stopped
    outcome = "decided" if decided else "paused" if result.paused else "empty"
    DISPATCH_BATCHES.labels(outcome).inc()
    for lead_outcome, count in (
        ("permitted", len(result.permits)),
        ("deferred", result.deferred),
        ("stopped", result.stopped),
    ):
        if count:
            DISPATCH_LEADS.labels(lead_outcome).inc(count)
    return result


def within_messaging_limit(
    decisions: list[Decision], due_order: list[int]
) -> tuple[list[Decision], dict[str, Any] | None]:
    """The batch's decisions to record, in the order the leads fell due, and the pause
    when the workspace's messaging limit holds the rest: template permits take the
    places left (the count loaded plus the batch's own template permits); the template
    follow-ups after them, and those the limit already refused, are not decided and
    stay due. Free-form follow-ups are not counted and go."""
    inputs = decisions[0].inputs
    limit = inputs.messaging_tier.limit
    if limit is None:
        return decisions, None
    places = limit - inputs.template_recipients_24h
    if places >= len(decisions):  # room for all: nothing is held, in any order
        return decisions, None
    position = {lead_id: index for index, lead_id in enumerate(due_order)}
    kept, held = [], 0
    for decision in sorted(decisions, key=lambda d: position[d.inputs.lead_id]):
        template = decision.message_format is MessageFormat.TEMPLATE
        if decision.reason_code is ReasonCode.MESSAGING_LIMIT or (template and places <= 0):
            held += 1
            continue
        places -= int(template)
        kept.append(decision)
    return kept, (_limit_pause(inputs, limit, held) if held else None)


def _limit_pause(inputs: PolicyInputs, limit: int, held: int) -> dict[str, Any]:
    """The pause of a batch whose template follow-ups the messaging limit holds: when a
    place frees, as the rule computes it with the limit reached."""
    frees = replace(inputs, template_recipients_24h=limit).limit_frees_at
    return {
        "reason_code": ReasonCode.MESSAGING_LIMIT.value,
        "detail": (
            f"messaging tier {inputs.messaging_tier}: {limit} people given a template "
            f"follow-up in 24 h; {held} due follow-ups wait, not decided, until a place "
            f"frees at {frees.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        ),
        "until": frees,
    }


def _workspace_hold(decision: Decision) -> dict[str, str] | None:
    """The first workspace-wide rule that refuses the follow-up, if any."""
    for outcome in decision.failed:
        if RULES_BY_CODE[outcome.rule].workspace_wide:
            return {"reason_code": outcome.rule.value, "detail": outcome.detail}
    return None
