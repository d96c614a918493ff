"""API token scopes and expiry: every route declares one scope, the OpenAPI document
shows it, both lanes enforce it (403, nothing changed); an expired token gets 401;
a token's last use is noted at most once a minute, without waiting for a lock."""

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from app import tokens
from app.enums import TokenScope
from tests import factories
from tests.api_client import ApiClient

# The API's operations that take a token: all but the webhook's two.
SCOPED_OPERATIONS = 41
WEBHOOK_OPERATIONS = {
    ("get", "/integrations/whatsapp/webhook"),
    ("post", "/integrations/whatsapp/webhook"),
}


@pytest.fixture(autouse=True)
def tokens_looked_up_afresh():
    """Each request reads its token from the database, not from this process's memory."""
    tokens._live_tokens.clear()
    yield
    tokens._live_tokens.clear()


@pytest.fixture
async def acme(connection) -> int:
    """A workspace with a row of each kind the routes name by id 1 (or the first id)."""
    workspace_id = await factories.workspace(connection, "Acme")
    lead_id = await factories.lead(connection, workspace_id)
    await factories.thread(connection, workspace_id, lead_id)
    await factories.strategy_version(connection, workspace_id, 1)
    await factories.attestation(connection, workspace_id, granted=True)
    return workspace_id


def openapi_operations() -> list[tuple[str, str, dict]]:
    document = app_openapi()
    return [
        (method, path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def app_openapi() -> dict:
    from app.api.service import create_api

    return create_api().openapi()


async def snapshot(connection: asyncpg.Connection) -> dict[str, str]:
    """A digest of every table's rows (a token's last use left out): equal digests, no change."""
    tables = await connection.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    digests = {}
    for row in tables:
        table = row["tablename"]
        rows = f"(SELECT {_columns(table)} FROM {table}) AS t"
        digests[table] = await connection.fetchval(
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {rows}"
        )
    return digests


def _columns(table: str) -> str:
    if table == "api_token":
        return "id, workspace_id, name, token_hash, created_at, revoked_at, expires_at, scopes"
    return "*"


def concrete(path: str, lead_id: int, thread_id: int) -> str:
    for name in ("lead_id", "version_id", "decision_id", "version"):
        path = path.replace(f"{{{name}}}", str(lead_id))
    return (
        path.replace("{thread_id}", str(thread_id))
        .replace("{external_id}", "+15550001")
        .replace("{platform_user_id}", "15550001")
    )


def test_every_token_route_shows_its_one_scope_in_the_openapi_document():
    operations = openapi_operations()
    scheme = app_openapi()["components"]["securitySchemes"]["HTTPBearer"]
    assert scheme == {
        "type": "http",
        "scheme": "bearer",
        "description": scheme["description"],
    }
    unscoped = {(method, path) for method, path, op in operations if "x-scope" not in op}
    assert unscoped == WEBHOOK_OPERATIONS
    scoped = [(method, path, op) for method, path, op in operations if "x-scope" in op]
    assert len(scoped) == len(operations) - 2 == SCOPED_OPERATIONS
    for method, path, operation in scoped:
        scope = operation["x-scope"]
        assert scope in {member.value for member in TokenScope}, (method, path)
        assert operation["security"] == [{"HTTPBearer": [scope]}], (method, path)
        assert f"Token scope: `{scope}`" in operation["description"], (method, path)
    by_scope = {
        s.value: sorted(f"{m.upper()} {p}" for m, p, o in scoped if o["x-scope"] == s)
        for s in TokenScope
    }
    assert "PATCH /workspace" in by_scope["admin"] and "PUT /workspace/policy" in by_scope["admin"]
    assert "POST /leads/{lead_id}/send-permits" in by_scope["send"]
    assert "POST /followups/dispatch" in by_scope["send"]
    assert "POST /threads/{thread_id}/messages" in by_scope["send"]
    assert "PATCH /leads/{lead_id}" in by_scope["write"]
    assert "POST /strategies" in by_scope["write"]
    assert all(entry.startswith(("GET ", "POST /policy/simulate")) for entry in by_scope["read"])
    assert not any(
        entry.startswith("GET ") for s in ("write", "send", "admin") for entry in by_scope[s]
    )


async def test_every_route_refuses_a_token_without_its_scope_and_changes_nothing(connection, acme):
    lead_id = await connection.fetchval("SELECT min(id) FROM lead")
    thread_id = await connection.fetchval("SELECT min(id) FROM conversation_thread")
    clients = {
        scope: ApiClient(
            (await tokens.create_token(acme, f"all but {scope}", set(TokenScope) - {scope})).secret
        )
        for scope in TokenScope
    }
    refused = 0
    for method, path, operation in openapi_operations():
        if "x-scope" not in operation:
            continue
        scope = TokenScope(operation["x-scope"])
        before = await snapshot(connection)
        body = {} if method in ("post", "put", "patch") else None
        response = await clients[scope].request(
            method.upper(), concrete(path, lead_id, thread_id), json=body
        )
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"] == {
            "code": "forbidden",
            "message": f"{method.upper()} {path} needs a token with the '{scope}' scope",
            "fields": [],
        }
        assert response.headers["www-authenticate"] == (
            f'Bearer error="insufficient_scope", scope="{scope}"'
        )
        assert await snapshot(connection) == before, (method, path)
        refused += 1
    assert refused == SCOPED_OPERATIONS
    for client in clients.values():
        await client.http.aclose()


async def test_a_token_with_the_scope_passes_the_check_on_every_route(connection, acme):
    lead_id = await connection.fetchval("SELECT min(id) FROM lead")
    thread_id = await connection.fetchval("SELECT min(id) FROM conversation_thread")
    clients = {
        scope: ApiClient((await tokens.create_token(acme, scope.value, [scope])).secret)
        for scope in TokenScope
    }
    for method, path, operation in openapi_operations():
        if "x-scope" not in operation:
            continue
        body = {} if method in ("post", "put", "patch") else None
        response = await clients[TokenScope(operation["x-scope"])].request(
            method.upper(), concrete(path, lead_id, thread_id), json=body
        )
        assert response.status_code not in (401, 403), (method, path, response.text)
    for client in clients.values():
        await client.http.aclose()


async def test_the_fast_lane_refuses_a_valid_write_outside_the_tokens_scopes(connection, acme):
    reader = ApiClient((await tokens.create_token(acme, "reader", ["read"])).secret)
    writer = ApiClient((await tokens.create_token(acme, "writer", ["write"])).secret)
    lead_id = await connection.fetchval("SELECT min(id) FROM lead")
    before = await factories.table_snapshot(connection, "lead")

    upsert = await reader.put("/leads/by-external-id/+15550002", {"display_name": "Siti"})
    permit = await writer.post(f"/leads/{lead_id}/send-permits", {"kind": "followup"})
    read = await writer.get(f"/leads/{lead_id}")

    assert [upsert.status_code, permit.status_code, read.status_code] == [403, 403, 403]
    assert upsert.json()["error"]["message"] == (
        "PUT /leads/by-external-id/{external_id} needs a token with the 'write' scope"
    )
    assert await factories.table_snapshot(connection, "lead") == before
    assert await connection.fetchval("SELECT count(*) FROM policy_decision") == 0
    assert (await reader.get(f"/leads/{lead_id}")).status_code == 200
    await reader.http.aclose()
    await writer.http.aclose()


async def test_a_token_issued_before_scopes_existed_may_do_everything(connection, acme):
    await factories.insert(
        connection, "api_token", workspace_id=acme, token_hash=tokens.token_hash("mp_old")
    )
    assert await connection.fetchval("SELECT scopes FROM api_token") is None
    client = ApiClient("mp_old")
    changed = await client.patch("/workspace", {"name": "Acme Ltd"})
    listed = await client.get("/leads")
    assert (changed.status_code, listed.status_code) == (200, 200)
    assert await connection.fetchval("SELECT name FROM workspace WHERE id = $1", acme) == "Acme Ltd"
    await connection.execute("UPDATE api_token SET revoked_at = now()")
    tokens._live_tokens.clear()
    assert (await client.get("/leads")).status_code == 401
    await client.http.aclose()


async def test_an_expired_token_gets_401_on_both_lanes(connection, acme):
    lead_id = await connection.fetchval("SELECT min(id) FROM lead")
    await factories.insert(
        connection,
        "api_token",
        workspace_id=acme,
        token_hash=tokens.token_hash("mp_expired"),
        created_at=await connection.fetchval("SELECT now() - interval '2 days'"),
        expires_at=await connection.fetchval(
            "SELECT date_trunc('second', now() - interval '1 day')"
        ),
    )
    expired_at = await connection.fetchval("SELECT expires_at FROM api_token")
    client = ApiClient("mp_expired")
    before = await factories.table_snapshot(connection, "lead")
    answers = [
        await client.get(f"/leads/{lead_id}"),  # the fast lane's route
        await client.get("/workspace"),
        await client.put("/leads/by-external-id/+15550009", {}),
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 401]
    message = f"this token expired at {expired_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    assert [answer.json()["error"] for answer in answers] == [
        {"code": "unauthorized", "message": message, "fields": []}
    ] * 3
    assert await factories.table_snapshot(connection, "lead") == before
    await client.http.aclose()


async def test_a_token_expiring_later_works_until_then(connection, acme):
    issued = await tokens.create_token(
        acme, "soon", ["read"], datetime.now(UTC) + timedelta(days=1)
    )
    client = ApiClient(issued.secret)
    assert (await client.get("/workspace")).status_code == 200
    await connection.execute(
        "UPDATE api_token SET created_at = now() - interval '2 days', "
        "expires_at = now() - interval '1 second' WHERE id = $1",
        issued.id,
    )
    tokens._live_tokens.clear()
    assert (await client.get("/workspace")).status_code == 401
    await client.http.aclose()


async def test_the_database_keeps_scopes_to_the_known_ones(connection, acme):
    for bad in (["root"], [], ["read", None], ["read", "READ"]):
        with pytest.raises(asyncpg.CheckViolationError) as refused:
            await connection.execute(
                "INSERT INTO api_token (workspace_id, token_hash, scopes) "
                "VALUES ($1, repeat('b', 64), $2::varchar[])",
                acme,
                bad,
            )
        assert refused.value.constraint_name == "api_token_scopes_known"
    with pytest.raises(asyncpg.CheckViolationError) as refused:
        await connection.execute(
            "INSERT INTO api_token (workspace_id, token_hash, expires_at) "
            "VALUES ($1, repeat('a', 64), now() - interval '1 hour')",
            acme,
        )
    assert refused.value.constraint_name == "api_token_expires_after_creation"
    assert await connection.fetchval("SELECT count(*) FROM api_token") == 0


# --- last use ------------------------------------------------------------------------------------


async def last_used(connection, token_id: int):
    return await connection.fetchval("SELECT last_used_at FROM api_token WHERE id = $1", token_id)


async def test_last_use_is_noted_at_most_once_a_minute_and_not_in_the_change_log(connection, acme):
    issued = await tokens.create_token(acme, "engine", ["read", "write"])
    client = ApiClient(issued.secret)
    assert await last_used(connection, issued.id) is None

    assert (await client.get("/workspace")).status_code == 200
    first = await last_used(connection, issued.id)
    assert first is not None
    for _ in range(3):
        tokens._live_tokens.clear()
        assert (await client.get("/leads")).status_code == 200
        assert (await client.post("/leads", {"external_id": f"+1555{_}"})).status_code == 201
    assert await last_used(connection, issued.id) == first

    await connection.execute(
        "UPDATE api_token SET last_used_at = last_used_at - interval '61 seconds' WHERE id = $1",
        issued.id,
    )
    tokens._live_tokens.clear()
    assert (await client.post("/leads", {"external_id": "+15559"})).status_code == 201
    assert await last_used(connection, issued.id) > first

    edits = "SELECT count(*) FROM change_log WHERE table_name = 'api_token' AND operation = 'EDIT'"
    assert await connection.fetchval(edits) == 0
    await connection.execute("UPDATE api_token SET name = 'outreach engine'")
    assert await connection.fetchval(edits) == 1  # other changes to a token are recorded
    await client.http.aclose()


async def test_a_request_does_not_wait_for_another_noting_the_same_tokens_use(
    connection, fresh_database, acme
):
    """SKIP LOCKED: without it the request would wait for the holder's transaction."""
    issued = await tokens.create_token(acme, "engine", ["read"])
    client = ApiClient(issued.secret)
    holder = await asyncpg.connect(fresh_database)
    try:
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM api_token WHERE id = $1 FOR UPDATE", issued.id)
            answer = await asyncio.wait_for(client.get("/workspace"), timeout=30)
        assert answer.status_code == 200
        assert await last_used(connection, issued.id) is None  # the holder was noting it
    finally:
        await holder.close()
        await client.http.aclose()
