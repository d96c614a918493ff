"""The consent ledger in the admin: events read-only for everyone, wordings frozen
once cited, the 'Record consent' form and the workspace's consent settings. Every
refusal re-reads the database to show that nothing changed."""

from datetime import UTC, datetime, timedelta

import pytest

from tests import factories
from tests.admin_client import logged_in_operator, messages

WORDING = "Yes, {} may send me offers on WhatsApp."  # as factories.consent_wording writes it


@pytest.fixture
async def acme(connection) -> int:
    return await factories.workspace(connection, "Acme")


wording = factories.consent_wording
grant = factories.consent_grant


# --- the ledger: read-only for everyone -------------------------------------------------


async def test_the_ledger_has_its_own_menu(admin):
    grouped = (await admin.get("/tables/grouped/")).json()["grouped"]
    assert grouped["Consent"] == ["consent_event", "consent_wording"]


@pytest.mark.parametrize("superuser", [False, True])
async def test_no_one_writes_consent_events_through_the_admin(connection, acme, superuser):
    operator = await logged_in_operator("root" if superuser else "ana", superuser=superuser)
    lead_id = await factories.lead(connection, acme)
    event_id = await grant(connection, acme, lead_id, await wording(connection, acme))
    before = await factories.table_snapshot(connection, "consent_event")
    attempts = [
        await operator.post(
            "/tables/consent_event/",
            {"workspace_id": acme, "lead_id": lead_id, "action": "revoke", "purpose": "marketing"},
        ),
        await operator.patch(f"/tables/consent_event/{event_id}/", {"action": "revoke"}),
        await operator.http.put(
            f"/admin/api/tables/consent_event/{event_id}/",
            json={"action": "revoke"},
            headers=operator.headers,
        ),
        await operator.delete(f"/tables/consent_event/{event_id}/"),
        await operator.delete(f"/tables/consent_event/?id={event_id}"),
    ]
    assert [attempt.status_code for attempt in attempts] == [405] * 5
    # The bulk delete is not served at all; every other write is refused with the reason.
    assert all("append-only ledger" in attempt.json()["detail"] for attempt in attempts[:4])
    assert await factories.table_snapshot(connection, "consent_event") == before
    await operator.http.aclose()


async def test_the_ledger_is_filtered_by_lead_action_purpose_method_and_time(admin, connection):
    acme = await factories.workspace(connection, "Acme")
    other = await factories.workspace(connection, "Other")
    rita = await factories.lead(connection, acme, "+351910000001")
    joao = await factories.lead(connection, acme, "+351910000002")
    elsewhere = await factories.lead(connection, other, "+351910000003")
    acme_wording = await wording(connection, acme)
    await grant(connection, acme, rita, acme_wording)
    await grant(connection, acme, joao, acme_wording)
    await grant(connection, other, elsewhere, await wording(connection, other, "Other"))
    revoked = await factories.insert(
        connection,
        "consent_event",
        workspace_id=acme,
        lead_id=rita,
        action="revoke",
        purpose="marketing",
        captured_at=datetime.now(UTC),
    )

    async def ids(**filters) -> set[int]:
        response = await admin.get("/tables/consent_event/", **filters)
        assert response.status_code == 200, response.text
        return {row["id"] for row in response.json()["rows"]}

    assert len(await ids(workspace_id=acme)) == 3
    assert len(await ids(lead_id=rita)) == 2
    assert await ids(lead_id=rita, action="revoke") == {revoked}
    assert len(await ids(purpose="marketing", method="checkbox")) == 3
    recent = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert await ids(captured_at__operator="gte", captured_at=recent) == {revoked}
    assert len(await ids(recorded_at__operator="gte", recorded_at=recent)) == 4
    schema = (await admin.get("/tables/consent_event/schema/")).json()["extra"]
    assert {"workspace_id", "lead_id", "action", "purpose", "method", "captured_at"} <= set(
        schema["visible_filter_names"]
    )


# --- wordings: added here, frozen once cited ----------------------------------------------


async def test_an_operator_adds_a_wording_numbered_and_hashed_by_the_database(admin, connection):
    acme = await factories.workspace(connection, "Acme")
    text = WORDING.format("Acme")
    first = await admin.create(
        "consent_wording", workspace_id=acme, business_name="Acme", text=text
    )
    second = await admin.create(
        "consent_wording", workspace_id=acme, business_name="Acme", text=text + " Daily."
    )
    assert (first.status_code, second.status_code) == (201, 201), first.text
    rows = await connection.fetch(
        "SELECT version, sha256 = encode(sha256(convert_to(text, 'UTF8')), 'hex') AS hashed "
        "FROM consent_wording ORDER BY id"
    )
    assert [tuple(row) for row in rows] == [(1, True), (2, True)]


@pytest.mark.parametrize("field", ["version", "sha256"])
async def test_version_and_hash_are_not_typed(admin, connection, acme, field):
    value = 7 if field == "version" else "0" * 64
    response = await admin.create(
        "consent_wording",
        workspace_id=acme,
        business_name="Acme",
        text=WORDING.format("Acme"),
        **{field: value},
    )
    assert response.status_code == 422
    assert f"{field}: set by the database" in messages(response)
    assert await factories.table_snapshot(connection, "consent_wording") == []


async def test_an_unused_wording_is_edited_and_rehashed(admin, connection, acme):
    wording_id = await wording(connection, acme)
    response = await admin.edit("consent_wording", wording_id, text="Acme may write to me.")
    assert response.status_code == 200, response.text
    row = await connection.fetchrow(
        "SELECT version, text, sha256 = encode(sha256(convert_to(text, 'UTF8')), 'hex') AS hashed "
        "FROM consent_wording"
    )
    assert tuple(row) == (1, "Acme may write to me.", True)


async def test_a_wording_keeps_its_version_and_hash(admin, connection, acme):
    wording_id = await wording(connection, acme)
    before = await factories.table_snapshot(connection, "consent_wording")
    response = await admin.edit("consent_wording", wording_id, version=5)
    assert response.status_code == 422
    assert "version: v1 keeps its version: add a new version" in messages(response)
    assert await factories.table_snapshot(connection, "consent_wording") == before


async def test_a_cited_wording_is_refused_readably_by_the_database(admin, connection, acme):
    wording_id = await wording(connection, acme)
    await grant(connection, acme, await factories.lead(connection, acme), wording_id)
    before = await factories.table_snapshot(connection, "consent_wording")
    edited = await admin.edit("consent_wording", wording_id, text="Acme may now call me too.")
    deleted = await admin.delete(f"/tables/consent_wording/{wording_id}/")
    assert (edited.status_code, deleted.status_code) == (422, 422)
    assert "consent wording version 1 is cited by consent events: it cannot change" in messages(
        edited
    )
    assert "it cannot be deleted" in messages(deleted)
    assert await factories.table_snapshot(connection, "consent_wording") == before


# --- the 'Record consent' form ---------------------------------------------------------------


async def events(connection) -> list[tuple]:
    rows = await connection.fetch(
        "SELECT lead_id, action, purpose, wording_id, method, evidence::text, recorded_by_kind, "
        "recorded_by FROM consent_event ORDER BY id"
    )
    return [tuple(row) for row in rows]


async def test_the_form_records_a_grant_as_the_operator(admin, connection, acme):
    lead_id = await factories.lead(connection, acme)
    wording_id = await wording(connection, acme)
    response = await admin.submit(
        "record-consent",
        workspace=acme,
        lead=lead_id,
        action="grant",
        purpose="marketing",
        wording=wording_id,
        method="verbal",
        captured_at="2026-11-30T10:15:00",
        evidence='{"recording": "call-30-nov.mp3"}',
    )
    assert response.status_code == 200, response.text
    assert "grant of marketing consent for lead" in response.json()["custom_form_success"]
    assert "on wording v1, said Mon 30 Nov 2026 10:15 UTC" in response.json()["custom_form_success"]
    assert await events(connection) == [
        (
            lead_id,
            "grant",
            "marketing",
            wording_id,
            "verbal",
            '{"recording": "call-30-nov.mp3"}',
            "OPERATOR",
            "ana",
        )
    ]
    captured = await connection.fetchval("SELECT captured_at FROM consent_event")
    assert captured == datetime(2026, 11, 30, 10, 15, tzinfo=UTC)


async def test_the_form_records_a_revocation_without_wording(admin, connection, acme):
    lead_id = await factories.lead(connection, acme)
    response = await admin.submit(
        "record-consent", workspace=acme, lead=lead_id, action="revoke", purpose="utility"
    )
    assert response.status_code == 200, response.text
    assert await events(connection) == [
        (lead_id, "revoke", "utility", None, None, "{}", "OPERATOR", "ana")
    ]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("grant without wording", "wording: a grant must name the wording the person was shown"),
        ("grant without method", "method: a grant must say how the person consented"),
        ("revocation citing wording", "wording: a revocation cites no wording"),
        ("lead of another workspace", "belongs to workspace #{other}, not to workspace #{acme}"),
        ("wording of another workspace", "wording: v1 (#{foreign}) belongs to workspace #{other}"),
        ("evidence not an object", "evidence: must be a JSON object"),
        ("evidence not JSON", "evidence: '{{ip' is not valid JSON"),
        ("said in the future", "captured_at: 2099-01-01 00:00 UTC is in the future"),
        ("unknown lead", "lead #999999 does not exist"),
    ],
)
async def test_the_form_refuses_with_a_reason_and_stores_nothing(
    admin, connection, acme, case, message
):
    other = await factories.workspace(connection, "Other")
    lead_id = await factories.lead(connection, acme, "+351910000001")
    foreign_lead = await factories.lead(connection, other, "+351910000002")
    own = await wording(connection, acme)
    foreign = await wording(connection, other, "Other")
    valid = {
        "workspace": acme,
        "lead": lead_id,
        "action": "grant",
        "purpose": "marketing",
        "wording": own,
        "method": "checkbox",
    }
    changes = {
        "grant without wording": {"wording": None},
        "grant without method": {"method": None},
        "revocation citing wording": {"action": "revoke", "method": None},
        "lead of another workspace": {"lead": foreign_lead},
        "wording of another workspace": {"wording": foreign},
        "evidence not an object": {"evidence": '["192.0.2.1"]'},
        "evidence not JSON": {"evidence": "{ip"},
        "said in the future": {"captured_at": "2099-01-01T00:00:00"},
        "unknown lead": {"lead": 999999},
    }[case]
    response = await admin.submit("record-consent", **{**valid, **changes})
    assert response.status_code == 422
    assert message.format(other=other, acme=acme, foreign=foreign) in messages(response)
    assert await events(connection) == []


# --- the workspace's consent settings ----------------------------------------------------------


async def test_consent_settings_are_edited_with_the_workspace(admin, connection, acme):
    response = await admin.edit(
        "workspace", acme, consent_required=False, opt_in_words=["YES", "START"]
    )
    assert response.status_code == 200, response.text
    row = await connection.fetchrow(
        "SELECT consent_required, opt_in_words::text FROM workspace WHERE id = $1", acme
    )
    assert tuple(row) == (False, '["YES", "START"]')


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"opt_in_words": ["YES", "stop!"]}, "['stop!'] are opt-out words too"),
        ({"opt_out_words": ["STOP", "YES"], "opt_in_words": ["yes"]}, "are opt-out words too"),
        ({"opt_in_words": ["Yes", "YES "]}, "words appear more than once (in any case)"),
        ({"opt_in_words": ["!!"]}, "'!!' is not a word with a letter or digit"),
        ({"opt_in_words": "YES"}, "Unable to parse the JSON"),
        ({"opt_in_words": {"word": "YES"}}, "must be a list of words"),
        ({"opt_out_words": ["STOP", "stop"]}, "words appear more than once"),
    ],
)
async def test_bad_reply_words_are_refused_with_a_reason(admin, connection, acme, values, message):
    before = await factories.table_snapshot(connection, "workspace")
    response = await admin.edit("workspace", acme, **values)
    assert response.status_code == 422
    assert message in messages(response)
    assert await factories.table_snapshot(connection, "workspace") == before


async def test_a_new_workspace_cannot_opt_in_with_an_opt_out_word(admin, connection):
    response = await admin.create(
        "workspace", name="Acme", timezone="UTC", opt_in_words=["END"], opt_out_words=["END"]
    )
    assert response.status_code == 422
    assert "['END'] are opt-out words too" in messages(response)
    assert await factories.table_snapshot(connection, "workspace") == []
