"""The API layer's hot queries are served by indexes, at realistic volume."""

import json

import pytest

LEADS = 50_000
WORKSPACES = 50

DUE_FOLLOWUPS = (
    "SELECT id FROM lead WHERE workspace_id = $1 AND next_followup_at <= now() "
    "ORDER BY next_followup_at LIMIT 100"
)
BY_EXTERNAL_ID = "SELECT * FROM lead WHERE workspace_id = $1 AND external_id = $2"


@pytest.fixture
async def many_leads(connection):
    await connection.execute(
        "INSERT INTO workspace (name) SELECT 'Workspace ' || n FROM generate_series(1, $1) n",
        WORKSPACES,
    )
    await connection.execute(
        """
        INSERT INTO lead (workspace_id, external_id, next_followup_at, tags)
        SELECT 1 + n % $2, '+1555' || lpad(n::text, 7, '0'),
               now() + ((n % 1000) - 500) * interval '1 hour',
               CASE WHEN n % 500 = 0 THEN '["INTENT_PURCHASE"]'::jsonb ELSE '[]'::jsonb END
        FROM generate_series(1, $1) n
        """,
        LEADS,
        WORKSPACES,
    )
    await connection.execute("ANALYZE lead")
    return connection


def index_names(plan: dict) -> set[str]:
    """Every index a JSON plan reads."""
    found = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= index_names(child)
    return found


def node_types(plan: dict) -> set[str]:
    """Every node type in a JSON plan."""
    found = {plan["Node Type"]}
    for child in plan.get("Plans", []):
        found |= node_types(child)
    return found


async def explain(connection, query: str, *arguments) -> dict:
    raw = await connection.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *arguments)
    return json.loads(raw)[0]["Plan"]


async def test_the_fixture_really_holds_fifty_thousand_leads(many_leads):
    assert await many_leads.fetchval("SELECT count(*) FROM lead") == LEADS


async def test_due_followups_of_one_workspace_use_the_workspace_followup_index(many_leads):
    plan = await explain(many_leads, DUE_FOLLOWUPS, 7)
    assert "lead_workspace_next_followup" in index_names(plan), plan
    assert "Seq Scan" not in node_types(plan), plan


async def test_lookup_by_workspace_and_external_id_uses_an_index(many_leads):
    plan = await explain(many_leads, BY_EXTERNAL_ID, 7, "+15550000007")
    assert index_names(plan) & {"lead_workspace_external_id_key", "lead_external_id"}, plan
    assert "Seq Scan" not in node_types(plan), plan


async def test_lookup_by_external_id_alone_uses_its_index(many_leads):
    plan = await explain(many_leads, "SELECT id FROM lead WHERE external_id = $1", "+15550000007")
    assert index_names(plan) & {"lead_external_id"}, plan


async def test_tag_containment_uses_the_gin_index(many_leads):
    plan = await explain(
        many_leads, "SELECT count(*) FROM lead WHERE tags @> $1::jsonb", '["INTENT_PURCHASE"]'
    )
    assert "lead_tags" in index_names(plan), plan


@pytest.mark.parametrize(
    ("table", "columns", "index"),
    [
        ("chat_message", "(thread_id, created_at)", "chat_message_thread_created"),
        ("policy_decision", "(lead_id, created_at)", "policy_decision_lead_created"),
        ("policy_decision", "(workspace_id, created_at)", "policy_decision_workspace_created"),
        (
            "outreach_attestation",
            '(workspace_id, "timestamp")',
            "outreach_attestation_workspace_timestamp",
        ),
        ("conversation_thread", "(lead_id)", "conversation_thread_lead"),
    ],
)
async def test_query_indexes_exist_on_the_documented_columns(connection, table, columns, index):
    definition = await connection.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexname = $2", table, index
    )
    assert definition is not None, f"index {index} is missing"
    assert definition.endswith(f"USING btree {columns}")
