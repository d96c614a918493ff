"""``piccolo masterplan normalize_lead_ids``: existing ids in another spelling of a number
are listed, rewritten to E.164 only when asked and when no other lead holds that form,
with progress, and a second run finds nothing more."""

import os
import subprocess
import sys

from tests.database_setup import PROJECT_ROOT, fetch_rows

# (as written by psql or an older service, E.164 or None when it must stay)
ROWS = [
    ("60123456789", "+60123456789"),
    (" +60 19-876 5432 ", "+60198765432"),
    ("447911123456", None),  # its E.164 form is another lead's: left for an operator
    ("+447911123456", None),
    ("crm:42", None),
    ("012-345 6789", None),  # national: no country code, kept
]


def normalize(database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "piccolo.main", "masterplan", "normalize_lead_ids", *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def lead_ids(url: str) -> list[tuple[int, str]]:
    rows = await fetch_rows(url, "SELECT id, external_id FROM lead ORDER BY id")
    return [(row["id"], row["external_id"]) for row in rows]


async def fill(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        workspace = await connection.fetchval(
            "INSERT INTO workspace (name) VALUES ('Acme') RETURNING id"
        )
        other = await connection.fetchval(
            "INSERT INTO workspace (name) VALUES ('Other') RETURNING id"
        )
        for external_id, _ in ROWS:
            await connection.execute(
                "INSERT INTO lead (workspace_id, external_id) VALUES ($1, $2)",
                workspace,
                external_id,
            )
        # The same spelling in another workspace is that workspace's own lead.
        await connection.execute(
            "INSERT INTO lead (workspace_id, external_id) VALUES ($1, '+60123456789')", other
        )
    finally:
        await connection.close()


async def test_lead_ids_are_listed_then_rewritten_once_and_twins_reported(
    migrated_scratch_database,
):
    url = migrated_scratch_database
    await fill(url)
    before = await lead_ids(url)

    listed = normalize(url)
    assert listed.returncode == 0, listed.stderr
    assert await lead_ids(url) == before  # nothing changes without --apply
    assert "Lead ids [" in listed.stderr  # progress
    assert listed.stdout.splitlines()[-1] == (
        "6 lead ids checked: 2 to rewrite (run with --apply), "
        "1 left for an operator (the number is another lead's)"
    )

    applied = normalize(url, "--apply")
    assert applied.returncode == 0, applied.stderr
    expected = [
        (lead_id, wanted or written)
        for (lead_id, written), (_, wanted) in zip(before, [*ROWS, (None, None)], strict=True)
    ]
    assert await lead_ids(url) == expected
    assert "447911123456' is '+447911123456', which lead #" in applied.stdout

    again = normalize(url, "--apply")
    assert again.stdout.splitlines()[-1].startswith("6 lead ids checked: 0 rewritten, 1 left")
    assert await lead_ids(url) == expected
