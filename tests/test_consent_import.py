"""The bulk import with consent: grants recorded with the rows, refusals that store
nothing, and an import repeated without duplicate grants."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from app import lead_import
from app.admin.csv_import import MAX_FILE_BODY_BYTES
from app.api.schemas import ImportLead
from app.enums import ChangeActorKind
from app.errors import NotFound
from tests import factories
from tests.api_client import client_for

SAID = datetime(2026, 11, 2, 10, 23, tzinfo=UTC)
EVENTS = (
    "SELECT lead.external_id, e.action, e.purpose, e.method, e.evidence, e.captured_at, "
    "e.wording_id, e.recorded_by_kind, e.recorded_by FROM consent_event AS e "
    "JOIN lead ON lead.id = e.lead_id ORDER BY lead.external_id, e.id"
)


@pytest.fixture
async def acme(connection) -> int:
    return await factories.workspace(connection, "Acme")


@pytest.fixture
async def api(acme):
    client = await client_for(acme)
    yield client
    await client.http.aclose()


async def wording(connection, workspace_id: int, text: str = "Acme may message you") -> int:
    """A new wording version of the workspace; its id."""
    return await factories.insert(
        connection, "consent_wording", workspace_id=workspace_id, business_name="Acme", text=text
    )


def consenting(number: str, said: datetime = SAID, **evidence: str) -> dict:
    return {
        "external_id": number,
        "consent": {
            "captured_at": said.isoformat(),
            "evidence": evidence or {"note": "newsletter form", "ip": "203.0.113.7"},
        },
    }


async def stored(connection) -> tuple[int, list[dict]]:
    leads = await connection.fetchval("SELECT count(*) FROM lead")
    return leads, [dict(row) for row in await connection.fetch(EVENTS)]


async def test_rows_with_consent_get_an_imported_grant(api, acme, connection):
    wording_id = await wording(connection, acme)
    rows = [
        consenting("+15550100001", ip="203.0.113.7", page_url="https://acme.example/join"),
        consenting("+15550100002", SAID + timedelta(hours=1), recording="calls/0002.mp3"),
        {"external_id": "+15550100003", "name": "No consent given"},
    ]
    response = await api.post("/leads/import", {"rows": rows, "consent_wording_version": 1})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["granted"], body["already_granted"]) == (3, 2, 0)
    assert [row["consent"] for row in body["results"]] == ["recorded", "recorded", None]

    leads, events = await stored(connection)
    assert leads == 3
    assert [event["external_id"] for event in events] == ["+15550100001", "+15550100002"]
    for event in events:
        assert (event["action"], event["purpose"], event["method"]) == (
            "grant",
            "marketing",
            "import",
        )
        assert event["wording_id"] == wording_id
        assert event["recorded_by_kind"] == ChangeActorKind.API_TOKEN
    assert json.loads(events[0]["evidence"]) == {
        "ip": "203.0.113.7",
        "page_url": "https://acme.example/join",
    }
    assert json.loads(events[1]["evidence"]) == {"recording": "calls/0002.mp3"}
    assert [event["captured_at"] for event in events] == [SAID, SAID + timedelta(hours=1)]


async def test_a_wording_of_another_workspace_is_not_found_and_nothing_is_stored(
    api, acme, connection
):
    other = await factories.workspace(connection, "Other")
    await wording(connection, other)
    body = {"rows": [consenting("+15550100001")], "consent_wording_version": 1}
    response = await api.post("/leads/import", body)
    assert response.status_code == 404, response.text
    assert "consent wording version 1 does not exist" in response.json()["error"]["message"]
    assert await stored(connection) == (0, [])


async def test_rows_with_bad_consent_are_refused_one_by_one(api, acme, connection):
    await wording(connection, acme)
    await wording(connection, acme, "Acme may message you, v2")
    future = datetime.now(UTC) + timedelta(hours=1)
    good = consenting("+15550100001")
    rows = [
        good,
        consenting("+15550100002", future),
        {"external_id": "+15550100003", "consent": {"captured_at": "2026-11-02 10:23"}},
        {"external_id": "+15550100004", "consent": {"captured_at": "yesterday", "evidence": {}}},
        {**consenting("+15550100005"), "consent": {**good["consent"], "evidence": {}}},
        {**consenting("+15550100006"), "consent": {**good["consent"], "evidence": ["a"]}},
        {**consenting("+15550100007"), "consent": {**good["consent"], "wording_version": 1}},
        {**consenting("+15550100008"), "consent": {**good["consent"], "evidence": {"n": "1"}}},
        {
            **consenting("+15550100009"),
            "consent": {**good["consent"], "evidence": {"ip": "1" * 46}},
        },
    ]
    response = await api.post("/leads/import", {"rows": rows, "consent_wording_version": 2})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [row["result"] for row in results] == ["created"] + ["rejected"] * 8
    reasons = [row["reason"] for row in results[1:]]
    assert "consent.captured_at" in reasons[0] and "in the future" in reasons[0]
    assert "consent.captured_at" in reasons[1] and "consent.evidence" in reasons[1]
    assert "consent.captured_at" in reasons[2]
    assert "consent.evidence" in reasons[3] and "at least one field" in reasons[3]
    assert "consent.evidence" in reasons[4]
    assert "consent.wording_version" in reasons[5] and "cites version 2" in reasons[5]
    assert reasons[6] == "consent.evidence.n: Extra inputs are not permitted"
    assert "consent.evidence.ip" in reasons[7] and "at most 45 characters" in reasons[7]

    leads, events = await stored(connection)
    assert leads == 1
    assert [event["external_id"] for event in events] == ["+15550100001"]


async def test_consent_without_a_wording_version_refuses_the_row(api, connection):
    rows = [consenting("+15550100001"), {"external_id": "+15550100002"}]
    response = await api.post("/leads/import", {"rows": rows})
    results = response.json()["results"]
    assert [row["result"] for row in results] == ["rejected", "created"]
    assert "names no consent wording version" in results[0]["reason"]
    leads, events = await stored(connection)
    assert (leads, events) == (1, [])


async def test_importing_the_same_rows_again_records_no_grant_twice(api, acme, connection):
    await wording(connection, acme)
    rows = [consenting(f"+1555010{n:04d}") for n in range(50)]
    body = {"rows": rows, "consent_wording_version": 1}
    first = (await api.post("/leads/import", body)).json()
    again = (await api.post("/leads/import", body)).json()
    assert (first["created"], first["granted"]) == (50, 50)
    assert (again["updated"], again["granted"], again["already_granted"]) == (50, 0, 50)
    leads, events = await stored(connection)
    assert (leads, len(events)) == (50, 50)

    # A later consent of the same person is a new event.
    later = {"rows": [consenting("+15550100000", SAID + timedelta(days=1))], **body}
    later["rows"] = [consenting("+15550100000", SAID + timedelta(days=1))]
    assert (await api.post("/leads/import", later)).json()["granted"] == 1
    assert len((await stored(connection))[1]) == 51


async def test_an_import_of_the_most_rows_with_consent(api, acme, connection):
    await wording(connection, acme)
    rows = [consenting(f"+1555{n:07d}", note=f"crm/{n}") for n in range(lead_import.IMPORT_LIMIT)]
    started = time.perf_counter()
    response = await api.post("/leads/import", {"rows": rows, "consent_wording_version": 1})
    seconds = time.perf_counter() - started
    assert response.status_code == 200
    assert response.json()["granted"] == lead_import.IMPORT_LIMIT
    assert seconds < 30, f"{seconds:.1f} s"
    grants = "SELECT count(*) FROM consent_event WHERE method = 'import'"
    assert await connection.fetchval(grants) == lead_import.IMPORT_LIMIT


async def test_a_preview_checks_every_row_and_writes_nothing(acme, connection):
    await wording(connection, acme)
    rows = [consenting("+15550100001"), {"external_id": "+15550100001"}, {"name": "no number"}]
    outcomes = await lead_import.import_rows(acme, rows, ImportLead, 1, preview=True)
    assert [outcome.result for outcome in outcomes] == ["valid", "rejected", "rejected"]
    assert outcomes[1].reason == "external_id repeats row 0"
    assert "external_id" in outcomes[2].reason
    assert await stored(connection) == (0, [])
    with pytest.raises(NotFound):
        await lead_import.import_rows(acme, rows, ImportLead, 2, preview=True)


async def test_a_batch_writes_its_rows_checked_against_the_whole_import(acme, connection):
    await wording(connection, acme)
    rows = [consenting(f"+1555010{n:04d}") for n in range(6)] + [consenting("+15550100000")]
    first = await lead_import.import_rows(acme, rows, ImportLead, 1, batch=range(0, 4))
    assert [outcome.index for outcome in first] == [0, 1, 2, 3]
    last = await lead_import.import_rows(acme, rows, ImportLead, 1, batch=range(4, 8))
    assert [(outcome.index, outcome.result) for outcome in last] == [
        (4, "created"),
        (5, "created"),
        (6, "rejected"),
    ]
    leads, events = await stored(connection)
    assert (leads, len(events)) == (6, 6)


# --- the admin's CSV import, in process (the browser drives it in test_csv_import_browser.py)

CSV_PATH = "/admin/csv-import/"
CSV = (
    "phone,full name,zone,opted in at,ip,form\n"
    "+15550100001,Ana,Europe/Lisbon,2026-11-02T10:23:00Z,203.0.113.7,signup\n"
    "+15550100002,Rui,Mars/Base,2026-11-02T10:24:00Z,203.0.113.8,signup\n"
    "+15550100003,Eva,,,,\n"
)
MAPPING = {
    "external_id": "phone",
    "name": "full name",
    "timezone": "zone",
    "captured_at": "opted in at",
    "evidence": {"ip": "ip", "note": "form"},
}


async def test_the_admin_csv_steps_need_the_session_and_the_csrf_header(admin, acme, connection):
    from tests.admin_client import anonymous_client

    body = {"workspace": acme, "csv": CSV, "mapping": MAPPING}
    without_csrf = await admin.http.post(f"{CSV_PATH}preview/", json=body)
    async with anonymous_client() as anonymous:
        await anonymous.get("/admin/")
        headers = {"X-CSRFToken": anonymous.cookies["csrftoken"]}
        logged_out = await anonymous.post(f"{CSV_PATH}import/", json=body, headers=headers)
        page = await anonymous.get(CSV_PATH)
    assert without_csrf.status_code == 403
    assert logged_out.status_code == 303 and page.status_code == 303
    assert await stored(connection) == (0, [])


async def test_the_admin_csv_preview_writes_nothing_then_the_import_records_grants(
    admin, acme, connection
):
    await wording(connection, acme)
    page = await admin.http.get(CSV_PATH)
    assert page.status_code == 200 and "Import leads with consent" in page.text
    assert (await admin.get("/links/")).json()["Import leads (CSV)"] == CSV_PATH
    body = {"workspace": acme, "csv": CSV, "mapping": MAPPING, "wording_version": 1}
    read = (await admin.http.post(f"{CSV_PATH}read/", json=body, headers=admin.headers)).json()
    assert (read["columns"][0], read["rows"]) == ("phone", 3)

    preview = await admin.http.post(f"{CSV_PATH}preview/", json=body, headers=admin.headers)
    assert preview.status_code == 200, preview.text
    assert (preview.json()["valid"], preview.json()["rejected"]) == (2, 1)
    [refusal] = preview.json()["refusals"]
    assert refusal["line"] == 3 and "Mars/Base" in refusal["reason"]
    assert await stored(connection) == (0, [])

    done = await admin.http.post(f"{CSV_PATH}import/", json=body, headers=admin.headers)
    assert done.status_code == 200, done.text
    assert {key: done.json()[key] for key in ("created", "rejected", "granted")} == {
        "created": 2,
        "rejected": 1,
        "granted": 1,
    }
    leads, events = await stored(connection)
    assert leads == 2
    [event] = events
    assert json.loads(event["evidence"]) == {"ip": "203.0.113.7", "note": "signup"}
    assert (event["recorded_by_kind"], event["recorded_by"]) == (ChangeActorKind.OPERATOR, "ana")


async def test_the_admin_csv_import_refuses_bad_input_with_4xx(admin, acme, connection):
    other = await factories.workspace(connection, "Other")
    await wording(connection, other)
    post = admin.http.post
    base = {"workspace": acme, "csv": CSV, "mapping": MAPPING}
    answers = [
        await post(
            f"{CSV_PATH}preview/", json={**base, "wording_version": 1}, headers=admin.headers
        ),
        await post(
            f"{CSV_PATH}import/", json={**base, "wording_version": 1}, headers=admin.headers
        ),
        await post(f"{CSV_PATH}read/", json={**base, "workspace": 999}, headers=admin.headers),
        await post(f"{CSV_PATH}read/", json={**base, "csv": ""}, headers=admin.headers),
        await post(f"{CSV_PATH}read/", json={**base, "csv": "a,a\n1,2\n"}, headers=admin.headers),
        await post(
            f"{CSV_PATH}preview/",
            json={**base, "mapping": {**MAPPING, "name": "nope"}},
            headers=admin.headers,
        ),
        await post(f"{CSV_PATH}preview/", json={**base, "batch": "x"}, headers=admin.headers),
        await post(
            f"{CSV_PATH}read/",
            json={**base, "csv": "n\n" + "+1\n" * (lead_import.IMPORT_LIMIT + 1)},
            headers=admin.headers,
        ),
    ]
    answers.append(await post(f"{CSV_PATH}preview/", headers=admin.headers))
    # A file of the import's most rows fits; a body past the page's own bound does not.
    huge = b'{"csv": "' + b"x" * MAX_FILE_BODY_BYTES + b'"}'
    too_large = await admin.http.post(f"{CSV_PATH}read/", content=huge, headers=admin.headers)
    assert too_large.status_code == 413
    assert [answer.status_code for answer in answers] == [404, 404, 404] + [422] * 6
    assert "consent wording version 1 does not exist" in answers[0].json()["detail"]
    assert "at most 10,000 rows" in answers[-2].json()["detail"]
    assert await stored(connection) == (0, [])
