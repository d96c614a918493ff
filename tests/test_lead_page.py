"""The lead page: behind the login, one lead's state, consent, the engine's answer and
one timeline, newest first, paged by keyset, fast with 10,000 decisions."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from app.admin.lead_page import (
    FIRST_PAGE,
    LEAD_PAGE_PATH,
    TIMELINE,
    TIMELINE_BRANCHES,
    TIMELINE_PAGE,
    spoken,
)
from app.db.executor import positional
from tests import factories
from tests.admin_client import anonymous_client

LISBON = "Europe/Lisbon"
DECISIONS = 10_000


async def consenting_lead(connection) -> tuple[int, int]:
    """A Lisbon workspace with an ACTIVE strategy and a granted attestation, and one
    lead with a wording version, a marketing grant, a message and an edit."""
    workspace_id = await factories.workspace(connection, "Acme", timezone=LISBON)
    await factories.strategy_version(
        connection, workspace_id, 1, status="ACTIVE", activated_at=datetime.now(UTC)
    )
    await factories.attestation(connection, workspace_id, granted=True)
    lead_id = await factories.lead(connection, workspace_id, "+351910000001", name="Rita")
    wording_id = await factories.consent_wording(connection, workspace_id, "Acme")
    await factories.consent_grant(
        connection,
        workspace_id,
        lead_id,
        wording_id,
        method="web_form",
        evidence={"ip": "192.0.2.1"},
        captured_at=datetime.now(UTC) - timedelta(days=2),
    )
    thread_id = await factories.thread(connection, workspace_id, lead_id)
    await factories.chat_message(
        connection, thread_id, content="Hello, is it still for sale?", delivery_status="read"
    )
    await connection.execute("UPDATE lead SET stage = 'CONTACTED' WHERE id = $1", lead_id)
    return workspace_id, lead_id


def text_of(html: str) -> str:
    """The words of the page's main part, as a reader sees them."""
    main = html.split("<main>", 1)[-1]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", main)).split())


def timeline_ids(html: str) -> list[tuple[str, int]]:
    return [
        (source, int(row_id))
        for source, row_id in re.findall(r'data-source="(\w+)" data-id="(\d+)"', html)
    ]


async def test_an_operator_who_is_not_logged_in_is_sent_to_the_login():
    async with anonymous_client() as client:
        response = await client.get(f"{LEAD_PAGE_PATH}1/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/#/login"


async def test_the_page_shows_the_lead_consent_the_answer_and_the_timeline(admin, connection):
    _, lead_id = await consenting_lead(connection)
    response = await admin.http.get(f"{LEAD_PAGE_PATH}{lead_id}/")
    assert response.status_code == 200, response.text
    html = response.text
    shown = text_of(html)
    assert "<h1>+351910000001 (Rita)</h1>" in html
    assert re.search(r'data-figure="stage">CONTACTED<', html)
    assert "Europe/Lisbon" in shown and "the lead's timezone" not in shown
    # The consent state: marketing granted on wording v1, utility never recorded.
    assert re.search(r'data-label="marketing"><span class="state granted">granted', html)
    assert re.search(r'data-label="utility"><span class="state none">nothing recorded', html)
    assert "wording v1 (sha256 " in shown
    # The engine's answer as a panel, rule by rule, not a text dump.
    assert 'data-figure="verdict"' in html
    assert 'data-rule="CONSENT_MISSING"' in html or 'data-rule="LEAD_SUPPRESSED"' in html
    assert '<table class="rules">' in html
    # One timeline, newest first: the lead's edit, the message, the consent grant.
    sources = [source for source, _ in timeline_ids(html)]
    assert sources[:2] == ["change", "message"] or sources[:2] == ["message", "change"]
    assert sources.count("consent") == 1 and sources[-1] == "consent"
    assert "The lead wrote: “Hello, is it still for sale?” read" in shown
    assert "edit by postgres (direct SQL): stage NEW → CONTACTED" in shown
    assert "create by postgres (direct SQL): name Rita" in shown
    assert "Older" not in shown  # one page holds it all


async def test_instants_are_written_for_people_in_the_lead_zone_and_utc(admin, connection):
    workspace_id, lead_id = await consenting_lead(connection)
    instant = datetime(2026, 12, 2, 10, 23, 45, 123456, tzinfo=UTC)
    await factories.policy_decision(
        connection,
        workspace_id,
        lead_id,
        kind="followup",
        allow_send=False,
        reason_code="QUIET_HOURS",
        summary="Outside the send window",
        next_allowed_at=instant,
        created_at=datetime.now(UTC) + timedelta(seconds=1),
    )
    html = (await admin.http.get(f"{LEAD_PAGE_PATH}{lead_id}/")).text
    lisbon = spoken(instant, ZoneInfo(LISBON))
    assert lisbon.endswith("2 Dec 10:23 WET") and lisbon.startswith("Wed")
    assert f"next allowed {lisbon} (Wed 2 Dec 10:23 UTC)" in text_of(html)
    assert "10:23:45" not in text_of(html)  # no ISO instants with seconds and beyond


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("abc/", 400, "'abc' is not a lead id."),
        ("99999/", 404, "There is no lead #99999."),
        ("{lead}/?before=yesterday", 400, "That link to older entries is damaged"),
    ],
)
async def test_bad_addresses_are_readable_4xx(admin, connection, path, status, message):
    workspace_id = await factories.workspace(connection, "Acme")
    lead_id = await factories.lead(connection, workspace_id)
    response = await admin.http.get(LEAD_PAGE_PATH + path.format(lead=lead_id))
    assert response.status_code == status
    assert message in text_of(response.text)


async def many_decisions(
    connection, workspace_id: int, lead_id: int, count: int = DECISIONS
) -> datetime:
    """``count`` refused decisions for one lead, a minute apart, in one INSERT; the
    newest instant."""
    newest = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    await connection.execute(
        """
        INSERT INTO policy_decision (workspace_id, lead_id, kind, allow_send, reason_code,
                                     summary, next_allowed_at, created_at)
        SELECT $1, $2, 'followup', false, 'QUIET_HOURS', 'decision ' || n,
               $3::timestamptz - n * interval '1 minute' + interval '12 hours',
               $3::timestamptz - n * interval '1 minute'
          FROM generate_series(0, $4 - 1) AS n
        """,
        workspace_id,
        lead_id,
        newest,
        count,
    )
    await connection.execute("ANALYZE policy_decision")
    await connection.execute("ANALYZE change_log")
    return newest


async def test_ten_thousand_decisions_page_newest_first_by_keyset(admin, connection):
    workspace_id, lead_id = await consenting_lead(connection)
    await many_decisions(connection, workspace_id, lead_id)
    summaries = await connection.fetch(
        "SELECT id FROM policy_decision WHERE lead_id = $1 ORDER BY created_at DESC, id DESC",
        lead_id,
    )
    newest_ids = [row["id"] for row in summaries]

    first = await admin.http.get(f"{LEAD_PAGE_PATH}{lead_id}/")
    assert first.status_code == 200
    first_entries = timeline_ids(first.text)
    assert len(first_entries) == TIMELINE_PAGE
    first_decisions = [row_id for source, row_id in first_entries if source == "decision"]
    assert first_decisions == newest_ids[: len(first_decisions)]
    older = re.search(r'href="([^"]+)" rel="next">Older', first.text)
    assert older, "the first page links to older entries"

    second = await admin.http.get(unescape(older.group(1)))
    assert second.status_code == 200
    second_entries = timeline_ids(second.text)
    assert len(second_entries) == TIMELINE_PAGE
    assert not set(first_entries) & set(second_entries)
    # The second page goes on where the first stopped: the next decisions, in order.
    second_decisions = [row_id for source, row_id in second_entries if source == "decision"]
    shown = len(first_decisions)
    assert second_decisions == newest_ids[shown : shown + len(second_decisions)]
    assert 'rel="first">Newest' in second.text


async def test_the_timeline_is_read_through_indexes(admin, connection):
    workspace_id, lead_id = await consenting_lead(connection)
    await many_decisions(connection, workspace_id, lead_id)
    # The other leads' decisions, newer than the lead's, as in a busy workspace: the
    # lead's 10,000 are 5% of the table and none of its newest rows. Written as history.
    await connection.execute("SET session_replication_role = replica")
    await connection.execute(
        """
        INSERT INTO lead (workspace_id, external_id)
        SELECT $1, '+1555' || lpad(n::text, 7, '0') FROM generate_series(1, 1000) AS n;
        """.replace("$1", str(workspace_id))
    )
    await connection.execute(
        """
        INSERT INTO policy_decision (workspace_id, lead_id, kind, allow_send, reason_code,
                                     created_at)
        SELECT $1, lead.id, 'followup', false, 'QUIET_HOURS',
               now() + interval '2 hours' + n * interval '1 second'
          FROM lead, generate_series(1, 190) AS n WHERE lead.id <> $2
        """,
        workspace_id,
        lead_id,
    )
    await connection.execute("RESET session_replication_role")
    await connection.execute("ANALYZE")
    at, rank, row_id = FIRST_PAGE
    arguments = [lead_id, workspace_id, at, at, rank, row_id, TIMELINE_PAGE + 1]
    plan = "\n".join(
        row[0]
        for row in await connection.fetch(
            "EXPLAIN " + positional(TIMELINE),
            *(arguments * len(TIMELINE_BRANCHES)),
            TIMELINE_PAGE + 1,
        )
    )
    assert "Seq Scan on policy_decision" not in plan, plan
    assert "Seq Scan on change_log" not in plan, plan
    assert "policy_decision_lead_created" in plan, plan
    assert "change_log_table_row" in plan, plan


async def test_a_bare_lead_renders_with_its_reasons_and_names_escaped(admin, connection):
    workspace_id = await factories.workspace(connection, "<i>Bare</i>")
    lead_id = await factories.lead(connection, workspace_id, "not-a-number", name="<b>Zé</b>")
    response = await admin.http.get(f"{LEAD_PAGE_PATH}{lead_id}/")
    assert response.status_code == 200, response.text
    assert "<b>Zé</b>" not in response.text and "&lt;b&gt;Zé&lt;/b&gt;" in response.text
    assert "<i>Bare</i>" not in response.text
    shown = text_of(response.text)
    assert "No follow-up now: ATTESTATION_MISSING" in shown
    assert "marketing nothing recorded utility nothing recorded" in shown
    assert "No consent recorded for this lead." in shown
    assert [source for source, _ in timeline_ids(response.text)] == ["change"]
