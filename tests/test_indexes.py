"""The application's own statements (imported, not copied) are served by indexes,
at a volume where the planner would rather scan without them."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from app import conversations, leads
from app.admin import overview
from app.db.executor import positional
from app.pagination import NEWEST
from app.policy import attestations, decisions, engine
from app.whatsapp import failures

LEADS = 50_000
WORKSPACES = 50
IDLE_WORKSPACES = 1_000
THREADS = 5_000
MESSAGES_PER_THREAD = 10
DECISIONS = 50_000
# One worker runs the whole module under pytest-xdist: the filled database is built once.
pytestmark = pytest.mark.xdist_group("test_indexes")
ATTESTATIONS = 5_000


@pytest.fixture(scope="module")
def planned_database(database_server) -> Iterator[str]:
    """A migrated database of this module's own, filled once (the tests only EXPLAIN)."""
    name = database_server.scratch_name()
    url = database_server.create_from_template(name)
    asyncio.run(fill(url))
    yield url
    database_server.drop(name)


@pytest.fixture
async def many_leads(planned_database) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(planned_database)
    yield connection
    await connection.close()


async def fill(url: str) -> None:
    """Rows at a volume where the planner prefers an index to a scan when one fits;
    written as history (no triggers), then analysed."""
    connection = await asyncpg.connect(url)
    await connection.execute("SET session_replication_role = replica")
    await connection.execute(
        "INSERT INTO workspace (name) SELECT 'Workspace ' || n FROM generate_series(1, $1) n",
        WORKSPACES,
    )
    await connection.execute(
        """
        INSERT INTO lead (workspace_id, external_id, stage, next_followup_at, tags)
        SELECT 1 + n % $2, '+1555' || lpad(n::text, 7, '0'),
               (ARRAY['NEW', 'CONTACTED', 'ENGAGED', 'QUALIFIED', 'CLOSED_LOST'])[1 + n % 5],
               now() + ((n % 1000) - 500) * interval '1 hour',
               CASE WHEN n % 500 = 0 THEN '["INTENT_PURCHASE"]'::jsonb ELSE '[]'::jsonb END
        FROM generate_series(1, $1) n
        """,
        LEADS,
        WORKSPACES,
    )
    await connection.execute(
        "INSERT INTO conversation_thread (workspace_id, lead_id) "
        "SELECT workspace_id, id FROM lead ORDER BY id LIMIT $1",
        THREADS,
    )
    await connection.execute(
        "INSERT INTO chat_message (thread_id, role, content, created_at) "
        "SELECT thread.id, 'user', 'hello', now() - n * interval '1 minute' "
        "FROM conversation_thread AS thread, generate_series(1, $1) n",
        MESSAGES_PER_THREAD,
    )
    await connection.execute(
        "INSERT INTO policy_decision (workspace_id, lead_id, allow_send, reason_code, created_at) "
        "SELECT workspace_id, id, false, 'QUIET_HOURS', now() - (id % 720) * interval '1 hour' "
        "FROM lead ORDER BY id LIMIT $1",
        DECISIONS,
    )
    # The channel: a template follow-up permit per decision in ten (no more decisions),
    # a failed delivery per message in a thousand, an unreachable lead per two hundred.
    await connection.execute(
        "UPDATE policy_decision SET allow_send = true, reason_code = 'POLICY_PASSED', "
        "kind = 'followup', message_format = 'template' WHERE id % 10 = 0"
    )
    await connection.execute(
        "UPDATE chat_message SET delivery_status = 'failed', delivery_status_at = created_at, "
        "delivery_error_code = (ARRAY[131026, 131049, 130429])[1 + id % 3] WHERE id % 1000 = 0"
    )
    await connection.execute(
        "UPDATE lead SET unreachable_since = now() - interval '1 day' WHERE id % 200 = 0"
    )
    await connection.execute(
        'INSERT INTO outreach_attestation (workspace_id, operator_id, "timestamp") '
        "SELECT 1 + n % $2, 'ops@example.com', now() - n * interval '1 minute' "
        "FROM generate_series(1, $1) n",
        ATTESTATIONS,
        WORKSPACES,
    )
    # Tenants without leads yet, as a server holds: the workspace table is more than a
    # page, as it is in use (the claim and the inputs read a workspace by its key).
    await connection.execute(
        "INSERT INTO workspace (name) SELECT 'Idle ' || n FROM generate_series(1, $1) n",
        IDLE_WORKSPACES,
    )
    # A wording per workspace (numbered and hashed here, as triggers are off) and a
    # marketing grant for nine leads in ten, the tenth revoked.
    await connection.execute(
        "INSERT INTO consent_wording (workspace_id, version, business_name, text, sha256) "
        "SELECT id, 1, name, 'Yes, ' || name || ' may write to me.', repeat('0', 64) "
        "FROM workspace"
    )
    await connection.execute(
        "INSERT INTO consent_event (workspace_id, lead_id, action, purpose, wording_id, "
        "method, captured_at) "
        "SELECT l.workspace_id, l.id, 'grant', 'marketing', w.id, 'import', "
        "now() - interval '2 days' FROM lead AS l JOIN consent_wording AS w USING (workspace_id)"
    )
    await connection.execute(
        "INSERT INTO consent_event (workspace_id, lead_id, action, purpose, captured_at) "
        "SELECT workspace_id, id, 'revoke', 'marketing', now() - interval '1 day' "
        "FROM lead WHERE id % 10 = 0"
    )
    await connection.execute("RESET session_replication_role")
    await connection.execute("ANALYZE")
    await connection.close()


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
    """The plan of an application statement (Piccolo's ``{}`` placeholders)."""
    raw = await connection.fetchval(f"EXPLAIN (FORMAT JSON) {positional(query)}", *arguments)
    return json.loads(raw)[0]["Plan"]


def assert_reads(plan: dict, *indexes: str) -> None:
    """The plan reads one of ``indexes`` and scans no table whole."""
    assert index_names(plan) & set(indexes), plan
    assert "Seq Scan" not in node_types(plan), plan


async def test_the_fixture_really_holds_its_rows(many_leads):
    counts = await many_leads.fetchrow(
        "SELECT (SELECT count(*) FROM lead) AS leads, (SELECT count(*) FROM chat_message) "
        "AS messages, (SELECT count(*) FROM policy_decision) AS decisions"
    )
    assert tuple(counts) == (LEADS, THREADS * MESSAGES_PER_THREAD, DECISIONS)


async def test_the_due_claim_reads_the_workspace_followup_index_and_locks_rows(many_leads):
    plan = await explain(many_leads, leads.CLAIM_DUE, None, 7, 10, 60)
    assert_reads(plan, "lead_workspace_next_followup")
    assert "LockRows" in node_types(plan), plan  # FOR UPDATE ... SKIP LOCKED


async def test_the_policy_inputs_read_each_leads_consent_in_one_index_lookup(many_leads):
    """The loading statement of a dispatch batch: the latest marketing event of each
    lead is one lookup on consent_event_lead_latest (a LATERAL ... LIMIT 1)."""
    batch = [row["id"] for row in await many_leads.fetch(
        "SELECT id FROM lead WHERE workspace_id = 7 ORDER BY id LIMIT 500"
    )]  # fmt: skip
    plan = await explain(many_leads, engine.LOAD_INPUTS, None, 7, batch)
    assert {"consent_event_lead_latest", "consent_wording_pkey"} <= index_names(plan), plan
    assert not scanned_whole(plan) & {"lead", "consent_event", "consent_wording"}, plan


def scanned_whole(plan: dict) -> set[str]:
    """The tables a JSON plan reads whole."""
    found = {plan["Relation Name"]} if plan["Node Type"] == "Seq Scan" else set()
    for child in plan.get("Plans", []):
        found |= scanned_whole(child)
    return found


async def test_a_lead_by_external_id_reads_the_unique_index(many_leads):
    plan = await explain(many_leads, leads.LEAD_BY_EXTERNAL_ID, 7, "+15550000007")
    assert_reads(plan, "lead_workspace_external_id_key", "lead_external_id")


@pytest.mark.parametrize(
    ("stage", "tags", "after_id"),
    [
        (None, None, None),
        ("CONTACTED", None, None),
        (None, None, 25_000),
        (None, ["INTENT_PURCHASE"], None),
    ],
)
async def test_a_lead_list_page_reads_an_index(many_leads, stage, tags, after_id):
    sql, arguments = leads.lead_list_query(7, stage, tags, None, after_id, 50)
    plan = await explain(many_leads, sql, *arguments)
    assert "Seq Scan" not in node_types(plan), plan
    assert index_names(plan), plan


async def test_a_message_history_page_reads_the_thread_index(many_leads):
    thread = await many_leads.fetchrow("SELECT id, workspace_id FROM conversation_thread LIMIT 1")
    stamp, message_id = NEWEST
    plan = await explain(
        many_leads,
        conversations.MESSAGE_PAGE,
        thread["id"],
        thread["workspace_id"],
        stamp,
        message_id,
        50,
    )
    assert_reads(plan, "chat_message_thread_created")


async def test_the_overviews_channel_figures_read_their_indexes(many_leads):
    now = datetime.now(UTC)
    week_ago = now - timedelta(days=7)
    sends = await explain(many_leads, overview.TEMPLATE_SENDS_PER_DAY, "UTC", 7, week_ago)
    recipients = await explain(many_leads, overview.TEMPLATE_RECIPIENTS_24H, 7, now, now)
    for plan in (sends, recipients):
        assert_reads(plan, "policy_decision_template_permits")
    unreachable = await explain(many_leads, overview.UNREACHABLE, 7)
    assert_reads(unreachable, "lead_unreachable")


@pytest.mark.parametrize("lead_id", [None, 7])
async def test_a_decision_page_reads_a_created_at_index(many_leads, lead_id):
    sql, arguments = decisions.decision_page_query(8, lead_id, None, None, 50)
    plan = await explain(many_leads, sql, *arguments)
    assert_reads(plan, "policy_decision_workspace_created", "policy_decision_lead_created")


async def test_an_attestation_page_reads_the_workspace_timestamp_index(many_leads):
    stamp, attestation_id = NEWEST
    plan = await explain(many_leads, attestations.ATTESTATION_PAGE, 7, stamp, attestation_id, 50)
    assert_reads(plan, "outreach_attestation_workspace_timestamp")


async def test_a_workspaces_failure_counts_read_the_failed_messages_index(many_leads):
    now = datetime.now(UTC)
    plan = await explain(many_leads, failures.FAILURE_COUNTS, now - timedelta(days=7), now, 7)
    assert_reads(plan, "chat_message_failed_deliveries")


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
