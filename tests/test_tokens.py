"""API tokens from the command line and the admin: create (printed once) with scopes and
an expiry, list, revoke."""

import asyncpg
import pytest

from tests.api_client import ApiClient
from tests.database_setup import piccolo


async def test_create_list_and_revoke_from_the_command_line(migrated_scratch_database):
    connection = await asyncpg.connect(migrated_scratch_database)
    try:
        workspace_id = await connection.fetchval(
            "INSERT INTO workspace (name) VALUES ('Acme') RETURNING id"
        )
    finally:
        await connection.close()

    created = piccolo(
        migrated_scratch_database,
        "masterplan",
        "create-token",
        f"--workspace_id={workspace_id}",
        "--name=engine",
    )
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("mp_") and len(secret) > 40

    listed = piccolo(migrated_scratch_database, "masterplan", "list-tokens")
    assert "engine" in listed.stdout and "live" in listed.stdout
    assert secret not in listed.stdout

    revoked = piccolo(migrated_scratch_database, "masterplan", "revoke-token", "--token_id=1")
    again = piccolo(migrated_scratch_database, "masterplan", "revoke-token", "--token_id=1")
    assert revoked.stdout.strip() == "Token 1 revoked."
    assert again.stdout.strip() == "Token 1 was already revoked."
    assert "revoked" in piccolo(migrated_scratch_database, "masterplan", "list-tokens").stdout


async def test_a_token_for_a_missing_workspace_is_refused_in_one_line(migrated_scratch_database):
    result = piccolo(
        migrated_scratch_database, "masterplan", "create-token", "--workspace_id=404", check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "masterplan: workspace 404 does not exist"
    connection = await asyncpg.connect(migrated_scratch_database)
    try:
        assert await connection.fetchval("SELECT count(*) FROM api_token") == 0
    finally:
        await connection.close()


async def test_a_printed_token_opens_the_api(connection):
    from app.tokens import create_token

    workspace_id = await connection.fetchval(
        "INSERT INTO workspace (name) VALUES ('Acme') RETURNING id"
    )
    issued = await create_token(workspace_id, "engine")
    client = ApiClient(issued.secret)
    response = await client.get("/workspace")
    await client.http.aclose()
    assert response.json()["id"] == workspace_id


async def test_revoking_an_unknown_token_is_refused_in_one_line(connection, fresh_database):
    workspace_id = await connection.fetchval(
        "INSERT INTO workspace (name) VALUES ('Acme') RETURNING id"
    )
    live = piccolo(
        fresh_database, "masterplan", "create-token", f"--workspace_id={workspace_id}", "--name=a"
    )
    assert live.returncode == 0
    before = await connection.fetch("SELECT id, revoked_at FROM api_token ORDER BY id")

    result = piccolo(fresh_database, "masterplan", "revoke-token", "--token_id=999", check=False)

    assert result.returncode == 1
    assert result.stderr.strip() == "masterplan: token 999 does not exist"
    assert await connection.fetch("SELECT id, revoked_at FROM api_token ORDER BY id") == before
    assert [row["revoked_at"] for row in before] == [None]


# --- scopes and expiry at creation -------------------------------------------------------------


async def _fetch(url: str, sql: str) -> list[asyncpg.Record]:
    """Rows read on a connection of its own (the commands run in other processes)."""
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(sql)
    finally:
        await connection.close()


async def _workspace(url: str) -> int:
    rows = await _fetch(url, "INSERT INTO workspace (name) VALUES ('Acme') RETURNING id")
    return rows[0]["id"]


def _create(url: str, workspace_id: int, *options: str, check: bool = True):
    """``create-token`` for the workspace, with ``options``."""
    arguments = ("masterplan", "create-token", f"--workspace_id={workspace_id}", *options)
    return piccolo(url, *arguments, check=check)


async def _tokens(url: str) -> list[asyncpg.Record]:
    return await _fetch(
        url, "SELECT scopes, expires_at - created_at AS lifetime, expires_at FROM api_token"
    )


async def test_scopes_and_a_lifetime_are_chosen_at_creation(migrated_scratch_database):
    workspace_id = await _workspace(migrated_scratch_database)
    created = _create(
        migrated_scratch_database,
        workspace_id,
        "--name=engine",
        "--scope=send",
        "--scope=read",
        "--expires-in=30d",
    )
    assert created.stdout.strip().splitlines()[-1].startswith("mp_")
    [token] = await _tokens(migrated_scratch_database)
    assert token["scopes"] == ["read", "send"]
    # created_at and expires_at come from two clocks a moment apart.
    assert abs(token["lifetime"].total_seconds() - 30 * 86400) < 60
    listed = piccolo(migrated_scratch_database, "masterplan", "list-tokens").stdout
    assert "read,send" in listed and "live until" in listed and "never used" in listed


async def test_an_expiry_instant_and_listed_scopes_are_accepted(migrated_scratch_database):
    workspace_id = await _workspace(migrated_scratch_database)
    _create(
        migrated_scratch_database,
        workspace_id,
        "--scope=admin,write",
        "--expires_at=2099-01-31T00:00Z",
    )
    [token] = await _tokens(migrated_scratch_database)
    assert token["scopes"] == ["write", "admin"]
    assert token["expires_at"].isoformat() == "2099-01-31T00:00:00+00:00"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--scope=root"],
            "--scope: unknown scope 'root': the scopes are read, write, send, admin",
        ),
        (["--scope"], "--scope needs a value, e.g. --scope=read"),
        (["--expires-in=soon"], "--expires-in must be a whole number of m, h, d or w, e.g. 30d"),
        (["--expires-in=0d"], "--expires-in must be a whole number of m, h, d or w, e.g. 30d"),
        (["--expires-at=tomorrow"], "--expires-at must be an ISO 8601 instant"),
        (
            ["--expires-at=2020-01-01T00:00Z"],
            "--expires-at: the expiry 2020-01-01T00:00:00+00:00 is not",
        ),
        (["--expires-at=2099-01-01T00:00"], "--expires-at: an expiry needs a time zone"),
        (["--expires-in=1d", "--expires-at=2099-01-01T00:00Z"], "give --expires-in or"),
        (["--lifetime=1d"], "create-token takes no option --lifetime"),
    ],
)
async def test_a_bad_scope_or_expiry_is_one_line_and_writes_nothing(
    migrated_scratch_database, options, message
):
    workspace_id = await _workspace(migrated_scratch_database)
    result = _create(migrated_scratch_database, workspace_id, *options, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"masterplan: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert await _tokens(migrated_scratch_database) == []


# --- the admin's token forms -------------------------------------------------------------------


async def test_the_admin_issues_a_scoped_expiring_token_shown_once(admin, connection):
    workspace_id = await connection.fetchval(
        "INSERT INTO workspace (name) VALUES ('Acme') RETURNING id"
    )
    answer = await admin.submit(
        "create-api-token",
        workspace=workspace_id,
        name="engine",
        read=True,
        send=True,
        expires_at="2099-01-31T00:00:00",
    )
    assert answer.status_code == 200, answer.text
    message = answer.json()["custom_form_success"]
    secret = message.rsplit(" ", 1)[-1]
    assert message.startswith(
        f"Token 1 (read, send; until 2099-01-31 00:00 UTC) for workspace {workspace_id}."
    )
    row = await connection.fetchrow("SELECT scopes, expires_at, token_hash FROM api_token")
    assert row["scopes"] == ["read", "send"]
    assert row["expires_at"].isoformat() == "2099-01-31T00:00:00+00:00"
    client = ApiClient(secret)
    assert (await client.get("/workspace")).status_code == 200
    assert (await client.patch("/workspace", {"name": "Other"})).status_code == 403
    await client.http.aclose()

    revoked = await admin.submit("revoke-api-token", token=1)
    assert revoked.json()["custom_form_success"] == "Token 1 revoked."
    assert await connection.fetchval("SELECT revoked_at IS NOT NULL FROM api_token")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "tick at least one scope: read, write, send or admin"),
        ({"read": True, "expires_at": "2020-01-01T00:00:00"}, "is not in the future"),
        ({"read": True, "workspace": 404}, "workspace 404 does not exist"),
    ],
)
async def test_the_admin_refuses_a_token_without_scopes_or_with_a_past_expiry(
    admin, connection, fields, message
):
    workspace_id = await connection.fetchval(
        "INSERT INTO workspace (name) VALUES ('Acme') RETURNING id"
    )
    answer = await admin.submit("create-api-token", **({"workspace": workspace_id} | fields))
    assert answer.status_code == 422
    assert message in answer.json()["custom_form_error"]
    assert await connection.fetchval("SELECT count(*) FROM api_token") == 0
