"""The admin at volume: searches served by the trigram indexes (checked on the SQL the
admin really sends), bounded counts, the lead picker's search."""

import json

import pytest

from app.admin.crud import (
    COUNT_KIND_HEADER,
    COUNT_LIMIT,
    has_trigram,
    like_pattern,
    matching_choices,
)
from app.tables import Lead
from tests import factories
from tests.test_indexes import index_names, node_types

LEADS = 30_000
RARE_STAGE_EVERY = 1_000
NAMES = ["Ana", "Rui", "Maria", "Joao", "Ines"]


def external_id_of(n: int) -> str:
    return f"+1555{n:07d}"


def name_of(n: int) -> str:
    return f"{NAMES[n % 5]} {n}"


def expected(column: str, value: str, match: str) -> list[str]:
    """The external ids a search should find, worked out in Python."""
    test = {
        "contains": lambda text: value.lower() in text.lower(),
        "starts": lambda text: text.lower().startswith(value.lower()),
        "ends": lambda text: text.lower().endswith(value.lower()),
        "exact": lambda text: text == value,
    }[match]
    read = external_id_of if column == "external_id" else name_of
    return sorted(external_id_of(n) for n in range(1, LEADS + 1) if test(read(n)))


@pytest.fixture
async def many_leads(connection):
    """30,000 leads over 30 workspaces; every 1,000th is OUTCOME_PURCHASE. Filled
    without triggers (this session only): the change log is not under test here."""
    await connection.execute("SET session_replication_role = replica")
    await connection.execute(
        "INSERT INTO workspace (name) SELECT 'Workspace ' || n FROM generate_series(1, 30) n"
    )
    await connection.execute(
        """
        INSERT INTO lead (workspace_id, external_id, name, stage)
        SELECT 1 + n % 30, '+1555' || lpad(n::text, 7, '0'),
               (ARRAY['Ana', 'Rui', 'Maria', 'Joao', 'Ines'])[1 + n % 5] || ' ' || n,
               CASE WHEN n % $2 = 0 THEN 'OUTCOME_PURCHASE' ELSE 'CONTACTED' END
        FROM generate_series(1, $1) n
        """,
        LEADS,
        RARE_STAGE_EVERY,
    )
    await connection.execute("RESET session_replication_role")
    await connection.execute("ANALYZE lead")
    return connection


@pytest.fixture
def sent_sql(monkeypatch) -> list[tuple[str, list]]:
    """Every statement the application sends through Piccolo's engine, as sent."""
    engine_class = type(Lead._meta.db)
    sent: list[tuple[str, list]] = []
    original = engine_class.run_querystring

    async def recording(engine, querystring, *args, **kwargs):
        sent.append(querystring.compile_string(engine_type="postgres"))
        return await original(engine, querystring, *args, **kwargs)

    monkeypatch.setattr(engine_class, "run_querystring", recording)
    return sent


async def plans_of(connection, statements: list[tuple[str, list]]) -> list[dict]:
    plans = []
    for sql, arguments in statements:
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        raw = await connection.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *arguments)
        plans.append(json.loads(raw)[0]["Plan"])
    return plans


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("external_id", "0012345", "contains"),
        ("external_id", "+1555002999", "starts"),
        ("external_id", "29999", "ends"),
        ("external_id", "+15550000042", "exact"),
        ("name", "maria 1234", "contains"),
        ("name", "JOAO 2999", "starts"),
    ],
)
async def test_search_finds_leads_by_part_of_a_number_or_name(
    admin, many_leads, column, value, match
):
    query = {column: value, f"{column}__match": match, "__page_size": 50}
    rows = (await admin.get("/tables/lead/", **query)).json()["rows"]
    count = await admin.get("/tables/lead/count/", **query)
    wanted = expected(column, value, match)
    assert 1 <= len(wanted) <= 50
    assert sorted(row["external_id"] for row in rows) == wanted
    assert count.json()["count"] == len(wanted)
    assert count.headers[COUNT_KIND_HEADER] == "exact"


async def test_short_and_wildcard_searches_still_find_everything(admin, connection):
    workspace_id = await factories.workspace(connection, "Acme")
    await factories.lead(connection, workspace_id, "+15550001", name="Zé")
    await factories.lead(connection, workspace_id, "+15550002", name="100% Ana_x")
    short = (await admin.get("/tables/lead/", name="zé", name__match="contains")).json()
    wild = (await admin.get("/tables/lead/", name="0% a", name__match="contains")).json()
    assert [row["external_id"] for row in short["rows"]] == ["+15550001"]
    assert [row["external_id"] for row in wild["rows"]] == ["+15550002"]


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ({"external_id": "0012345", "external_id__match": "contains"}, "lead_external_id_search"),
        ({"external_id": "+1555001", "external_id__match": "starts"}, "lead_external_id_search"),
        ({"name": "maria 1234", "name__match": "contains"}, "lead_name_search"),
        ({"stage": "OUTCOME_PURCHASE"}, "lead_stage"),
    ],
)
async def test_the_admins_own_search_and_count_sql_use_their_indexes(
    admin, many_leads, sent_sql, query, index
):
    listed = await admin.get("/tables/lead/", **query, __order="-created_at")
    counted = await admin.get("/tables/lead/count/", **query)
    assert (listed.status_code, counted.status_code) == (200, 200)
    lead_queries = [(sql, args) for sql, args in sent_sql if '"lead"' in sql or "lead" in sql]
    plans = await plans_of(many_leads, lead_queries)
    assert len(plans) >= 2, sent_sql
    counts = [plan for plan, (sql, _) in zip(plans, lead_queries, strict=True) if "count(*)" in sql]
    assert counts, sent_sql
    for plan in counts:
        assert index in index_names(plan), (plan, lead_queries)
        assert "Seq Scan" not in node_types(plan), plan


async def test_counts_stop_at_the_bound_and_say_so(admin, connection):
    workspace_id = await factories.workspace(connection, "Acme")
    await connection.execute(
        "INSERT INTO lead (workspace_id, external_id) "
        "SELECT $1, '+1555' || lpad(n::text, 7, '0') FROM generate_series(1, $2) n",
        workspace_id,
        COUNT_LIMIT + 50,
    )
    filtered = await admin.get(
        "/tables/lead/count/", external_id="+1555", external_id__match="starts"
    )
    before_statistics = await admin.get("/tables/lead/count/")
    await connection.execute("ANALYZE lead")
    unfiltered = await admin.get("/tables/lead/count/")
    small = await admin.get(
        "/tables/lead/count/", external_id="+155500001", external_id__match="starts"
    )

    assert (filtered.json()["count"], filtered.headers[COUNT_KIND_HEADER]) == (
        COUNT_LIMIT,
        "at-least",
    )
    assert before_statistics.headers[COUNT_KIND_HEADER] == "at-least"
    assert unfiltered.headers[COUNT_KIND_HEADER] == "estimate"
    assert unfiltered.json()["count"] == pytest.approx(COUNT_LIMIT + 50, rel=0.05)
    exact = await connection.fetchval(
        "SELECT count(*) FROM lead WHERE external_id LIKE '+155500001%'"
    )
    assert (small.json()["count"], small.headers[COUNT_KIND_HEADER]) == (exact, "exact")


async def test_the_lead_picker_searches_numbers_and_names(admin, many_leads):
    by_number = (await admin.get("/tables/lead/ids/", search="0012345", limit=5)).json()
    by_name = (await admin.get("/tables/lead/ids/", search="ines 2999", limit=50)).json()
    wanted = expected("name", "ines 2999", "contains")
    assert sorted(by_number.values()) == ["+15550012345 (Ana 12345)"]
    assert sorted(label.split(" ")[0] for label in by_name.values()) == wanted
    assert all("(Ines 2999" in label for label in by_name.values())


@pytest.mark.parametrize(
    ("value", "match", "pattern", "indexed"),
    [
        ("555", "contains", "%555%", True),
        ("55", "contains", "%55%", False),
        ("+1555", "starts", "+1555%", True),
        ("a_b%c", "exact", "a_b%c", False),
        ("abc\\d", "ends", "%abc\\d", False),
    ],
)
def test_which_patterns_the_trigram_index_can_serve(value, match, pattern, indexed):
    assert like_pattern(value, match) == pattern
    assert has_trigram(pattern) is indexed


@pytest.mark.parametrize(
    ("pattern", "chosen"),
    [
        ("%purchase%", ["OUTCOME_PURCHASE"]),
        ("%OUTCOME%", ["OUTCOME_APPOINTMENT", "OUTCOME_PURCHASE"]),
        ("NEW", ["NEW"]),
        ("%nothing%", []),
        ("%E_G%", ["ENGAGED"]),
    ],
)
def test_an_enum_search_becomes_the_choices_it_keeps(pattern, chosen):
    assert matching_choices(Lead.stage, pattern) == chosen


async def test_a_reason_code_search_finds_engine_and_older_decisions(admin, connection):
    workspace_id = await factories.workspace(connection, "Acme")
    lead_id = await factories.lead(connection, workspace_id)
    for reason in ("QUIET_HOURS", "WITHIN_WINDOW", "SUNDAY_HOLD", "QUIET_HOURS"):
        await factories.policy_decision(connection, workspace_id, lead_id, reason_code=reason)
    query = {"reason_code": "quiet", "reason_code__match": "contains"}
    rows = (await admin.get("/tables/policy_decision/", **query)).json()["rows"]
    older = await admin.get("/tables/policy_decision/count/", reason_code="within_w")
    assert [row["reason_code"] for row in rows] == ["QUIET_HOURS", "QUIET_HOURS"]
    assert older.json()["count"] == 1
