"""Bring existing lead ids into today's form (app/phone_numbers.py), never silently.

Rows written before the rule, or around it (psql, other services), may hold a
number in another spelling (``60123456789``, ``+60 12-345 6789``); lookups by the
number then miss them. ``normalize_lead_ids`` finds them; applied, it rewrites each
to its E.164 form when its workspace has no lead of that form yet. A lead whose
number another lead of the workspace already holds in E.164 form is a twin: both
have their own conversations and decisions (which are never rewritten), so it is
reported for an operator, not merged.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from app.db.executor import fetch
from app.phone_numbers import normalized_external_id

# Only these can change: ids made of digits, "+" and separators, or with spaces around.
CANDIDATES = """
SELECT id, workspace_id, external_id FROM lead
WHERE id > {} AND id <= {}
  AND (external_id ~ '^[-0-9+\\s().]+$' OR external_id <> btrim(external_id))
ORDER BY id
"""
HIGHEST_ID = "SELECT coalesce(max(id), 0) AS highest FROM lead"
TWIN = "SELECT id FROM lead WHERE workspace_id = {} AND external_id = {}"
# Conditional: a row changed since it was read, or a twin written meanwhile, is left.
REWRITE = "UPDATE lead SET external_id = {} WHERE id = {} AND external_id = {} RETURNING id"


@dataclass
class LeadIdReport:
    checked: int = 0
    rewritten: list[tuple[int, str, str]] = field(default_factory=list)
    twins: list[tuple[int, str, int, str]] = field(default_factory=list)

    def summary(self, applied: bool) -> str:
        verb = "rewritten" if applied else "to rewrite (run with --apply)"
        return (
            f"{self.checked:,} lead ids checked: {len(self.rewritten):,} {verb}, "
            f"{len(self.twins):,} left for an operator (the number is another lead's)"
        )


async def normalize_lead_ids(
    apply: bool, batch: int = 5_000, progress: Callable[[int, int], None] | None = None
) -> LeadIdReport:
    """Find (and with ``apply`` rewrite) lead ids not in today's form, in id order."""
    report = LeadIdReport()
    highest = (await fetch(HIGHEST_ID))[0]["highest"]
    after = 0
    while after < highest:
        upto = min(after + batch, highest)
        for row in await fetch(CANDIDATES, after, upto):
            await _check(row, apply, report)
        if progress is not None:
            progress(upto - after, highest)
        after = upto
    return report


async def _check(row: dict, apply: bool, report: LeadIdReport) -> None:
    report.checked += 1
    wanted = normalized_external_id(row["external_id"])
    if wanted == row["external_id"]:
        return
    twin = await fetch(TWIN, row["workspace_id"], wanted)
    if twin:
        report.twins.append((row["id"], row["external_id"], twin[0]["id"], wanted))
        return
    if apply:
        try:
            if not await fetch(REWRITE, wanted, row["id"], row["external_id"]):
                return
        except asyncpg.UniqueViolationError:  # a twin was written meanwhile
            report.twins.append((row["id"], row["external_id"], 0, wanted))
            return
    report.rewritten.append((row["id"], row["external_id"], wanted))
