"""API tokens from the command line: create (printed once), list, revoke."""

import asyncpg

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
