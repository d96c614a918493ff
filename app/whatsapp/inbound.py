"""Store a webhook payload: one transaction, all or nothing, each message once.

Per message: the lead (found or created by its E.164 number), its open thread
(found or created), the `user` message (unique by the platform's id), and the
lead's effects: NEW or CONTACTED becomes ENGAGED, NO_RESPONSE goes, and a whole
message that is an opt-out word adds DISCONNECT. The lead row is locked first,
so concurrent deliveries from one sender create one lead and one thread.
"""

import json
import logging
import string
from dataclasses import dataclass, field

import asyncpg

from app.database import transaction
from app.enums import ChatRole, LeadStage, LeadTag
from app.phone_numbers import normalized_external_id
from app.whatsapp.payload import InboundMessage, StatusUpdate

log = logging.getLogger("masterplan.whatsapp")

ROUTE = (
    "SELECT n.workspace_id, w.opt_out_words FROM whatsapp_number n "
    "JOIN workspace w ON w.id = n.workspace_id WHERE n.phone_number_id = $1"
)
# Creates the lead or locks it; the profile name fills an empty name only.
LEAD = (
    "INSERT INTO lead (workspace_id, external_id, name) VALUES ($1, $2, $3) "
    "ON CONFLICT (workspace_id, external_id) DO UPDATE "
    "SET name = coalesce(nullif(lead.name, ''), EXCLUDED.name) RETURNING id"
)
OPEN_THREAD = (
    "SELECT id FROM conversation_thread WHERE lead_id = $1 AND status = 'active' "
    "ORDER BY id DESC LIMIT 1"
)
NEW_THREAD = "INSERT INTO conversation_thread (workspace_id, lead_id) VALUES ($1, $2) RETURNING id"
MESSAGE = (
    "INSERT INTO chat_message (thread_id, role, content, platform_message_id, "
    f"platform_payload, created_at) VALUES ($1, '{ChatRole.USER}', $2, $3, $4::jsonb, $5) "
    "ON CONFLICT (platform_message_id) DO NOTHING RETURNING id"
)
ENGAGING_STAGES = (LeadStage.NEW, LeadStage.CONTACTED)
LEAD_EFFECTS = f"""
UPDATE lead SET
    stage = CASE WHEN stage IN ({", ".join(f"'{s}'" for s in ENGAGING_STAGES)})
                 THEN '{LeadStage.ENGAGED}' ELSE stage END,
    tags = (tags - '{LeadTag.NO_RESPONSE}')
           || CASE WHEN $2 AND NOT tags @> '["{LeadTag.DISCONNECT}"]'
                   THEN '["{LeadTag.DISCONNECT}"]'::jsonb ELSE '[]'::jsonb END
WHERE id = $1
"""
DELIVERY = (
    "UPDATE chat_message SET delivery_status = $2, delivery_status_at = $3 "
    f"WHERE platform_message_id = $1 AND role = '{ChatRole.MODEL}' "
    "AND (delivery_status_at IS NULL OR delivery_status_at <= $3)"
)
IGNORED = string.whitespace + string.punctuation


@dataclass
class Receipt:
    """What one payload changed."""

    stored: int = 0
    duplicates: int = 0
    statuses: int = 0
    unknown_numbers: list[str] = field(default_factory=list)


def is_opt_out(text: str | None, words: list[str]) -> bool:
    """The whole message is one of the words: any case, spaces and punctuation ignored."""
    if text is None:
        return False
    return text.strip(IGNORED).casefold() in {word.strip(IGNORED).casefold() for word in words}


async def receive(messages: list[InboundMessage], statuses: list[StatusUpdate]) -> Receipt:
    """Store a payload's messages and status reports in one transaction."""
    receipt = Receipt()
    async with transaction() as connection:
        routes: dict[str, asyncpg.Record | None] = {}
        for message in messages:
            route = await _route(connection, routes, message.phone_number_id, receipt)
            if route is not None:
                stored = await _store(connection, route, message)
                receipt.stored += stored
                receipt.duplicates += not stored
        for status in statuses:
            if await _route(connection, routes, status.phone_number_id, receipt) is not None:
                result = await connection.execute(
                    DELIVERY, status.platform_message_id, status.status.value, status.at
                )
                receipt.statuses += int(result.split()[-1])
    return receipt


async def _route(connection, routes, phone_number_id: str, receipt: Receipt):
    if phone_number_id not in routes:
        routes[phone_number_id] = await connection.fetchrow(ROUTE, phone_number_id)
        if routes[phone_number_id] is None:
            # Acknowledged so that Meta stops retrying; said once per payload.
            log.warning("WhatsApp payload for unknown phone_number_id %s ignored", phone_number_id)
            receipt.unknown_numbers.append(phone_number_id)
    return routes[phone_number_id]


async def _store(connection: asyncpg.Connection, route, message: InboundMessage) -> bool:
    workspace_id = route["workspace_id"]
    external_id = normalized_external_id(message.sender)
    lead_id = await connection.fetchval(LEAD, workspace_id, external_id, message.sender_name)
    thread_id = await connection.fetchval(OPEN_THREAD, lead_id) or await connection.fetchval(
        NEW_THREAD, workspace_id, lead_id
    )
    message_id = await connection.fetchval(
        MESSAGE,
        thread_id,
        message.content,
        message.platform_message_id,
        json.dumps(message.raw),
        message.sent_at,
    )
    if message_id is None:
        return False  # delivered before
    words = json.loads(route["opt_out_words"])
    await connection.execute(LEAD_EFFECTS, lead_id, is_opt_out(message.text, words))
    return True
