"""Sending moves the funnel: a `model` message recorded under a follow-up permit moves
its lead from NEW to CONTACTED in the same statement, recorded in the change log as
the request's caller, through either lane of the API; no other stage moves, a reply
moves nothing, and a failed delivery afterwards leaves CONTACTED but shows on the
lead's page."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from app.admin.lead_page import LEAD_PAGE_PATH
from app.conversations import append_message
from app.enums import ChatRole, LeadStage
from app.main import app
from app.settings import settings
from app.tokens import create_token
from tests import factories
from tests.locks import waiting_for
from tests.test_api_lanes import without_fast_lane
from tests.test_lead_page import text_of
from tests.test_whatsapp import PHONE_NUMBER_ID, SECRET, TOKEN, deliver, payload

NUMBER = "+60123456789"
LANES = {"fast lane": lambda: app, "FastAPI": without_fast_lane}


@pytest.fixture(autouse=True)
def whatsapp_on(monkeypatch):
    monkeypatch.setenv("WHATSAPP_APP_SECRET", SECRET)
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", TOKEN)
    settings.cache_clear()


@pytest.fixture
async def acme(connection) -> int:
    workspace_id = await factories.workspace(connection, "Acme")
    await factories.insert(
        connection,
        "whatsapp_number",
        workspace_id=workspace_id,
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="15550783881",
    )
    return workspace_id


@pytest.fixture(params=list(LANES))
async def api(request, acme) -> AsyncIterator[httpx.AsyncClient]:
    """The workspace's API caller, through the fast lane or FastAPI alone."""
    issued = await create_token(acme, "sender")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=LANES[request.param]()),
        base_url="http://testserver/api/v1",
        headers={"Authorization": f"Bearer {issued.secret}"},
    ) as client:
        yield client


@pytest.fixture
async def meta() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver/api/v1"
    ) as client:
        yield client


async def lead_in(connection: asyncpg.Connection, workspace_id: int, stage: str) -> dict:
    """A lead at ``stage``, its thread, and a follow-up permit for it."""
    values = {"stage_before_takeover": "CONTACTED"} if stage == LeadStage.TAKE_OVER else {}
    lead_id = await factories.lead(connection, workspace_id, NUMBER, stage=stage, **values)
    thread_id = await factories.thread(connection, workspace_id, lead_id)
    permit_id = await factories.permit(connection, workspace_id, lead_id)
    return {"lead": lead_id, "thread": thread_id, "permit": permit_id}


async def stage_of(connection: asyncpg.Connection, lead_id: int) -> str:
    return await connection.fetchval("SELECT stage FROM lead WHERE id = $1", lead_id)


async def lead_edits(connection: asyncpg.Connection, lead_id: int) -> list[dict]:
    rows = await connection.fetch(
        "SELECT actor_kind, actor, action, changes FROM change_log "
        "WHERE table_name = 'lead' AND operation = 'EDIT' AND row_id = $1 ORDER BY id",
        lead_id,
    )
    return [{**row, "changes": json.loads(row["changes"])} for row in rows]


async def send(api: httpx.AsyncClient, sent: dict, permit_id: int | None = None) -> httpx.Response:
    body = {
        "role": "model",
        "content": "Hello from Acme",
        "permit_id": permit_id or sent["permit"],
        "platform_message_id": "wamid.FOLLOWUP",
    }
    return await api.post(f"/threads/{sent['thread']}/messages", json=body)


async def test_a_follow_up_sent_to_a_new_lead_makes_it_contacted_as_the_caller(
    connection, acme, api
):
    sent = await lead_in(connection, acme, LeadStage.NEW)
    response = await send(api, sent)
    assert response.status_code == 201, response.text
    assert await stage_of(connection, sent["lead"]) == LeadStage.CONTACTED
    [edit] = await lead_edits(connection, sent["lead"])
    assert edit == {
        "actor_kind": "API_TOKEN",
        "actor": "sender",
        "action": f"POST /api/v1/threads/{sent['thread']}/messages",
        "changes": {"stage": {"old": "NEW", "new": "CONTACTED"}},
    }
    # The message and the move are one change: the message's creation is logged too.
    created = await connection.fetchval(
        "SELECT actor FROM change_log WHERE table_name = 'chat_message' AND operation = 'CREATE'"
    )
    assert created == "sender"


@pytest.mark.parametrize(
    "stage",
    [stage for stage in LeadStage if stage is not LeadStage.NEW],
)
async def test_a_follow_up_moves_no_other_stage(connection, acme, api, stage):
    sent = await lead_in(connection, acme, stage)
    response = await send(api, sent)
    assert response.status_code == 201, response.text
    assert await stage_of(connection, sent["lead"]) == stage
    assert await lead_edits(connection, sent["lead"]) == []


async def test_a_reply_moves_nothing(connection, acme, api):
    sent = await lead_in(connection, acme, LeadStage.NEW)
    reply = await factories.policy_decision(
        connection,
        acme,
        sent["lead"],
        kind="reply",
        reason_code="POLICY_PASSED",
        message_format="free_form",
    )
    response = await send(api, sent, reply)
    assert response.status_code == 201, response.text
    assert await stage_of(connection, sent["lead"]) == LeadStage.NEW
    assert await lead_edits(connection, sent["lead"]) == []


async def test_a_refused_message_moves_nothing(connection, acme, api):
    sent = await lead_in(connection, acme, LeadStage.NEW)
    expired = await factories.policy_decision(
        connection,
        acme,
        sent["lead"],
        kind="followup",
        reason_code="POLICY_PASSED",
        message_format="template",
        created_at=datetime.now(UTC) - timedelta(minutes=20),
    )
    response = await send(api, sent, expired)
    assert response.status_code == 409, response.text
    assert await stage_of(connection, sent["lead"]) == LeadStage.NEW
    assert await lead_edits(connection, sent["lead"]) == []
    assert await connection.fetchval("SELECT count(*) FROM chat_message") == 0


async def test_a_later_stage_written_meanwhile_is_kept(connection, acme):
    """The move reads the lead's stage when it writes: a lead that wrote back
    (ENGAGED) between the permit and the send stays ENGAGED."""
    sent = await lead_in(connection, acme, LeadStage.NEW)
    await connection.execute("UPDATE lead SET stage = 'ENGAGED' WHERE id = $1", sent["lead"])
    await append_message(acme, sent["thread"], ChatRole.MODEL, "Hi", permit_id=sent["permit"])
    assert await stage_of(connection, sent["lead"]) == LeadStage.ENGAGED


async def test_a_lead_that_writes_back_while_the_follow_up_is_recorded_stays_engaged(
    connection, acme, fresh_database
):
    """The race: the inbound message's transaction holds the lead (NEW -> ENGAGED) while
    the follow-up is recorded; once it commits, the move finds the lead no longer NEW."""
    sent = await lead_in(connection, acme, LeadStage.NEW)
    writer = await asyncpg.connect(fresh_database)
    transaction = writer.transaction()
    await transaction.start()
    try:
        await writer.execute("UPDATE lead SET stage = 'ENGAGED' WHERE id = $1", sent["lead"])
        recording = asyncio.create_task(
            append_message(acme, sent["thread"], ChatRole.MODEL, "Hi", permit_id=sent["permit"])
        )
        await waiting_for(writer, 1)
        await transaction.commit()
        message = await recording
    finally:
        await writer.close()
    assert message["permit_id"] == sent["permit"]
    assert await stage_of(connection, sent["lead"]) == LeadStage.ENGAGED
    assert [edit["changes"] for edit in await lead_edits(connection, sent["lead"])] == [
        {"stage": {"old": "NEW", "new": "ENGAGED"}}
    ]


async def test_a_failed_delivery_keeps_contacted_and_shows_on_the_lead(
    connection, acme, api, meta, admin
):
    sent = await lead_in(connection, acme, LeadStage.NEW)
    assert (await send(api, sent)).status_code == 201
    failed_at = int((datetime.now(UTC) + timedelta(seconds=5)).timestamp())
    report = [
        {
            "id": "wamid.FOLLOWUP",
            "status": "failed",
            "timestamp": str(failed_at),
            "recipient_id": NUMBER.removeprefix("+"),
            "errors": [
                {
                    "code": 131026,
                    "title": "Message undeliverable",
                    "message": "Message undeliverable",
                    "error_data": {"details": "Message Undeliverable."},
                }
            ],
        }
    ]
    assert (await deliver(meta, payload(statuses=report))).json()["statuses"] == 1
    message = await connection.fetchrow(
        "SELECT delivery_status, delivery_error_code FROM chat_message"
    )
    assert tuple(message) == ("failed", 131026)
    assert await stage_of(connection, sent["lead"]) == LeadStage.CONTACTED

    page = await admin.http.get(f"{LEAD_PAGE_PATH}{sent['lead']}/")
    assert page.status_code == 200, page.text
    assert "We sent: “Hello from Acme” failed: 131026 Message undeliverable" in text_of(page.text)
