"""What a failed delivery teaches the engine about the lead, and how often each
platform error happens to a workspace.

A failed status keeps its error on the message (app/whatsapp/inbound.py). When the
status is applied (statuses never move backwards), its error drives the message's
thread's lead, in the same transaction and by the webhook's own statements, so the
change log names the webhook as the writer (a trigger's writes are not recorded):

- 131026 (undeliverable: not on WhatsApp, or it blocked the business): the lead is
  marked unreachable at the failure (``lead.unreachable_since``); rule
  LEAD_UNREACHABLE holds follow-ups until the lead writes after it. Of several
  failures the latest is kept: the lead is held until it has written after every
  one of them. A failure older than the lead's latest message changes nothing (the
  lead proved reachable since); one after the lead wrote again marks it anew. (The
  earliest unanswered failure would not do: when the lead's message arrives after
  the failures but was written between two of them, the later failure, still
  unanswered, would be forgotten and the lead released.);
- 131049 (the per-user marketing limit): no follow-up before the failure + 24 hours
  (``lead.marketing_limited_until``, never moved earlier); a scheduled next follow-up
  earlier than that moves to it (rule USER_MARKETING_LIMIT defers permits too);
- 131047 (re-engagement: free form sent more than 24 h after the lead wrote), 130429
  (our throughput) and 131056 (pair rate): never held against the lead; counted
  per workspace (``failure_counts``), like every other code.

Each effect only moves a mark forward, so a retried or reordered status applies it
once: a second identical failure writes nothing, an older failure after a newer one
leaves the marks as they are, and the lead ends held (or not) whatever order the
failures and its own messages arrive in (tests/test_delivery_failures.py).
"""

from datetime import datetime, timedelta

from app.db.executor import fetch
from app.enums import ChatRole, DeliveryStatus, PlatformError

# WhatsApp: after a 131049 failure, retry no sooner than 24 hours later.
MARKETING_LIMIT_RETRY = timedelta(hours=24)

# Arguments: the failure's time, the thread id.
UNREACHABLE = """
UPDATE lead SET unreachable_since = failure.at
FROM (SELECT {}::timestamptz AS at) failure, conversation_thread t
WHERE t.id = {} AND lead.id = t.lead_id
  -- not answered yet: the lead has not written since the failure
  AND (lead.last_inbound_at IS NULL OR lead.last_inbound_at <= failure.at)
  -- the latest such report
  AND (lead.unreachable_since IS NULL OR lead.unreachable_since < failure.at)
"""

# Arguments: until when the limit holds (the failure + 24 h), the thread id.
MARKETING_LIMITED = """
UPDATE lead SET
    marketing_limited_until = greatest(lead.marketing_limited_until, limited.until),
    next_followup_at = CASE WHEN lead.next_followup_at < limited.until
                            THEN limited.until ELSE lead.next_followup_at END
FROM (SELECT {}::timestamptz AS until) limited, conversation_thread t
WHERE t.id = {} AND lead.id = t.lead_id
  AND (lead.marketing_limited_until IS NULL OR lead.marketing_limited_until < limited.until
       OR lead.next_followup_at < limited.until)
"""

# The errors that mark the lead; the others are only counted.
MARKING_ERRORS = frozenset({PlatformError.UNDELIVERABLE, PlatformError.USER_MARKETING_LIMIT})

# The leads whose failed messages may mark them (argument: the platform message ids),
# so the webhook can lock them with the people its body names before acting.
MARKED_LEADS = f"""
SELECT DISTINCT l.workspace_id, l.external_id, l.platform_user_id
FROM chat_message m
JOIN conversation_thread t ON t.id = m.thread_id
JOIN lead l ON l.id = t.lead_id
WHERE m.platform_message_id = ANY({{}}::text[]) AND m.role = '{ChatRole.MODEL}'
"""

# A lead still held by an undeliverable report (for counts: ``lead`` is the lead).
UNREACHABLE_LEAD = (
    "lead.unreachable_since IS NOT NULL "
    "AND (lead.last_inbound_at IS NULL OR lead.last_inbound_at <= lead.unreachable_since)"
)

# A workspace's failures in a period by error code, with the platform's title of the
# code (arguments: since, until, the workspace).
FAILURE_COUNTS = f"""
SELECT m.delivery_error_code AS code, min(m.delivery_error_title) AS title,
       count(*)::int AS failures
FROM chat_message m
JOIN conversation_thread t ON t.id = m.thread_id
WHERE m.delivery_status = '{DeliveryStatus.FAILED}'
  AND m.delivery_status_at >= {{}} AND m.delivery_status_at < {{}}
  AND t.workspace_id = {{}}
GROUP BY m.delivery_error_code
ORDER BY failures DESC, code
"""


def lead_effect(error_code: int | None, failed_at: datetime) -> tuple[str, datetime] | None:
    """The statement a failure with ``error_code`` runs on its lead, with its time
    argument; None for an error that does not mark the lead."""
    if error_code == PlatformError.UNDELIVERABLE:
        return UNREACHABLE, failed_at
    if error_code == PlatformError.USER_MARKETING_LIMIT:
        return MARKETING_LIMITED, failed_at + MARKETING_LIMIT_RETRY
    return None


async def failure_counts(
    workspace_id: int, since: datetime, until: datetime
) -> dict[int | None, int]:
    """How many of the workspace's messages WhatsApp reported failed in ``[since,
    until)`` (by the failure's time), by error code (None: a failure without one),
    most frequent first. Each message counts once, with its latest status."""
    rows = await fetch(FAILURE_COUNTS, since, until, workspace_id)
    return {row["code"]: row["failures"] for row in rows}
