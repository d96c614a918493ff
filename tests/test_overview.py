"""The operator overview: behind the login, numbers and charts agree with the tables."""

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from app.admin.overview import OVERVIEW_PATH, workspace_overview
from tests import factories
from tests.admin_client import anonymous_client

ZONE = "Asia/Jakarta"

# (stage, tags, next follow-up from now in hours or None, leased)
LEADS = [
    ("NEW", ["POSITIVE"], -5, False),
    ("NEW", [], -1, False),
    ("NEW", [], 3, False),
    ("CONTACTED", ["POSITIVE", "INTENT_PURCHASE"], -2, True),
    ("CONTACTED", [], 30, False),
    ("QUALIFIED", ["NEUTRAL"], 20, False),
    ("SUPPRESSED", ["DISCONNECT"], -3, False),  # not a follow-up stage: never due
]
# (reason, allowed, days ago)
DECISIONS = [
    ("POLICY_PASSED", True, 0),
    ("POLICY_PASSED", True, 2),
    ("QUIET_HOURS", False, 1),
    ("QUIET_HOURS", False, 10),  # older than the page's 7 days
]
MODEL_MESSAGE_DAYS_AGO = [0, 0, 3, 40]  # the last one is older than 30 days


async def seed(connection, now: datetime) -> int:
    workspace_id = await factories.workspace(connection, "Acme")
    await connection.execute("UPDATE workspace SET timezone = $1 WHERE id = $2", ZONE, workspace_id)
    lead_ids = []
    for n, (stage, tags, due_in, leased) in enumerate(LEADS):
        lead_ids.append(
            await factories.lead(
                connection,
                workspace_id,
                f"+1555000{n}",
                stage=stage,
                tags=tags,
                next_followup_at=None if due_in is None else now + timedelta(hours=due_in),
                followup_lease_until=now + timedelta(minutes=5) if leased else None,
            )
        )
    for reason, allowed, days_ago in DECISIONS:
        await factories.policy_decision(
            connection,
            workspace_id,
            lead_ids[0],
            reason_code=reason,
            allow_send=allowed,
            kind="followup",
            message_format="template" if allowed else None,
            created_at=now - timedelta(days=days_ago),
        )
    thread_id = await factories.thread(connection, workspace_id, lead_ids[0])
    for days_ago in MODEL_MESSAGE_DAYS_AGO:
        sent_at = now - timedelta(days=days_ago)
        permit_id = await factories.policy_decision(
            connection,
            workspace_id,
            lead_ids[0],
            kind="reply",
            reason_code="POLICY_PASSED",
            message_format="free_form",
            created_at=sent_at - timedelta(minutes=1),
        )
        # History: the permit rule (checked against now() by a trigger) held when it was sent.
        await connection.execute("SET session_replication_role = replica")
        await factories.chat_message(
            connection, thread_id, role="model", permit_id=permit_id, created_at=sent_at
        )
        await connection.execute("RESET session_replication_role")
    await factories.strategy_version(
        connection, workspace_id, 1, status="ACTIVE", activated_at=now - timedelta(days=1)
    )
    await factories.attestation(connection, workspace_id, operator_id="rui@example.com")
    return workspace_id


def chart(html: str, name: str) -> dict[str, int]:
    """The labelled values a chart draws."""
    svg = re.search(rf'<svg class="chart" data-chart="{name}".*?</svg>', html, re.S)
    assert svg, f"no {name} chart"
    pairs = re.findall(r'<g data-label="([^"]*)" data-value="(\d+)">', svg.group(0))
    return {unescape(label): int(value) for label, value in pairs}


def table(html: str, name: str) -> dict[str, int]:
    """The numbers of the table beside a chart."""
    found = re.search(rf'<table data-table="{name}">.*?</table>', html, re.S)
    assert found, f"no {name} table"
    pairs = re.findall(r'<th scope="row">([^<]*)</th><td data-value="(\d+)">', found.group(0))
    return {unescape(label): int(value) for label, value in pairs}


async def test_an_operator_who_is_not_logged_in_is_sent_to_the_login():
    async with anonymous_client() as client:
        response = await client.get(OVERVIEW_PATH, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/#/login"


async def test_the_sidebar_links_to_the_overview(admin):
    links = (await admin.get("/links/")).json()
    assert links["Overview"] == OVERVIEW_PATH


async def test_numbers_and_charts_agree_with_the_tables(admin, connection):
    now = datetime.now(UTC)
    workspace_id = await seed(connection, now)
    response = await admin.http.get(OVERVIEW_PATH, params={"workspace": workspace_id})
    assert response.status_code == 200
    html = response.text

    stages = Counter(stage for stage, *_ in LEADS)
    assert {k: v for k, v in chart(html, "funnel").items() if v} == dict(stages)
    tags = Counter(tag for _, lead_tags, *_ in LEADS for tag in lead_tags)
    assert chart(html, "tags") == dict(tags)

    follow_up = [lead for lead in LEADS if lead[0] in ("NEW", "CONTACTED", "QUALIFIED")]
    assert chart(html, "follow-ups") == {
        "overdue": sum(1 for _, _, due, leased in follow_up if due < 0 and not leased),
        "held for want of consent": 0,  # the workspace does not require consent
        "held by the messaging limit": 0,  # far below the tier's 250 people
        "due in the next 24 h": sum(1 for _, _, due, _ in follow_up if 0 < due <= 24),
        "leased right now": sum(1 for *_, leased in follow_up if leased),
    }

    recent = [d for d in DECISIONS if d[2] < 7]
    permits_recent = sum(1 for days in MODEL_MESSAGE_DAYS_AGO if days < 7)
    decisions = Counter(
        f"{reason} ({'allowed' if allowed else 'denied'})" for reason, allowed, _ in recent
    )
    decisions["POLICY_PASSED (allowed)"] += permits_recent
    assert chart(html, "decisions") == dict(decisions)

    zone = ZoneInfo(ZONE)
    per_day = Counter(
        (now - timedelta(days=days)).astimezone(zone).date().isoformat()
        for days in MODEL_MESSAGE_DAYS_AGO
        if days < 30
    )
    sends = chart(html, "sends")
    assert len(sends) == 30
    assert {day: n for day, n in sends.items() if n} == dict(per_day)
    assert max(sends) == now.astimezone(zone).date().isoformat()

    for name in ("funnel", "tags", "follow-ups", "decisions", "sends"):
        assert table(html, name) == chart(html, name)
    assert "v1 (BALANCED)" in html
    assert "granted by rui@example.com" in html
    assert f"{len(LEADS):,} leads" in html


async def test_due_leads_held_for_want_of_consent_are_counted(admin, connection):
    """Of the due leads of a workspace requiring consent, those whose latest marketing
    consent event is not a grant (none, or a revocation) are held, not overdue."""
    now = datetime.now(UTC)
    workspace_id = await factories.workspace(connection, "Acme", consent_required=True)
    wording_id = await factories.consent_wording(connection, workspace_id)
    due, later = now - timedelta(hours=1), now + timedelta(hours=3)

    def grant(**values):
        return lambda lead_id, **at: factories.consent_grant(
            connection, workspace_id, lead_id, wording_id, **values, **at
        )

    def revoke(lead_id, **at):
        return factories.consent_revocation(connection, workspace_id, lead_id, **at)

    # (next follow-up, consent events oldest first, leased)
    leads = [
        (due, [grant()], False),  # overdue
        (due, [], False),  # held: nothing recorded
        (due, [grant(), revoke], False),  # held: revoked
        (due, [revoke, grant()], False),  # overdue: granted again
        (due, [grant(purpose="utility")], False),  # held: utility is not marketing
        (later, [], False),  # not due yet
        (due, [], True),  # leased
    ]
    for n, (next_at, events, leased) in enumerate(leads):
        lead_id = await factories.lead(
            connection,
            workspace_id,
            f"+1555000{n}",
            next_followup_at=next_at,
            followup_lease_until=now + timedelta(minutes=5) if leased else None,
        )
        for age, record in enumerate(reversed(events), start=1):
            await record(lead_id, captured_at=now - timedelta(hours=age))
    response = await admin.http.get(OVERVIEW_PATH, params={"workspace": workspace_id})
    follow_ups = chart(response.text, "follow-ups")
    assert (follow_ups["overdue"], follow_ups["held for want of consent"]) == (2, 3)
    assert "required: 3 due leads held for want of consent" in response.text

    await connection.execute("UPDATE workspace SET consent_required = false")
    response = await admin.http.get(OVERVIEW_PATH, params={"workspace": workspace_id})
    follow_ups = chart(response.text, "follow-ups")
    assert (follow_ups["overdue"], follow_ups["held for want of consent"]) == (5, 0)
    assert "not required: follow-ups go out without a recorded grant" in response.text


async def test_an_empty_workspace_shows_an_empty_state(admin, connection):
    workspace_id = await factories.workspace(connection, "Empty")
    response = await admin.http.get(OVERVIEW_PATH, params={"workspace": workspace_id})
    assert response.status_code == 200
    assert 'data-empty="true"' in response.text
    assert "none: no follow-ups are sent" in response.text


@pytest.mark.parametrize("chosen", ["999999", "abc", "1 OR 1=1"])
async def test_an_unknown_workspace_is_a_readable_404(admin, connection, chosen):
    await factories.workspace(connection, "Acme")
    response = await admin.http.get(OVERVIEW_PATH, params={"workspace": chosen})
    assert response.status_code == 404
    assert "pick one from the list" in response.text
    assert "<option" in response.text


async def test_without_a_choice_the_default_workspace_is_shown(admin, connection):
    await factories.workspace(connection, "Acme")
    default = await factories.workspace(connection, "Default")
    response = await admin.http.get(OVERVIEW_PATH, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{OVERVIEW_PATH}?workspace={default}"


# Sends around New York's 2026 changes: 8 March has 23 hours (05:00 -> 04:00 UTC),
# 1 November has 25 (04:00 -> 05:00 UTC). A fixed offset misplaces the edges.
DST_SENDS = {
    "spring": (
        datetime(2026, 3, 20, 12, tzinfo=UTC),
        {
            datetime(2026, 3, 8, 4, 59, tzinfo=UTC): "2026-03-07",
            datetime(2026, 3, 8, 5, 0, tzinfo=UTC): "2026-03-08",
            datetime(2026, 3, 9, 3, 59, tzinfo=UTC): "2026-03-08",
            datetime(2026, 3, 9, 4, 0, tzinfo=UTC): "2026-03-09",
        },
    ),
    "autumn": (
        datetime(2026, 11, 10, 12, tzinfo=UTC),
        {
            datetime(2026, 11, 1, 3, 59, tzinfo=UTC): "2026-10-31",
            datetime(2026, 11, 1, 4, 0, tzinfo=UTC): "2026-11-01",
            datetime(2026, 11, 2, 4, 59, tzinfo=UTC): "2026-11-01",
            datetime(2026, 11, 2, 5, 0, tzinfo=UTC): "2026-11-02",
        },
    ),
}


@pytest.mark.parametrize("change", DST_SENDS)
async def test_sends_per_day_are_the_workspaces_local_days_across_daylight_saving(
    connection, change
):
    now, sends = DST_SENDS[change]
    workspace_id = await factories.workspace(connection, "Acme")
    await connection.execute(
        "UPDATE workspace SET timezone = 'America/New_York' WHERE id = $1", workspace_id
    )
    lead_id = await factories.lead(connection, workspace_id, "+15550001234")
    thread_id = await factories.thread(connection, workspace_id, lead_id)
    await connection.execute("SET session_replication_role = replica")  # history
    for sent_at in sends:
        permit_id = await factories.policy_decision(
            connection,
            workspace_id,
            lead_id,
            kind="reply",
            reason_code="POLICY_PASSED",
            message_format="free_form",
            created_at=sent_at,
        )
        await factories.chat_message(
            connection, thread_id, role="model", permit_id=permit_id, created_at=sent_at
        )
    await connection.execute("RESET session_replication_role")
    workspace = {
        "id": workspace_id,
        "name": "Acme",
        "timezone": "America/New_York",
        "messaging_tier": "TIER_250",
    }

    overview = await workspace_overview(workspace, now)

    expected = Counter(sends.values())
    for per_day in (overview.messages_per_day, overview.permits_per_day):
        assert {day.isoformat(): n for day, n in per_day.items()} == dict(expected)
    assert len(overview.days) == 30
    assert overview.days[-1] == now.astimezone(ZoneInfo("America/New_York")).date()


# --- the channel ---------------------------------------------------------------------------

# (error code, title, days ago it failed): the last is older than the page's 7 days.
FAILURES = [
    (131026, "Message undeliverable", 0),
    (131026, "Message undeliverable", 2),
    (131049, "This message was not delivered to maintain healthy ecosystem engagement.", 1),
    (130429, "Rate limit hit", 3),
    (131047, "Re-engagement message", 9),
]


async def at_the_limit(connection, workspace_id: int, now: datetime) -> None:
    """250 people given a template follow-up within the last 24 h (TIER_250's limit),
    and some permits of earlier days."""
    await connection.execute(
        "INSERT INTO lead (workspace_id, external_id, stage) "
        "SELECT $1, '+1555100' || lpad(n::text, 4, '0'), 'CONTACTED' "
        "FROM generate_series(1, 260) n",
        workspace_id,
    )
    await connection.execute(
        "INSERT INTO policy_decision (workspace_id, lead_id, allow_send, reason_code, kind, "
        "message_format, created_at) "
        "SELECT workspace_id, id, true, 'POLICY_PASSED', 'followup', 'template', "
        "  $2::timestamptz - CASE WHEN n <= 250 THEN interval '1 hour' ELSE interval '3 days' END "
        "FROM (SELECT workspace_id, id, row_number() OVER (ORDER BY id) AS n FROM lead "
        "      WHERE workspace_id = $1 AND external_id LIKE '+1555100%') AS people",
        workspace_id,
        now,
    )


async def failed_messages(connection, workspace_id: int, now: datetime) -> None:
    lead_id = await factories.lead(connection, workspace_id, "+15552000000")
    thread_id = await factories.thread(connection, workspace_id, lead_id)
    await connection.execute("SET session_replication_role = replica")  # history
    for n, (code, title, days_ago) in enumerate(FAILURES):
        failed_at = now - timedelta(days=days_ago)
        permit_id = await factories.policy_decision(
            connection,
            workspace_id,
            lead_id,
            kind="reply",
            reason_code="POLICY_PASSED",
            message_format="free_form",
        )
        await factories.chat_message(
            connection,
            thread_id,
            role="model",
            permit_id=permit_id,
            platform_message_id=f"wamid.{n}",
            created_at=failed_at - timedelta(minutes=1),
            delivery_status="failed",
            delivery_status_at=failed_at,
            delivery_error_code=code,
            delivery_error_title=title,
        )
    await connection.execute("RESET session_replication_role")


async def test_the_channel_shows_sends_against_the_tier_failures_and_held_leads(admin, connection):
    now = datetime.now(UTC)
    workspace_id = await factories.workspace(connection, "Acme", timezone=ZONE)
    await at_the_limit(connection, workspace_id, now)
    await failed_messages(connection, workspace_id, now)
    due = now - timedelta(hours=1)
    # Due leads: two a follow-up would reach with a template, one that wrote 2 h ago
    # (free form: the limit does not count it).
    for n, wrote in enumerate([None, now - timedelta(days=2), now - timedelta(hours=2)]):
        await factories.lead(
            connection,
            workspace_id,
            f"+1555300000{n}",
            next_followup_at=due,
            last_inbound_at=wrote,
        )
    # Unreachable: reported and silent since (counted); reported, then wrote (not).
    reported = now - timedelta(days=2)
    await factories.lead(connection, workspace_id, "+15554000000", unreachable_since=reported)
    await factories.lead(
        connection,
        workspace_id,
        "+15554000001",
        unreachable_since=reported,
        last_inbound_at=reported + timedelta(hours=1),
    )

    html = (await admin.http.get(OVERVIEW_PATH, params={"workspace": workspace_id})).text

    zone = ZoneInfo(ZONE)
    expected_days = Counter(
        {(now - timedelta(hours=1)).astimezone(zone).date().isoformat(): 250}
    ) + Counter({(now - timedelta(days=3)).astimezone(zone).date().isoformat(): 10})
    sends = chart(html, "template-sends")
    assert len(sends) == 7 and max(sends) == now.astimezone(zone).date().isoformat()
    assert {day: n for day, n in sends.items() if n} == dict(expected_days)
    assert chart(html, "failures") == {
        "131026 Message undeliverable": 2,
        "131049 This message was not delivered to maintain healthy ecosystem engagement.": 1,
        "130429 Rate limit hit": 1,
    }
    for name in ("template-sends", "failures"):
        assert table(html, name) == chart(html, name)
    figures = dict(re.findall(r'<dd data-figure="([^"]+)">(.*?)</dd>', html, re.S))
    assert figures["tier"].startswith("TIER_250: 250 people in any 24 h")
    assert figures["recipients"] == "250 people of 250: the limit is reached"
    assert figures["unreachable"].startswith("1 ")
    assert figures["held-by-limit"] == "2"
    follow_ups = chart(html, "follow-ups")
    assert (follow_ups["overdue"], follow_ups["held by the messaging limit"]) == (1, 2)

    # A higher tier: nothing is held, every due lead is overdue.
    await connection.execute("UPDATE workspace SET messaging_tier = 'TIER_2K'")
    html = (await admin.http.get(OVERVIEW_PATH, params={"workspace": workspace_id})).text
    follow_ups = chart(html, "follow-ups")
    assert (follow_ups["overdue"], follow_ups["held by the messaging limit"]) == (3, 0)
    assert "250 people of 2,000<" in html
