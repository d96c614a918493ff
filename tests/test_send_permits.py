"""Every `model` message is sent under a permit: refused without a valid one by the
API (409 with the reason) and by the database itself (direct SQL)."""

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from app.enums import SendKind
from app.policy import engine
from tests import factories
from tests.policy_setup import inbound, london_lead

NOW = datetime.now(UTC)


pytestmark = pytest.mark.usefixtures("replayed_decisions")


@pytest.fixture
async def conversation(connection, acme) -> dict:
    """A lead who wrote an hour ago, its thread, and a reply permit for it."""
    lead_id = await london_lead(connection, acme)
    thread_id = await inbound(connection, acme, lead_id, datetime.now(UTC) - timedelta(hours=1))
    permit = await engine.request_permit(acme, lead_id, SendKind.REPLY)
    assert permit["allow_send"], permit["summary"]
    return {"lead": lead_id, "thread": thread_id, "permit": permit["id"]}


async def model_messages(connection) -> list[dict]:
    rows = await connection.fetch("SELECT * FROM chat_message WHERE role = 'model' ORDER BY id")
    return [dict(row) for row in rows]


async def test_a_model_message_sent_under_its_permit_is_stored(connection, api, conversation):
    response = await api.post(
        f"/threads/{conversation['thread']}/messages",
        {"role": "model", "content": "Thanks for writing!", "permit_id": conversation["permit"]},
    )
    assert response.status_code == 201, response.text
    assert response.json()["permit_id"] == conversation["permit"]
    [stored] = await model_messages(connection)
    assert (stored["permit_id"], stored["content"]) == (
        conversation["permit"],
        "Thanks for writing!",
    )


async def other_leads_permit(connection, acme) -> int:
    other = await london_lead(connection, acme, "+447700900002")
    await inbound(connection, acme, other, datetime.now(UTC) - timedelta(hours=1))
    return (await engine.request_permit(acme, other, SendKind.REPLY))["id"]


async def denied_decision(connection, acme) -> int:
    suppressed = await london_lead(connection, acme, "+447700900003", stage="SUPPRESSED")
    return (await engine.request_permit(acme, suppressed, SendKind.REPLY))["id"]


async def expired_permit(connection, acme, lead_id) -> int:
    twenty_minutes_ago = datetime.now(UTC) - timedelta(minutes=20)
    return (await engine.request_permit(acme, lead_id, SendKind.REPLY, at=twenty_minutes_ago))["id"]


async def used_permit(connection, acme, lead_id) -> int:
    return (await engine.request_permit(acme, lead_id, SendKind.REPLY))["id"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "needs a send permit"),
        ("other lead", "not for this thread's lead"),
        ("denied", "not a send permit"),
        ("expired", "expired"),
        ("used", "already used"),
        ("unknown", "names no policy decision"),
    ],
)
async def test_a_model_message_without_a_valid_permit_is_refused(
    connection, api, acme, conversation, case, message
):
    permit_id = await permit_for(case, connection, acme, conversation)
    if case == "used":
        await factories.chat_message(
            connection, conversation["thread"], role="model", permit_id=permit_id
        )
    before = await model_messages(connection)
    body = {"role": "model", "content": "Hello", "permit_id": permit_id}

    response = await api.post(f"/threads/{conversation['thread']}/messages", body)

    assert response.status_code == 409, response.text
    assert message in response.json()["error"]["message"]
    assert await model_messages(connection) == before


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("missing", asyncpg.CheckViolationError),
        ("other lead", asyncpg.IntegrityConstraintViolationError),
        ("denied", asyncpg.IntegrityConstraintViolationError),
        ("expired", asyncpg.IntegrityConstraintViolationError),
        ("used", asyncpg.UniqueViolationError),
        ("unknown", asyncpg.ForeignKeyViolationError),
    ],
)
async def test_the_database_refuses_the_same_messages(connection, acme, conversation, case, error):
    permit_id = await permit_for(case, connection, acme, conversation)
    if case == "used":
        await factories.chat_message(
            connection, conversation["thread"], role="model", permit_id=permit_id
        )
    before = await model_messages(connection)
    with pytest.raises(error):
        await factories.chat_message(
            connection, conversation["thread"], role="model", permit_id=permit_id
        )
    assert await model_messages(connection) == before


async def permit_for(case: str, connection, acme: int, conversation: dict) -> int | None:
    lead_id = conversation["lead"]
    if case == "missing":
        return None
    if case == "other lead":
        return await other_leads_permit(connection, acme)
    if case == "denied":
        return await denied_decision(connection, acme)
    if case == "expired":
        return await expired_permit(connection, acme, lead_id)
    if case == "used":
        return await used_permit(connection, acme, lead_id)
    return 999_999


@pytest.mark.parametrize("role", ["user", "system"])
async def test_only_model_messages_carry_a_permit(connection, api, conversation, role):
    response = await api.post(
        f"/threads/{conversation['thread']}/messages",
        {"role": role, "content": "x", "permit_id": conversation["permit"]},
    )
    assert response.status_code == 409  # a rule across fields: the schema cannot say it
    assert response.json()["error"]["fields"][0]["field"] == "permit_id"
    with pytest.raises(asyncpg.CheckViolationError):
        await factories.chat_message(
            connection, conversation["thread"], role=role, permit_id=conversation["permit"]
        )
    assert (
        await connection.fetchval("SELECT count(*) FROM chat_message WHERE permit_id IS NOT NULL")
        == 0
    )


async def test_user_and_system_messages_need_no_permit(connection, api, conversation):
    for role in ("user", "system"):
        response = await api.post(
            f"/threads/{conversation['thread']}/messages", {"role": role, "content": "hi"}
        )
        assert response.status_code == 201
    assert await connection.fetchval("SELECT count(*) FROM chat_message") == 3
