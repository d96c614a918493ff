"""The consent ledger: its tables refuse what the issue forbids (whoever writes: here
raw SQL, as psql would, re-read afterwards), and the policy holds follow-ups for want
of consent (rule CONSENT_MISSING): permits, dispatch and claims, replay, a revocation
racing twenty permits, and the migration's default for existing workspaces."""

import asyncio
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from app.db.executor import transaction
from app.enums import ConsentAction, ConsentPurpose, ReasonCode, SendKind
from app.leads import claim_due_followups
from app.policy import consent, engine
from app.policy.rules import RULES, ConsentRecord, Denial, decide
from tests import factories
from tests.database_setup import piccolo
from tests.policy_setup import (
    WEDNESDAY_NOON_LONDON,
    lead_row,
    london_lead,
    outreach_workspace,
)
from tests.test_policy_rules import ready

AT = WEDNESDAY_NOON_LONDON
CHECK, FOREIGN_KEY = asyncpg.CheckViolationError, asyncpg.ForeignKeyViolationError
REFUSED = asyncpg.IntegrityConstraintViolationError


@pytest.fixture
async def ledger(connection) -> dict:
    """A workspace requiring consent, a lead and a wording version."""
    workspace_id = await outreach_workspace(connection)
    await connection.execute(
        "UPDATE workspace SET consent_required = true WHERE id = $1", workspace_id
    )
    lead_id = await london_lead(connection, workspace_id)
    wording = await wording_row(
        connection, await factories.consent_wording(connection, workspace_id)
    )
    return {"workspace": workspace_id, "lead": lead_id, "wording": wording}


async def wording_row(connection, wording_id: int) -> dict:
    """A wording's id, and the version and hash the database gave it."""
    return dict(
        await connection.fetchrow(
            "SELECT id, version, sha256 FROM consent_wording WHERE id = $1", wording_id
        )
    )


async def grant(connection, ledger: dict, lead_id: int | None = None, **values) -> int:
    values.setdefault("method", "web_form")
    values.setdefault("captured_at", datetime.now(UTC) - timedelta(minutes=1))
    return await factories.consent_grant(
        connection,
        ledger["workspace"],
        lead_id or ledger["lead"],
        ledger["wording"]["id"],
        **values,
    )


async def refused(connection, error: type[Exception], sql: str, *arguments) -> str:
    """``sql`` is refused with ``error`` and leaves both ledger tables as they were."""
    before = [await factories.table_snapshot(connection, t) for t in LEDGER_TABLES]
    with pytest.raises(error) as raised:
        await connection.execute(sql, *arguments)
    assert [await factories.table_snapshot(connection, t) for t in LEDGER_TABLES] == before
    return str(raised.value)


LEDGER_TABLES = ("consent_wording", "consent_event")
INSERT_EVENT = (
    "INSERT INTO consent_event (workspace_id, lead_id, action, purpose, channel, wording_id, "
    "method, evidence, captured_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)"
)


def event_values(ledger: dict, **changes) -> list:
    values = {
        "workspace_id": ledger["workspace"],
        "lead_id": ledger["lead"],
        "action": "grant",
        "purpose": "marketing",
        "channel": "whatsapp",
        "wording_id": ledger["wording"]["id"],
        "method": "checkbox",
        "evidence": "{}",
        "captured_at": datetime.now(UTC) - timedelta(minutes=1),
        **changes,
    }
    return list(values.values())


# --- the tables ------------------------------------------------------------------------


async def test_a_valid_grant_and_revocation_are_stored(connection, ledger):
    values = event_values(ledger, evidence=json.dumps({"ip": "203.0.113.7"}))
    await connection.execute(INSERT_EVENT, *values)
    revoke = event_values(ledger, action="revoke", wording_id=None, method=None)
    await connection.execute(INSERT_EVENT, *revoke)
    rows = await connection.fetch("SELECT action, wording_id FROM consent_event ORDER BY id")
    assert [tuple(row) for row in rows] == [
        ("grant", ledger["wording"]["id"]),
        ("revoke", None),
    ]


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        ({"wording_id": None}, "consent_event_grant_proven"),
        ({"method": None}, "consent_event_grant_proven"),
        ({"action": "revoke", "method": None}, "consent_event_revoke_without_wording"),
        ({"action": "maybe"}, "consent_event_action_valid"),
        ({"purpose": "spam"}, "consent_event_purpose_valid"),
        ({"channel": "sms"}, "consent_event_channel_valid"),
        ({"method": "telepathy"}, "consent_event_method_valid"),
        ({"evidence": "[]"}, "consent_event_evidence_object"),
        ({"evidence": '"a screenshot"'}, "consent_event_evidence_object"),
        (
            {"captured_at": datetime.now(UTC) + timedelta(hours=1)},
            "consent_event_captured_not_future",
        ),
    ],
)
async def test_an_event_breaking_a_rule_is_refused(connection, ledger, changes, constraint):
    message = await refused(connection, CHECK, INSERT_EVENT, *event_values(ledger, **changes))
    assert constraint in message


async def test_an_event_cannot_cite_another_workspaces_lead_or_wording(connection, ledger):
    other = await factories.workspace(connection, "Other")
    their_lead = await factories.lead(connection, other, "+447700900999")
    their_wording = {"id": await factories.consent_wording(connection, other, "Other")}
    message = await refused(
        connection, FOREIGN_KEY, INSERT_EVENT, *event_values(ledger, lead_id=their_lead)
    )
    assert "consent_event_lead_tenant_fkey" in message
    message = await refused(
        connection,
        FOREIGN_KEY,
        INSERT_EVENT,
        *event_values(ledger, wording_id=their_wording["id"]),
    )
    assert "consent_event_wording_tenant_fkey" in message


async def test_a_wording_must_name_the_business(connection, ledger):
    message = await refused(
        connection,
        CHECK,
        "INSERT INTO consent_wording (workspace_id, business_name, text) VALUES ($1, $2, $3)",
        ledger["workspace"],
        "Acme",
        "Yes, you may send me offers.",
    )
    assert "consent_wording_names_business" in message


async def test_the_database_numbers_and_hashes_wording_whatever_the_client_sends(
    connection, ledger
):
    text = "Sí, ACME puede enviarme ofertas por WhatsApp."
    row = await connection.fetchrow(
        "INSERT INTO consent_wording (workspace_id, business_name, text, version, sha256) "
        "VALUES ($1, 'Acme', $2, 99, $3) RETURNING version, sha256",
        ledger["workspace"],
        text,
        "0" * 64,
    )
    assert row["version"] == 2  # the fixture's wording is version 1
    assert row["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert ledger["wording"]["version"] == 1
    # An uncited version may still be corrected; its number stays, its hash follows.
    corrected = await connection.fetchrow(
        "UPDATE consent_wording SET text = 'Acme may write.', version = 7, sha256 = $2 "
        "WHERE workspace_id = $1 AND version = 2 RETURNING version, sha256",
        ledger["workspace"],
        "f" * 64,
    )
    assert corrected["version"] == 2
    assert corrected["sha256"] == hashlib.sha256(b"Acme may write.").hexdigest()


async def test_a_cited_wording_can_neither_change_nor_be_deleted(connection, ledger):
    await grant(connection, ledger)
    wording_id = ledger["wording"]["id"]
    message = await refused(
        connection,
        REFUSED,
        "UPDATE consent_wording SET text = 'Acme may write anything.' WHERE id = $1",
        wording_id,
    )
    assert "cited by consent events" in message
    message = await refused(
        connection, REFUSED, "DELETE FROM consent_wording WHERE id = $1", wording_id
    )
    assert "cited by consent events" in message


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE consent_event SET action = 'revoke', wording_id = NULL, method = NULL",
        'UPDATE consent_event SET evidence = \'{"ip": "198.51.100.1"}\'',
        "DELETE FROM consent_event",
        "TRUNCATE consent_event",
    ],
)
async def test_events_are_append_only_even_for_the_superuser(connection, ledger, sql):
    await grant(connection, ledger)
    assert await connection.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    message = await refused(connection, asyncpg.RestrictViolationError, sql)
    assert "append-only" in message


async def test_recorded_at_and_by_come_from_the_database_and_the_change_log_actor(
    connection, ledger
):
    async with connection.transaction():
        await connection.execute(
            "SELECT set_config('masterplan.actor_kind', 'OPERATOR', true), "
            "set_config('masterplan.actor', 'ana', true)"
        )
        now = await connection.fetchval("SELECT now()")
        event_id = await grant(
            connection,
            ledger,
            recorded_at=datetime(2020, 1, 1, tzinfo=UTC),
            recorded_by_kind="TOKEN",
            recorded_by="mallory",
        )
    anonymous = await grant(connection, ledger, recorded_by="mallory")
    rows = await connection.fetch(
        "SELECT id, recorded_at, recorded_by_kind, recorded_by FROM consent_event ORDER BY id"
    )
    assert [tuple(row)[1:] for row in rows if row["id"] == event_id] == [(now, "OPERATOR", "ana")]
    session_user = await connection.fetchval("SELECT session_user")
    [stamped] = [row for row in rows if row["id"] == anonymous]
    assert (stamped["recorded_by_kind"], stamped["recorded_by"]) == ("DATABASE", session_user)


# --- the rule, pure ----------------------------------------------------------------------

GRANTED = ConsentRecord(12, ConsentAction.GRANT, AT - timedelta(days=3), 2, "ab" * 32)
REVOKED = ConsentRecord(13, ConsentAction.REVOKE, AT - timedelta(days=1))


def test_consent_missing_comes_right_after_marketing_stopped():
    codes = [rule.code for rule in RULES]
    assert codes.index(ReasonCode.CONSENT_MISSING) == codes.index(ReasonCode.MARKETING_STOPPED) + 1
    [rule] = [rule for rule in RULES if rule.code is ReasonCode.CONSENT_MISSING]
    assert (rule.kinds, rule.denial) == (frozenset({SendKind.FOLLOWUP}), Denial.UNTIL)


@pytest.mark.parametrize(
    ("required", "record", "allowed", "cited"),
    [
        (False, None, True, "does not require recorded consent"),
        (True, None, False, "no marketing consent is recorded"),
        (True, REVOKED, False, "event #13 is a revocation"),
        (True, GRANTED, True, f"event #12, wording v2 (sha256 {'ab' * 32})"),
    ],
)
def test_a_follow_up_needs_a_grant_where_the_workspace_requires_one(
    required, record, allowed, cited
):
    decision = decide(ready(consent_required=required, marketing_consent=record))
    assert decision.allow_send is allowed
    outcome = next(o for o in decision.outcomes if o.rule is ReasonCode.CONSENT_MISSING)
    assert cited in outcome.detail
    if not allowed:
        assert (decision.reason_code, decision.denial) == (ReasonCode.CONSENT_MISSING, Denial.UNTIL)
        assert decision.next_allowed_at is None


def test_a_reply_is_never_refused_for_want_of_consent():
    inputs = ready(kind=SendKind.REPLY, consent_required=True, marketing_consent=REVOKED)
    inputs = replace(inputs, last_inbound_at=AT - timedelta(minutes=5))
    decision = decide(inputs)
    assert decision.allow_send
    outcome = next(o for o in decision.outcomes if o.rule is ReasonCode.CONSENT_MISSING)
    assert (outcome.applies, outcome.passed) == (False, None)


# --- the engine --------------------------------------------------------------------------


async def consent_outcome(trace: dict) -> dict:
    return next(o for o in trace["rules"] if o["rule"] == ReasonCode.CONSENT_MISSING)


async def test_a_permit_cites_the_grant_and_a_revocation_holds_the_next(connection, ledger):
    workspace_id, lead_id = ledger["workspace"], ledger["lead"]
    refused_first = await engine.request_permit(workspace_id, lead_id, SendKind.FOLLOWUP, AT)
    assert refused_first["reason_code"] == ReasonCode.CONSENT_MISSING
    assert "no marketing consent is recorded" in refused_first["summary"]

    event_id = await grant(connection, ledger)
    permit = await engine.request_permit(workspace_id, lead_id, SendKind.FOLLOWUP, AT)
    assert permit["allow_send"], permit["summary"]
    wording = ledger["wording"]
    cited = (await consent_outcome(permit["rule_trace"]))["detail"]
    assert f"event #{event_id}, wording v{wording['version']} (sha256 {wording['sha256']})" in cited
    assert permit["rule_trace"]["inputs"]["marketing_consent"]["event_id"] == event_id

    revoked = await consent.record_event(
        workspace_id,
        lead_id,
        ConsentAction.REVOKE,
        ConsentPurpose.MARKETING,
        datetime.now(UTC),
        evidence={"message": "STOP"},
    )
    held = await engine.request_permit(
        workspace_id, lead_id, SendKind.FOLLOWUP, AT + timedelta(days=2)
    )
    assert (held["allow_send"], held["reason_code"]) == (False, ReasonCode.CONSENT_MISSING)
    assert f"event #{revoked['id']} is a revocation" in held["summary"]
    # Replies answer a person who just wrote: never held by consent.
    reply = await engine.simulate(workspace_id, lead_id, SendKind.REPLY, AT)
    assert reply["reason_code"] != ReasonCode.CONSENT_MISSING

    for decision in (refused_first, permit, held):
        replayed = await engine.replay(workspace_id, decision["id"])
        assert replayed["same"], replayed
        assert replayed["replayed"]["reason_code"] == decision["reason_code"]
        assert await consent_outcome(replayed["replayed"]) == await consent_outcome(
            decision["rule_trace"]
        )


async def test_a_decision_recorded_before_the_rule_replays_exactly(connection, ledger):
    """A trace of ruleset 3 has no consent inputs: it replays as requiring none."""
    await grant(connection, ledger)
    permit = await engine.simulate(ledger["workspace"], ledger["lead"], SendKind.FOLLOWUP, AT)
    trace = permit["rule_trace"]
    del trace["inputs"]["consent_required"], trace["inputs"]["marketing_consent"]
    trace["rules"] = [o for o in trace["rules"] if o["rule"] != ReasonCode.CONSENT_MISSING]
    trace["ruleset_version"] = 3
    decision_id = await factories.policy_decision(
        connection,
        ledger["workspace"],
        ledger["lead"],
        kind="followup",
        reason_code="POLICY_PASSED",
        message_format=permit["message_format"],
        rule_trace=trace,
        created_at=AT,
    )
    assert (await engine.replay(ledger["workspace"], decision_id))["same"]


async def test_dispatch_and_claims_hold_leads_without_a_grant(connection, ledger):
    # Due now, for the plain claim (which reads the database's clock), and at AT.
    workspace_id = ledger["workspace"]
    due = await connection.fetchval("SELECT date_trunc('second', now()) - interval '1 minute'")
    await connection.execute("UPDATE lead SET next_followup_at = $1", due)
    granted = [ledger["lead"]]
    for n in range(2, 5):
        granted.append(await london_lead(connection, workspace_id, f"+4477009000{n}"))
    held = [await london_lead(connection, workspace_id, f"+4477009001{n}") for n in range(3)]
    await connection.execute("UPDATE lead SET next_followup_at = $1", due)
    events = {lead_id: await grant(connection, ledger, lead_id) for lead_id in granted}
    revoked, now = held[0], datetime.now(UTC)
    await grant(connection, ledger, revoked, captured_at=now - timedelta(days=3))
    await factories.consent_revocation(
        connection, workspace_id, revoked, captured_at=now - timedelta(days=2)
    )

    # The plain claim leases only the leads with a grant; the held ones stay due.
    claimed = await claim_due_followups(workspace_id, 10, 1)
    assert sorted(row["id"] for row in claimed) == sorted(granted)
    await connection.execute("UPDATE lead SET followup_lease_until = NULL")

    result = await engine.dispatch(workspace_id, limit=10, lease_seconds=60, at=AT)
    assert sorted(p["lead_id"] for p in result.permits) == sorted(granted)
    # Leads in one state share a verdict, but each permit cites its own grant.
    for permit in result.permits:
        cited = (await consent_outcome(permit["rule_trace"]))["detail"]
        assert f"event #{events[permit['lead_id']]}," in cited
    stored = await connection.fetch(
        "SELECT lead_id, rule_trace FROM policy_decision ORDER BY lead_id"
    )
    for row in stored:
        trace = json.loads(row["rule_trace"])
        assert trace["inputs"]["marketing_consent"]["event_id"] == events[row["lead_id"]]
        assert f"event #{events[row['lead_id']]}," in (await consent_outcome(trace))["detail"]
    for lead_id in held:
        assert (await lead_row(connection, lead_id))["next_followup_at"] == due

    # A grant recorded later frees a held lead at the next dispatch.
    await grant(connection, ledger, held[1])
    later = await engine.dispatch(workspace_id, limit=10, lease_seconds=60, at=AT)
    assert [p["lead_id"] for p in later.permits] == [held[1]]
    for row in await connection.fetch("SELECT id, workspace_id FROM policy_decision"):
        assert (await engine.replay(row["workspace_id"], row["id"]))["same"]


async def test_a_workspace_not_requiring_consent_dispatches_without_events(connection, ledger):
    await connection.execute("UPDATE workspace SET consent_required = false")
    await connection.execute("UPDATE lead SET next_followup_at = $1", AT - timedelta(minutes=1))
    result = await engine.dispatch(ledger["workspace"], limit=10, lease_seconds=60, at=AT)
    assert [p["lead_id"] for p in result.permits] == [ledger["lead"]]


# --- the race: a revocation and twenty permits ---------------------------------------------

PERMITS = 20
WAITING_FOR_THE_LEAD = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    # engine.LOCK_LEAD: behind the lead's row, or the workspace's messaging-limit lock
    # that comes before it (held by a permit that waits for the row).
    "AND wait_event_type = 'Lock' AND query LIKE '%FROM lead l JOIN workspace w%FOR UPDATE OF l%'"
)


async def waiting_permits(connection: asyncpg.Connection, expected: int) -> int:
    """How many permits wait for the lead's lock, once ``expected`` do (or 10 s pass)."""
    waiting = 0
    for _ in range(200):
        waiting = await connection.fetchval(WAITING_FOR_THE_LEAD)
        if waiting >= expected:
            break
        await asyncio.sleep(0.05)
    return waiting


@pytest.mark.contenders(PERMITS + 1)  # the permits and the revocation
async def test_no_permit_is_issued_after_a_revocation_commits(connection, ledger):
    """The revocation's transaction holds the lead (FOR KEY SHARE, from its foreign key
    and consent.py) while twenty permits ask at once: each must wait for the lead
    (FOR UPDATE), so every one decides after the commit and is refused."""
    workspace_id, lead_id = ledger["workspace"], ledger["lead"]
    await grant(connection, ledger, captured_at=datetime.now(UTC) - timedelta(days=1))
    inserted, release = asyncio.Event(), asyncio.Event()

    async def revoke() -> dict:
        async with transaction():
            event = await consent.record_event(
                workspace_id,
                lead_id,
                ConsentAction.REVOKE,
                ConsentPurpose.MARKETING,
                datetime.now(UTC),
            )
            inserted.set()
            await release.wait()
        return event

    revocation = asyncio.create_task(revoke())
    await inserted.wait()
    permits = [
        asyncio.create_task(engine.request_permit(workspace_id, lead_id, SendKind.FOLLOWUP))
        for _ in range(PERMITS)
    ]
    try:
        # Every permit is blocked behind the uncommitted revocation, none has decided.
        assert await waiting_permits(connection, PERMITS) == PERMITS
        assert await connection.fetchval("SELECT count(*) FROM policy_decision") == 0
    finally:
        release.set()
        event = await revocation
        decisions = await asyncio.gather(*permits)
    assert [d["reason_code"] for d in decisions] == [ReasonCode.CONSENT_MISSING] * PERMITS
    assert not any(d["allow_send"] for d in decisions)
    for decision in decisions:
        assert decision["created_at"] > event["recorded_at"]
        assert decision["rule_trace"]["inputs"]["marketing_consent"]["event_id"] == event["id"]
    assert await connection.fetchval("SELECT count(*) FROM policy_decision WHERE allow_send") == 0


# --- the migration's default -------------------------------------------------------------

BEFORE_THE_LEDGER = "2026-12-01T14:56:00:000000"
THE_LEDGER = "2026-12-01T21:01:00:000000"


async def test_existing_workspaces_with_leads_keep_consent_off(scratch_database):
    for app_name in ("user", "session_auth"):
        piccolo(scratch_database, "migrations", "forwards", app_name)
    piccolo(
        scratch_database,
        "migrations",
        "forwards",
        "masterplan",
        f"--migration_id={BEFORE_THE_LEDGER}",
    )
    connection = await asyncpg.connect(scratch_database)
    try:
        prototype = await connection.fetchval(
            "INSERT INTO workspace (name) VALUES ('Prototype') RETURNING id"
        )
        await connection.execute(
            "INSERT INTO lead (workspace_id, external_id) VALUES ($1, '+447700900001')", prototype
        )
        empty = await connection.fetchval(
            "INSERT INTO workspace (name) VALUES ('Empty') RETURNING id"
        )
        piccolo(scratch_database, "migrations", "forwards", "all")
        required = dict(await connection.fetch("SELECT id, consent_required FROM workspace"))
        assert required == {prototype: False, empty: True}
        created = await connection.fetchval(
            "INSERT INTO workspace (name) VALUES ('New') RETURNING consent_required"
        )
        assert created is True
    finally:
        await connection.close()


async def test_going_back_is_refused_while_consent_missing_decisions_exist(
    migrated_scratch_database,
):
    connection = await asyncpg.connect(migrated_scratch_database)
    try:
        workspace_id = await factories.workspace(connection, consent_required=True)
        lead_id = await factories.lead(connection, workspace_id)
        await factories.policy_decision(
            connection,
            workspace_id,
            lead_id,
            kind="followup",
            allow_send=False,
            reason_code="CONSENT_MISSING",
        )
        result = piccolo(
            migrated_scratch_database,
            "migrations",
            "backwards",
            "masterplan",
            f"--migration_id={THE_LEDGER}",
            "--auto_agree",
            check=False,
        )
        # Later migrations may go back first; the ledger's own refuses.
        assert f"{THE_LEDGER} [backwards]... ok" not in result.stdout
        assert "policy_decision_engine_reason_valid" in result.stdout + result.stderr
        ran = await connection.fetchval(
            "SELECT count(*) FROM migration WHERE name = $1", THE_LEDGER
        )
        assert ran == 1
        assert await connection.fetchval("SELECT reason_code FROM policy_decision") == (
            "CONSENT_MISSING"
        )
        assert await connection.fetchval("SELECT to_regclass('consent_event')") is not None
    finally:
        await connection.close()
