"""The database itself enforces the M1 rules: a violating write is refused and
changes nothing, whoever sends it (here: raw SQL, as psql would)."""

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import asyncpg
import pytest

from app.enums import (
    BudgetTier,
    ChatRole,
    FollowUpPreset,
    LeadStage,
    LeadTag,
    StrategyStatus,
)
from tests import factories

# The spec's columns: (database type, nullable). Written from the M1 document,
# not from app/tables.py, so a drifting model fails here. Two columns beyond the
# spec serve the operator actions and are marked as such.
SPEC_COLUMNS: dict[str, dict[str, tuple[str, bool]]] = {
    "workspace": {
        "id": ("integer", False),
        "name": ("character varying", False),
        "timezone": ("character varying", False),
        "budget_tier": ("character varying", False),
        "created_at": ("timestamp with time zone", False),
        # Beyond the spec: the send policy (app/policy/workspace_policy.py).
        "send_window_start": ("time without time zone", False),
        "send_window_end": ("time without time zone", False),
        "send_days": ("jsonb", False),
        "blocked_dates": ("jsonb", False),
        "policy_version": ("integer", False),
        # Beyond the spec: the whole messages that opt a lead out (WhatsApp inbound).
        "opt_out_words": ("jsonb", False),
        # Beyond the spec: public holidays (app/policy/public_holidays.py).
        "holiday_calendars": ("jsonb", False),
        "lead_country_holidays": ("boolean", False),
        # Beyond the spec: the consent ledger (rule CONSENT_MISSING, opt-in words).
        "consent_required": ("boolean", False),
        "opt_in_words": ("jsonb", False),
        # Beyond the spec: WhatsApp's messaging limit (rule MESSAGING_LIMIT).
        "messaging_tier": ("character varying", False),
    },
    "strategy_version": {
        "id": ("integer", False),
        "workspace_id": ("integer", False),
        "version_number": ("integer", False),
        "status": ("character varying", False),
        "tone": ("text", False),
        "objectives": ("text", False),
        "objection_handling": ("text", False),
        "cta_rules": ("text", False),
        "followup_preset": ("character varying", False),
        "interval_overrides": ("jsonb", True),
        "created_at": ("timestamp with time zone", False),
        "activated_at": ("timestamp with time zone", True),
        # Beyond the spec: where a rollback returns to.
        "previous_active_version_id": ("integer", True),
    },
    "lead": {
        "id": ("integer", False),
        "workspace_id": ("integer", False),
        "external_id": ("character varying", False),
        "name": ("character varying", True),
        "stage": ("character varying", False),
        "tags": ("jsonb", False),
        "timezone": ("character varying", True),
        "last_followup_at": ("timestamp with time zone", True),
        "next_followup_at": ("timestamp with time zone", True),
        "last_followup_review_at": ("timestamp with time zone", True),
        "created_at": ("timestamp with time zone", False),
        # Beyond the spec: the stage a released takeover returns to, and the
        # lease of a worker that claimed the due follow-up.
        "stage_before_takeover": ("character varying", True),
        "followup_lease_until": ("timestamp with time zone", True),
        # When the lead last wrote (kept by the database).
        "last_inbound_at": ("timestamp with time zone", True),
        "platform_user_id": ("character varying", True),
        "marketing_stopped_at": ("timestamp with time zone", True),
        # What WhatsApp's failed deliveries taught (131026, 131049).
        "unreachable_since": ("timestamp with time zone", True),
        "marketing_limited_until": ("timestamp with time zone", True),
    },
    "conversation_thread": {
        "id": ("integer", False),
        "workspace_id": ("integer", False),
        "lead_id": ("integer", False),
        "status": ("character varying", False),
        "created_at": ("timestamp with time zone", False),
    },
    "chat_message": {
        "id": ("integer", False),
        "thread_id": ("integer", False),
        "role": ("character varying", False),
        "content": ("text", False),
        "tool_calls": ("jsonb", True),
        "created_at": ("timestamp with time zone", False),
        # Beyond the spec: the send permit a model message was sent under.
        "permit_id": ("integer", True),
        # Beyond the spec: the messaging platform's id, payload and delivery report.
        "platform_message_id": ("character varying", True),
        "platform_payload": ("jsonb", True),
        "delivery_status": ("character varying", True),
        "delivery_status_at": ("timestamp with time zone", True),
        "delivery_error_code": ("integer", True),
        "delivery_error_title": ("character varying", True),
    },
    "policy_decision": {
        "id": ("integer", False),
        "workspace_id": ("integer", False),
        "lead_id": ("integer", False),
        "allow_send": ("boolean", False),
        "reason_code": ("character varying", False),
        "rule_trace": ("jsonb", False),
        "next_allowed_at": ("timestamp with time zone", True),
        "created_at": ("timestamp with time zone", False),
        # Beyond the spec: set by the policy engine.
        "kind": ("character varying", True),
        "message_format": ("character varying", True),
        "summary": ("text", False),
    },
    "outreach_attestation": {
        "id": ("integer", False),
        "workspace_id": ("integer", False),
        "operator_id": ("character varying", False),
        "timestamp": ("timestamp with time zone", False),
        "granted": ("boolean", False),
    },
}


@pytest.mark.parametrize("table", sorted(SPEC_COLUMNS))
async def test_columns_have_the_spec_names_types_and_nullability(connection, table):
    rows = await connection.fetch(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = $1",
        table,
    )
    actual = {r["column_name"]: (r["data_type"], r["is_nullable"] == "YES") for r in rows}
    assert actual == SPEC_COLUMNS[table]


# --- defaults --------------------------------------------------------------


async def test_workspace_defaults_are_utc_green_and_now(connection):
    before = datetime.now(UTC)
    workspace_id = await factories.workspace(connection)
    row = await connection.fetchrow("SELECT * FROM workspace WHERE id = $1", workspace_id)
    assert row["timezone"] == "UTC"
    assert row["budget_tier"] == BudgetTier.GREEN
    assert row["created_at"].tzinfo is not None
    assert before - timedelta(seconds=5) <= row["created_at"] <= datetime.now(UTC)


async def test_lead_strategy_thread_and_attestation_defaults(connection):
    workspace_id = await factories.workspace(connection)
    lead_id = await factories.lead(connection, workspace_id)
    lead = await connection.fetchrow("SELECT stage, tags::text FROM lead WHERE id = $1", lead_id)
    assert (lead["stage"], lead["tags"]) == (LeadStage.NEW, "[]")

    version_id = await factories.strategy_version(connection, workspace_id)
    version = await connection.fetchrow(
        "SELECT status, interval_overrides, activated_at FROM strategy_version WHERE id = $1",
        version_id,
    )
    assert tuple(version) == (StrategyStatus.DRAFT, None, None)

    thread_id = await factories.thread(connection, workspace_id, lead_id)
    status = await connection.fetchval(
        "SELECT status FROM conversation_thread WHERE id = $1", thread_id
    )
    assert status == "active"

    attestation_id = await factories.attestation(connection, workspace_id)
    granted = await connection.fetchval(
        "SELECT granted FROM outreach_attestation WHERE id = $1", attestation_id
    )
    assert granted is True


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("workspace", "name"),
        ("lead", "external_id"),
        ("strategy_version", "version_number"),
        ("strategy_version", "followup_preset"),
        ("chat_message", "role"),
        ("policy_decision", "allow_send"),
        ("policy_decision", "reason_code"),
        ("outreach_attestation", "operator_id"),
    ],
)
async def test_columns_without_a_spec_default_must_be_given(connection, table, column):
    default = await connection.fetchval(
        "SELECT column_default FROM information_schema.columns "
        "WHERE table_name = $1 AND column_name = $2",
        table,
        column,
    )
    # "DEFAULT NULL" on a NOT NULL column: omitting the value is refused.
    assert default is None or default.upper().startswith("NULL")


# --- enum columns ------------------------------------------------------------


async def _row_builder(connection: asyncpg.Connection, table: str):
    """A function that inserts one otherwise-valid row of ``table``."""
    workspace_id = await factories.workspace(connection)
    lead_id = await factories.lead(connection, workspace_id)
    thread_id = await factories.thread(connection, workspace_id, lead_id)
    versions = iter(range(1, 1000))
    builders = {
        "workspace": lambda **v: factories.workspace(connection, **v),
        "lead": lambda **v: factories.lead(connection, workspace_id, f"lead-{next(versions)}", **v),
        "strategy_version": lambda **v: factories.strategy_version(
            connection, workspace_id, next(versions), **v
        ),
        "chat_message": lambda **v: message(**v),
    }

    async def message(**values):
        if values.get("role") == "model":  # sent under a permit of the thread's lead
            values["permit_id"] = await factories.permit(connection, workspace_id, lead_id)
        return await factories.chat_message(connection, thread_id, **values)

    return builders[table]


ENUM_COLUMNS: list[tuple[str, str, type[StrEnum]]] = [
    ("workspace", "budget_tier", BudgetTier),
    ("lead", "stage", LeadStage),
    ("strategy_version", "status", StrategyStatus),
    ("strategy_version", "followup_preset", FollowUpPreset),
    ("chat_message", "role", ChatRole),
]


def _extra_values(column: str, value: str) -> dict:
    # An ACTIVE strategy version needs activated_at, a lead taken over remembers
    # its stage (both tested separately).
    if column == "status" and value == StrategyStatus.ACTIVE:
        return {"activated_at": datetime.now(UTC)}
    if column == "stage" and value == LeadStage.TAKE_OVER:
        return {"stage_before_takeover": LeadStage.ENGAGED.value}
    return {}


@pytest.mark.parametrize(("table", "column", "enum"), ENUM_COLUMNS)
async def test_enum_column_accepts_every_member(connection, table, column, enum):
    insert_row = await _row_builder(connection, table)
    for member in enum:
        row_id = await insert_row(**{column: member.value}, **_extra_values(column, member))
        stored = await connection.fetchval(f"SELECT {column} FROM {table} WHERE id = $1", row_id)
        assert stored == member.value


@pytest.mark.parametrize(("table", "column", "enum"), ENUM_COLUMNS)
@pytest.mark.parametrize("bad_value", ["BOGUS", "", "lowercase-of-first"])
async def test_enum_column_refuses_other_values(connection, table, column, enum, bad_value):
    insert_row = await _row_builder(connection, table)
    if bad_value == "lowercase-of-first":
        first = next(iter(enum)).value
        bad_value = first.swapcase()
    before = await factories.table_snapshot(connection, table)
    with pytest.raises(asyncpg.CheckViolationError, match=f"{table}_{column}_valid"):
        await insert_row(**{column: bad_value})
    assert await factories.table_snapshot(connection, table) == before


# --- JSON shapes -------------------------------------------------------------


@pytest.mark.parametrize(
    "tags",
    [
        ["NEUTRAL", "UNKNOWN"],
        ["neutral"],
        [["NEUTRAL"]],
        [1],
        {"tag": "NEUTRAL"},
        "NEUTRAL",
    ],
)
async def test_lead_tags_must_be_an_array_of_lead_tags(connection, tags):
    workspace_id = await factories.workspace(connection)
    with pytest.raises(asyncpg.CheckViolationError, match="lead_tags_valid"):
        await connection.execute(
            "INSERT INTO lead (workspace_id, external_id, tags) VALUES ($1, 'x', $2::jsonb)",
            workspace_id,
            json.dumps(tags),
        )
    assert await connection.fetchval("SELECT count(*) FROM lead") == 0


async def test_lead_tags_accept_any_combination_of_lead_tags(connection):
    workspace_id = await factories.workspace(connection)
    all_tags = [tag.value for tag in LeadTag]
    lead_id = await factories.lead(connection, workspace_id, tags=all_tags)
    stored = await connection.fetchval("SELECT tags FROM lead WHERE id = $1", lead_id)
    assert json.loads(stored) == all_tags


async def test_lead_tags_cannot_be_sql_null_or_json_null(connection):
    workspace_id = await factories.workspace(connection)
    with pytest.raises(asyncpg.NotNullViolationError):
        await connection.execute(
            "INSERT INTO lead (workspace_id, external_id, tags) VALUES ($1, 'x', NULL)",
            workspace_id,
        )
    with pytest.raises(asyncpg.CheckViolationError, match="lead_tags_valid"):
        await connection.execute(
            "INSERT INTO lead (workspace_id, external_id, tags) VALUES ($1, 'x', 'null')",
            workspace_id,
        )
    assert await factories.table_snapshot(connection, "lead") == []


JSON_SHAPES = [
    # table, column, accepted, refused, constraint
    (
        "strategy_version",
        "interval_overrides",
        [None, {}, {"CONTACTED": 24}],
        [[], "24", 24],
        "strategy_version_interval_overrides_object",
    ),
    (
        "chat_message",
        "tool_calls",
        [None, [], [{"name": "f"}]],
        [{}, "x"],
        "chat_message_tool_calls_array",
    ),
]


@pytest.mark.parametrize(("table", "column", "accepted", "refused", "constraint"), JSON_SHAPES)
async def test_json_columns_hold_their_documented_shape(
    connection, table, column, accepted, refused, constraint
):
    insert_row = await _row_builder(connection, table)
    for value in accepted:
        row_id = await insert_row(**{column: value} if value is not None else {})
        stored = await connection.fetchval(f"SELECT {column} FROM {table} WHERE id = $1", row_id)
        assert (None if stored is None else json.loads(stored)) == value
    before = await factories.table_snapshot(connection, table)
    for value in refused:
        with pytest.raises(asyncpg.CheckViolationError, match=constraint):
            await connection.execute(
                f"UPDATE {table} SET {column} = $1::jsonb WHERE id = $2",
                json.dumps(value),
                before[-1]["id"],
            )
    assert await factories.table_snapshot(connection, table) == before


@pytest.mark.parametrize("rule_trace", [[], "x", None])
async def test_policy_decision_rule_trace_is_a_json_object(connection, rule_trace):
    workspace_id = await factories.workspace(connection)
    lead_id = await factories.lead(connection, workspace_id)
    with pytest.raises(asyncpg.CheckViolationError, match="policy_decision_rule_trace_object"):
        await connection.execute(
            "INSERT INTO policy_decision (workspace_id, lead_id, allow_send, reason_code, "
            "rule_trace) VALUES ($1, $2, true, 'R', $3::jsonb)",
            workspace_id,
            lead_id,
            json.dumps(rule_trace),
        )
    assert await connection.fetchval("SELECT count(*) FROM policy_decision") == 0


# --- uniqueness and strategy versions ----------------------------------------


async def test_external_id_is_unique_within_a_workspace_only(connection):
    acme = await factories.workspace(connection, "Acme")
    globex = await factories.workspace(connection, "Globex")
    await factories.lead(connection, acme, "+15550001")
    await factories.lead(connection, globex, "+15550001")
    before = await factories.table_snapshot(connection, "lead")
    with pytest.raises(asyncpg.UniqueViolationError, match="lead_workspace_external_id_key"):
        await factories.lead(connection, acme, "+15550001")
    assert await factories.table_snapshot(connection, "lead") == before
    assert len(before) == 2


async def test_version_numbers_are_unique_per_workspace_and_positive(connection):
    acme = await factories.workspace(connection, "Acme")
    globex = await factories.workspace(connection, "Globex")
    await factories.strategy_version(connection, acme, 1)
    await factories.strategy_version(connection, globex, 1)
    before = await factories.table_snapshot(connection, "strategy_version")
    with pytest.raises(
        asyncpg.UniqueViolationError, match="strategy_version_workspace_version_key"
    ):
        await factories.strategy_version(connection, acme, 1)
    for bad_number in (0, -3):
        with pytest.raises(asyncpg.CheckViolationError, match="strategy_version_number_positive"):
            await factories.strategy_version(connection, acme, bad_number)
    assert await factories.table_snapshot(connection, "strategy_version") == before


async def test_at_most_one_active_strategy_version_per_workspace(connection):
    now = datetime.now(UTC)
    acme = await factories.workspace(connection, "Acme")
    globex = await factories.workspace(connection, "Globex")
    await factories.strategy_version(connection, acme, 1, status="ACTIVE", activated_at=now)
    await factories.strategy_version(connection, globex, 1, status="ACTIVE", activated_at=now)
    draft = await factories.strategy_version(connection, acme, 2)
    before = await factories.table_snapshot(connection, "strategy_version")
    with pytest.raises(asyncpg.UniqueViolationError, match="strategy_version_one_active"):
        await factories.strategy_version(connection, acme, 3, status="ACTIVE", activated_at=now)
    with pytest.raises(asyncpg.UniqueViolationError, match="strategy_version_one_active"):
        await connection.execute(
            "UPDATE strategy_version SET status = 'ACTIVE', activated_at = now() WHERE id = $1",
            draft,
        )
    assert await factories.table_snapshot(connection, "strategy_version") == before


async def test_an_active_strategy_version_has_activated_at(connection):
    acme = await factories.workspace(connection)
    draft = await factories.strategy_version(connection, acme, 1)
    with pytest.raises(
        asyncpg.CheckViolationError, match="strategy_version_active_has_activated_at"
    ):
        await connection.execute(
            "UPDATE strategy_version SET status = 'ACTIVE' WHERE id = $1", draft
        )
    status = await connection.fetchval("SELECT status FROM strategy_version WHERE id = $1", draft)
    assert status == "DRAFT"


@pytest.mark.parametrize(
    ("table", "column", "constraint"),
    [
        ("workspace", "name", "workspace_name_not_blank"),
        ("workspace", "timezone", "workspace_timezone_not_blank"),
        ("lead", "external_id", "lead_external_id_not_blank"),
    ],
)
async def test_identifying_text_cannot_be_blank(connection, table, column, constraint):
    workspace_id = await factories.workspace(connection)
    row_id = (
        workspace_id if table == "workspace" else await factories.lead(connection, workspace_id)
    )
    before = await factories.table_snapshot(connection, table)
    with pytest.raises(asyncpg.CheckViolationError, match=constraint):
        await connection.execute(f"UPDATE {table} SET {column} = '  ' WHERE id = $1", row_id)
    assert await factories.table_snapshot(connection, table) == before


# --- tenant consistency ------------------------------------------------------


async def test_a_thread_cannot_join_a_lead_of_another_workspace(connection):
    acme = await factories.workspace(connection, "Acme")
    globex = await factories.workspace(connection, "Globex")
    globex_lead = await factories.lead(connection, globex)
    with pytest.raises(
        asyncpg.ForeignKeyViolationError, match="conversation_thread_lead_tenant_fkey"
    ):
        await factories.thread(connection, acme, globex_lead)
    assert await connection.fetchval("SELECT count(*) FROM conversation_thread") == 0


async def test_a_thread_cannot_be_moved_to_another_workspace(connection):
    acme = await factories.workspace(connection, "Acme")
    globex = await factories.workspace(connection, "Globex")
    lead_id = await factories.lead(connection, acme)
    thread_id = await factories.thread(connection, acme, lead_id)
    with pytest.raises(
        asyncpg.ForeignKeyViolationError, match="conversation_thread_lead_tenant_fkey"
    ):
        await connection.execute(
            "UPDATE conversation_thread SET workspace_id = $1 WHERE id = $2",
            globex,
            thread_id,
        )
    owner = await connection.fetchval(
        "SELECT workspace_id FROM conversation_thread WHERE id = $1", thread_id
    )
    assert owner == acme


async def test_a_policy_decision_cannot_join_a_lead_of_another_workspace(connection):
    acme = await factories.workspace(connection, "Acme")
    globex = await factories.workspace(connection, "Globex")
    globex_lead = await factories.lead(connection, globex)
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="policy_decision_lead_tenant_fkey"):
        await factories.policy_decision(connection, acme, globex_lead)
    assert await connection.fetchval("SELECT count(*) FROM policy_decision") == 0


async def test_a_lead_with_decisions_cannot_move_to_another_workspace(connection):
    acme = await factories.workspace(connection, "Acme")
    globex = await factories.workspace(connection, "Globex")
    lead_id = await factories.lead(connection, acme)
    await factories.policy_decision(connection, acme, lead_id)
    # PostgreSQL 15 reports a RESTRICT foreign key as 23503, newer releases as 23001.
    refused = (asyncpg.RestrictViolationError, asyncpg.ForeignKeyViolationError)
    with pytest.raises(refused, match="policy_decision_lead_tenant_fkey"):
        await connection.execute("UPDATE lead SET workspace_id = $1 WHERE id = $2", globex, lead_id)
    assert await connection.fetchval("SELECT workspace_id FROM lead WHERE id = $1", lead_id) == acme


# --- append-only audit trail ---------------------------------------------------


async def _audit_rows(connection):
    workspace_id = await factories.workspace(connection)
    lead_id = await factories.lead(connection, workspace_id)
    decision_id = await factories.policy_decision(connection, workspace_id, lead_id)
    attestation_id = await factories.attestation(connection, workspace_id)
    return (
        workspace_id,
        lead_id,
        {"policy_decision": decision_id, "outreach_attestation": attestation_id},
    )


@pytest.mark.parametrize("table", ["policy_decision", "outreach_attestation"])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {table} SET created_at = created_at WHERE id = $1",
        "UPDATE {table} SET workspace_id = workspace_id WHERE id = $1",
        "DELETE FROM {table} WHERE id = $1",
    ],
)
async def test_audit_rows_cannot_be_updated_or_deleted(connection, table, statement):
    if "created_at" in statement and table == "outreach_attestation":
        statement = statement.replace("created_at", "granted")
    _, _, ids = await _audit_rows(connection)
    before = await factories.table_snapshot(connection, table)
    with pytest.raises(asyncpg.RestrictViolationError, match=f"{table} is an append-only"):
        await connection.execute(statement.format(table=table), ids[table])
    assert await factories.table_snapshot(connection, table) == before


@pytest.mark.parametrize("table", ["policy_decision", "outreach_attestation"])
async def test_audit_tables_cannot_be_truncated(connection, table):
    await _audit_rows(connection)
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await connection.execute(f"TRUNCATE {table} CASCADE")
    assert await connection.fetchval(f"SELECT count(*) FROM {table}") == 1


async def test_a_workspace_with_audit_rows_cannot_be_deleted(connection):
    workspace_id, _, _ = await _audit_rows(connection)
    with pytest.raises(asyncpg.RestrictViolationError, match="audit records") as refused:
        await connection.execute("DELETE FROM workspace WHERE id = $1", workspace_id)
    assert f"workspace {workspace_id} cannot be deleted" in str(refused.value)
    assert await connection.fetchval("SELECT count(*) FROM workspace") == 1
    assert await connection.fetchval("SELECT count(*) FROM lead") == 1
    assert await connection.fetchval("SELECT count(*) FROM policy_decision") == 1


async def test_a_workspace_with_only_an_attestation_cannot_be_deleted(connection):
    workspace_id = await factories.workspace(connection)
    await factories.attestation(connection, workspace_id)
    with pytest.raises(asyncpg.RestrictViolationError, match="audit records"):
        await connection.execute("DELETE FROM workspace WHERE id = $1", workspace_id)
    assert await connection.fetchval("SELECT count(*) FROM outreach_attestation") == 1


async def test_a_lead_with_policy_decisions_cannot_be_deleted(connection):
    _, lead_id, _ = await _audit_rows(connection)
    with pytest.raises(asyncpg.RestrictViolationError, match=f"lead {lead_id} cannot be deleted"):
        await connection.execute("DELETE FROM lead WHERE id = $1", lead_id)
    assert await connection.fetchval("SELECT count(*) FROM lead") == 1


async def test_deleting_a_workspace_without_audit_rows_removes_what_it_owns(connection):
    workspace_id = await factories.workspace(connection)
    lead_id = await factories.lead(connection, workspace_id)
    thread_id = await factories.thread(connection, workspace_id, lead_id)
    await factories.chat_message(connection, thread_id)
    await factories.strategy_version(connection, workspace_id)
    survivor = await factories.workspace(connection, "Survivor")
    await factories.lead(connection, survivor)

    await connection.execute("DELETE FROM workspace WHERE id = $1", workspace_id)

    counts = await connection.fetchrow(
        "SELECT (SELECT count(*) FROM lead) AS leads, "
        "(SELECT count(*) FROM conversation_thread) AS threads, "
        "(SELECT count(*) FROM chat_message) AS messages, "
        "(SELECT count(*) FROM strategy_version) AS versions"
    )
    assert dict(counts) == {"leads": 1, "threads": 0, "messages": 0, "versions": 0}


class Probed(Exception):
    """Rolls a probe back."""


async def server_has_lz4(connection: asyncpg.Connection) -> bool:
    """Whether this server was built with LZ4, asked by creating a column that uses it."""
    try:
        async with connection.transaction():
            await connection.execute("CREATE TEMP TABLE lz4_probe (probe text COMPRESSION lz4)")
            raise Probed
    except Probed:
        return True
    except asyncpg.FeatureNotSupportedError:
        return False


async def test_rule_traces_are_compressed_with_lz4_where_the_server_has_it(connection):
    workspace_id = await factories.workspace(connection, "Acme")
    lead_id = await factories.lead(connection, workspace_id, "+15550001234")
    trace = {"rules": [{"rule": f"RULE_{n}", "detail": "x" * 40 + str(n)} for n in range(80)]}
    decision_id = await factories.policy_decision(
        connection, workspace_id, lead_id, rule_trace=json.dumps(trace)
    )
    stored_with = await connection.fetchval(
        "SELECT pg_column_compression(rule_trace) FROM policy_decision WHERE id = $1",
        decision_id,
    )
    assert stored_with == ("lz4" if await server_has_lz4(connection) else "pglz")
