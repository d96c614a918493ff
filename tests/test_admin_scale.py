"""The admin at volume: searches served by the trigram indexes (checked on the SQL the
admin really sends), the lead picker's search. Every test starts from a copy of one
database filled once for the module (its rows are only read)."""

import asyncio
import json
from collections.abc import Iterator

import asyncpg
import pytest

from app.admin.crud import COUNT_KIND_HEADER
from app.tables import Lead
from tests.database_setup import TEST_DATABASE
from tests.test_indexes import index_names, node_types

LEADS = 30_000
RARE_STAGE_EVERY = 1_000
NAMES = ["Ana", "Rui", "Maria", "Joao", "Ines"]
# One worker fills the module's database once under pytest-xdist.
pytestmark = pytest.mark.xdist_group("test_admin_scale")


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


async def fill(url: str) -> None:
    """30,000 leads over 30 workspaces; every 1,000th is OUTCOME_PURCHASE. Written
    without triggers (the change log is not under test here), then analysed."""
    connection = await asyncpg.connect(url)
    try:
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
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def filled_database(database_server) -> Iterator[str]:
    """The module's database: migrated, then filled once; its name."""
    name = database_server.scratch_name()
    asyncio.run(fill(database_server.create_from_template(name)))
    yield name
    database_server.drop(name)


@pytest.fixture
def fresh_database(database_server, filled_database) -> str:
    """Each test's database: a copy of the filled one (the statistics come with it)."""
    return database_server.create_from_template(TEST_DATABASE, filled_database)


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
    admin, connection, column, value, match
):
    query = {column: value, f"{column}__match": match, "__page_size": 50}
    rows = (await admin.get("/tables/lead/", **query)).json()["rows"]
    count = await admin.get("/tables/lead/count/", **query)
    wanted = expected(column, value, match)
    assert 1 <= len(wanted) <= 50
    assert sorted(row["external_id"] for row in rows) == wanted
    assert count.json()["count"] == len(wanted)
    assert count.headers[COUNT_KIND_HEADER] == "exact"


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
    admin, connection, sent_sql, query, index
):
    listed = await admin.get("/tables/lead/", **query, __order="-created_at")
    counted = await admin.get("/tables/lead/count/", **query)
    assert (listed.status_code, counted.status_code) == (200, 200)
    lead_queries = [(sql, args) for sql, args in sent_sql if '"lead"' in sql or "lead" in sql]
    plans = await plans_of(connection, lead_queries)
    assert len(plans) >= 2, sent_sql
    counts = [plan for plan, (sql, _) in zip(plans, lead_queries, strict=True) if "count(*)" in sql]
    assert counts, sent_sql
    for plan in counts:
        assert index in index_names(plan), (plan, lead_queries)
        assert "Seq Scan" not in node_types(plan), plan


async def test_the_lead_picker_searches_numbers_and_names(admin, connection):
    by_number = (await admin.get("/tables/lead/ids/", search="0012345", limit=5)).json()
    by_name = (await admin.get("/tables/lead/ids/", search="ines 2999", limit=50)).json()
    wanted = expected("name", "ines 2999", "contains")
    assert sorted(by_number.values()) == ["+15550012345 (Ana 12345)"]
    assert sorted(label.split(" ")[0] for label in by_name.values()) == wanted
    assert all("(Ines 2999" in label for label in by_name.values())
