"""The OpenAPI document is the contract: Schemathesis, with all of its checks and all of
its phases (examples, coverage, fuzzing, and stateful sequences of calls that feed one
answer's ids into the next request), fixed seeds (two for the random phases) and a
bounded number of examples per operation, finds nothing against the live app (status
codes, content types, headers, 405s with Allow, schema-valid requests accepted or
answered with a 4xx the schema predicts, schema-invalid ones refused)."""

import asyncio
import os
import subprocess
import sys

import asyncpg
import pytest

from tests import factories
from tests.server import served_app

TOKEN = "mp_contract-test-token"
EXAMPLES_PER_OPERATION = 8
SEEDS = (20261126, 20261201)
# The schema's examples and the coverage phase's boundary values once; the random
# phases (fuzzing, stateful sequences) with each seed. Three runs, so that parallel
# workers share them.
RUNS = [
    ("examples,coverage", SEEDS[0]),
    *(("fuzzing,stateful", seed) for seed in SEEDS),
]


async def _workspace_with_rows(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        workspace_id = await factories.workspace_with_token(connection, "Contract", TOKEN)
        lead_id = await connection.fetchval(
            "INSERT INTO lead (workspace_id, external_id, timezone) "
            "VALUES ($1, '+14155550100', 'America/New_York') RETURNING id",
            workspace_id,
        )
        await connection.execute(
            "INSERT INTO conversation_thread (workspace_id, lead_id) VALUES ($1, $2)",
            workspace_id,
            lead_id,
        )
    finally:
        await connection.close()


@pytest.mark.long_running
@pytest.mark.parametrize(("phases", "seed"), RUNS)
def test_the_live_api_keeps_its_openapi_contract(migrated_scratch_database, phases, seed):
    asyncio.run(_workspace_with_rows(migrated_scratch_database))
    env = {
        "DATABASE_URL": migrated_scratch_database,
        "WHATSAPP_APP_SECRET": "contract-secret",
        "WHATSAPP_VERIFY_TOKEN": "contract-verify",
    }
    command = ["-m", "uvicorn", "app.main:app", "--no-access-log", "--log-level", "warning"]
    with served_app(env, command) as (base_url, _):
        result = subprocess.run(
            [
                os.path.join(os.path.dirname(sys.executable), "st"),
                "run",
                f"{base_url}/api/v1/openapi.json",
                "--checks",
                "all",
                "--phases",
                phases,
                "--max-examples",
                str(EXAMPLES_PER_OPERATION),
                "--seed",
                str(seed),
                # No example database: what an earlier run found on this machine would
                # be tried first, and a clean clone (CI) would generate differently.
                "--generation-database",
                "none",
                "--header",
                f"Authorization: Bearer {TOKEN}",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
    assert "No issues found" in result.stdout or " passed" in result.stdout, summary
