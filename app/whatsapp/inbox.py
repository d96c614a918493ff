"""The webhook inbox: signed items the code could not act on, acted on again.

``reprocess`` reads each unprocessed item with the current code, as if it had just
arrived: acted on, it is marked processed with what it did; still not, its reason
is brought up to date. One transaction per item, so one never holds up the rest,
and a repeated run finds nothing new to do.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from app.change_log import Actor, name_on
from app.db.executor import execute_on, fetch_on, fetchval_on, transaction
from app.enums import ChangeActorKind
from app.whatsapp import inbound
from app.whatsapp.payload import read_payload

REPROCESSOR = Actor(ChangeActorKind.WEBHOOK, "WhatsApp")
ACTION = "reprocess webhook inbox"

UNPROCESSED = (
    "SELECT id, body FROM webhook_inbox WHERE processed_at IS NULL AND id > {} ORDER BY id LIMIT {}"
)
COUNT = "SELECT count(*) FROM webhook_inbox WHERE processed_at IS NULL"
LOCK_ITEM = "SELECT body FROM webhook_inbox WHERE id = {} AND processed_at IS NULL FOR UPDATE"
PROCESSED = (
    "UPDATE webhook_inbox SET processed_at = now(), outcome = {}, attempts = attempts + 1 "
    "WHERE id = {}"
)
STILL_KEPT = "UPDATE webhook_inbox SET reason = {}, attempts = attempts + 1 WHERE id = {}"


@dataclass
class InboxReport:
    processed: list[tuple[int, str]] = field(default_factory=list)
    still_kept: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.processed) + len(self.still_kept):,} inbox items read again: "
            f"{len(self.processed):,} acted on, {len(self.still_kept):,} still kept"
        )


def outcome_of(receipt: inbound.Receipt) -> str:
    """What acting on an item did, in words."""
    parts = [
        f"{count} {name}"
        for name, count in (
            ("messages stored", receipt.stored),
            ("already stored", receipt.duplicates),
            ("statuses recorded", receipt.statuses),
            ("preferences recorded", receipt.preferences),
            ("consent events recorded", receipt.consent_events),
            ("items kept apart", receipt.kept),
        )
        if count
    ]
    return ", ".join(parts) or "nothing to change"


async def reprocess(
    batch: int = 500,
    progress: Callable[[int, int], None] | None = None,
    actor: Actor | None = REPROCESSOR,
    limit: int | None = None,
) -> InboxReport:
    """Read every unprocessed inbox item again (oldest first), at most ``limit``.
    ``actor`` names the changes in the change log (None: a request has named them)."""
    report = InboxReport()
    async with transaction() as connection:
        waiting = await fetchval_on(connection, COUNT)
    total = waiting if limit is None else min(waiting, limit)
    after, read = 0, 0
    while True:
        wanted = batch if limit is None else min(batch, limit - read)
        if wanted <= 0:
            return report
        async with transaction() as connection:
            rows = await fetch_on(connection, UNPROCESSED, after, wanted)
        for row in rows:
            await _again(row["id"], report, actor)
        read += len(rows)
        if progress is not None and rows:
            progress(len(rows), total)
        if len(rows) < wanted:
            return report
        after = rows[-1]["id"]


async def _again(item_id: int, report: InboxReport, actor: Actor | None) -> None:
    async with transaction() as connection:
        body = await fetchval_on(connection, LOCK_ITEM, item_id)
        if body is None:
            return  # processed meanwhile
        if actor is not None:
            await name_on(connection, actor, ACTION)
        delivery = await inbound.deliver(read_payload(body.encode()), again=body)
        if delivery.still:
            reason = "; ".join(delivery.still)
            await execute_on(connection, STILL_KEPT, reason, item_id)
            report.still_kept.append((item_id, reason))
        else:
            outcome = outcome_of(delivery.receipt)
            await execute_on(connection, PROCESSED, outcome, item_id)
            report.processed.append((item_id, outcome))
