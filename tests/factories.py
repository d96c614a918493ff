"""Rows written with plain SQL, the way psql or another service would."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app.tokens import token_hash


async def insert(connection: asyncpg.Connection, table: str, **values: Any) -> int:
    """INSERT one row; JSON-able dicts and lists are sent as jsonb. Returns its id."""
    columns = ", ".join(f'"{name}"' for name in values)
    placeholders = ", ".join(
        f"${index}::jsonb" if isinstance(value, dict | list) else f"${index}"
        for index, value in enumerate(values.values(), start=1)
    )
    arguments = [
        json.dumps(value) if isinstance(value, dict | list) else value for value in values.values()
    ]
    return await connection.fetchval(
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING id",
        *arguments,
    )


async def workspace(connection: asyncpg.Connection, name: str = "Acme", **values: Any) -> int:
    """A workspace; unlike the table's default, it requires no recorded consent unless
    the test says ``consent_required=True``: the tests of other rules are about those
    rules, and the consent tests turn it on (tests/test_consent_ledger.py)."""
    values.setdefault("consent_required", False)
    return await insert(connection, "workspace", name=name, **values)


async def workspace_with_token(connection: asyncpg.Connection, name: str, secret: str) -> int:
    """A workspace and an API token whose secret the caller chose."""
    workspace_id = await workspace(connection, name)
    await insert(
        connection,
        "api_token",
        workspace_id=workspace_id,
        name="tests",
        token_hash=token_hash(secret),
    )
    return workspace_id


async def lead(
    connection: asyncpg.Connection,
    workspace_id: int,
    external_id: str = "+15550001",
    **values: Any,
) -> int:
    return await insert(
        connection, "lead", workspace_id=workspace_id, external_id=external_id, **values
    )


async def strategy_version(
    connection: asyncpg.Connection,
    workspace_id: int,
    version_number: int = 1,
    **values: Any,
) -> int:
    values.setdefault("followup_preset", "BALANCED")
    return await insert(
        connection,
        "strategy_version",
        workspace_id=workspace_id,
        version_number=version_number,
        **values,
    )


async def thread(
    connection: asyncpg.Connection, workspace_id: int, lead_id: int, **values: Any
) -> int:
    return await insert(
        connection,
        "conversation_thread",
        workspace_id=workspace_id,
        lead_id=lead_id,
        **values,
    )


async def chat_message(connection: asyncpg.Connection, thread_id: int, **values: Any) -> int:
    values.setdefault("role", "user")
    values.setdefault("content", "Hello")
    return await insert(connection, "chat_message", thread_id=thread_id, **values)


async def policy_decision(
    connection: asyncpg.Connection, workspace_id: int, lead_id: int, **values: Any
) -> int:
    values.setdefault("allow_send", True)
    values.setdefault("reason_code", "WITHIN_WINDOW")
    return await insert(
        connection,
        "policy_decision",
        workspace_id=workspace_id,
        lead_id=lead_id,
        **values,
    )


async def permit(connection: asyncpg.Connection, workspace_id: int, lead_id: int) -> int:
    """A send permit as the policy engine records it (an allowed follow-up decision)."""
    return await policy_decision(
        connection,
        workspace_id,
        lead_id,
        kind="followup",
        reason_code="POLICY_PASSED",
        message_format="template",
    )


async def attestation(connection: asyncpg.Connection, workspace_id: int, **values: Any) -> int:
    values.setdefault("operator_id", "operator@example.com")
    return await insert(connection, "outreach_attestation", workspace_id=workspace_id, **values)


async def consent_wording(
    connection: asyncpg.Connection, workspace_id: int, business_name: str = "Acme", **values: Any
) -> int:
    """A wording version (the database numbers and hashes it) that names the business."""
    values.setdefault("text", f"Yes, {business_name} may send me offers on WhatsApp.")
    return await insert(
        connection,
        "consent_wording",
        workspace_id=workspace_id,
        business_name=business_name,
        **values,
    )


async def consent_grant(
    connection: asyncpg.Connection, workspace_id: int, lead_id: int, wording_id: int, **values: Any
) -> int:
    """A marketing grant on a checkbox, said an hour ago."""
    values.setdefault("method", "checkbox")
    return await consent_event(
        connection, workspace_id, lead_id, "grant", HOUR, wording_id=wording_id, **values
    )


async def consent_revocation(
    connection: asyncpg.Connection, workspace_id: int, lead_id: int, **values: Any
) -> int:
    """A marketing revocation (it cites no wording), said half an hour ago."""
    return await consent_event(connection, workspace_id, lead_id, "revoke", HOUR / 2, **values)


HOUR = timedelta(hours=1)


async def consent_event(
    connection: asyncpg.Connection,
    workspace_id: int,
    lead_id: int,
    action: str,
    said_ago: timedelta,
    **values: Any,
) -> int:
    """A marketing consent event the person made ``said_ago``, unless ``values`` say."""
    values.setdefault("purpose", "marketing")
    values.setdefault("captured_at", datetime.now(UTC) - said_ago)
    return await insert(
        connection,
        "consent_event",
        workspace_id=workspace_id,
        lead_id=lead_id,
        action=action,
        **values,
    )


async def table_snapshot(connection: asyncpg.Connection, table: str) -> list[dict[str, Any]]:
    """Every row of a table, in id order, to prove a refused write changed nothing."""
    rows = await connection.fetch(f"SELECT * FROM {table} ORDER BY id")
    return [dict(row) for row in rows]
