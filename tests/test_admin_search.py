"""The admin's search rules: short and wildcard searches, counts that stop at their
bound and say so, which patterns the trigram index serves, enum and reason-code
searches."""

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


async def test_short_and_wildcard_searches_still_find_everything(admin, connection):
    workspace_id = await factories.workspace(connection, "Acme")
    await factories.lead(connection, workspace_id, "+15550001", name="Zé")
    await factories.lead(connection, workspace_id, "+15550002", name="100% Ana_x")
    short = (await admin.get("/tables/lead/", name="zé", name__match="contains")).json()
    wild = (await admin.get("/tables/lead/", name="0% a", name__match="contains")).json()
    assert [row["external_id"] for row in short["rows"]] == ["+15550001"]
    assert [row["external_id"] for row in wild["rows"]] == ["+15550002"]


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
