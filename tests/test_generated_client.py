"""The OpenAPI document makes a working client: openapi-python-client, with its default
settings, generates one from the live document, and a workflow runs through it (a lead,
its thread, the lead's message, a reply permit, our message under the permit, the
history read back; a consent wording, the lead's grant citing it, its consent state)."""

import asyncio
import datetime
import importlib
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import asyncpg

from tests import factories
from tests.server import served_app

TOKEN = "mp_generated-client-token"


async def _workspace_with_token(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        workspace_id = await factories.workspace_with_token(connection, "Client", TOKEN)
        await factories.attestation(connection, workspace_id, granted=True)
    finally:
        await connection.close()


def _generate(openapi: bytes, into: Path) -> tuple[Path, str]:
    """Generate the client project into ``into``: its folder and its package's name."""
    (into / "openapi.json").write_bytes(openapi)
    bin_dir = os.path.dirname(sys.executable)
    done = subprocess.run(
        [os.path.join(bin_dir, "openapi-python-client"), "generate", "--path", "openapi.json"],
        cwd=into,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Every operation and model was generated: no warning that something was left out.
    assert "Warning" not in done.stdout, done.stdout
    [project] = [p for p in into.iterdir() if p.is_dir()]
    [package] = [p for p in project.iterdir() if (p / "client.py").exists()]
    return project, package.name


def test_a_generated_client_drives_a_workflow(migrated_scratch_database, tmp_path):
    asyncio.run(_workspace_with_token(migrated_scratch_database))
    env = {"DATABASE_URL": migrated_scratch_database}
    with served_app(env) as (base_url, _):
        with urllib.request.urlopen(f"{base_url}/api/v1/openapi.json") as response:
            project, name = _generate(response.read(), tmp_path)
        sys.path.insert(0, str(project))
        try:
            _workflow(name, f"{base_url}/api/v1")
        finally:
            sys.path.remove(str(project))


def _workflow(name: str, base_url: str) -> None:
    def module(path: str):
        return importlib.import_module(f"{name}.{path}")

    client = module("client").AuthenticatedClient(base_url=base_url, token=TOKEN)
    models = module("models")
    leads = module("api.leads.create_lead_leads_post")
    start = module("api.conversations.start_thread_leads_lead_id_threads_post")
    append = module("api.conversations.append_message_threads_thread_id_messages_post")
    history = module("api.conversations.list_messages_threads_thread_id_messages_get")
    permit = module("api.policy.request_permit_leads_lead_id_send_permits_post")

    lead = leads.sync(client=client, body=models.LeadCreate(external_id="+60123456789"))
    assert isinstance(lead, models.LeadOut), lead
    assert lead.external_id == "+60123456789"
    thread = start.sync(lead_id=lead.id, client=client)
    assert thread.lead_id == lead.id, thread
    said = models.MessageCreate(role=models.ChatRole.USER, content="Is it still on?")
    assert append.sync(thread_id=thread.id, client=client, body=said).content == said.content
    decision = permit.sync(
        lead_id=lead.id, client=client, body=models.PermitRequest(kind=models.SendKind.REPLY)
    )
    assert decision.allow_send, decision.summary
    answer = models.MessageCreate(
        role=models.ChatRole.MODEL, content="Yes, until Friday.", permit_id=decision.id
    )
    sent = append.sync(thread_id=thread.id, client=client, body=answer)
    assert sent.permit_id == decision.id, sent
    page = history.sync(thread_id=thread.id, client=client)
    assert [(m.role.value, m.content) for m in page.items] == [
        ("model", "Yes, until Friday."),
        ("user", "Is it still on?"),
    ]
    _consent(module, client, lead.id)


def _consent(module, client, lead_id: int) -> None:
    models = module("models")
    word = module("api.consent.create_wording_consent_wordings_post")
    record = module("api.consent.record_consent_event_leads_lead_id_consent_events_post")
    state = module("api.consent.consent_state_leads_lead_id_consent_get")

    text = "Yes, Client Co may send me offers on WhatsApp."
    wording = word.sync(
        client=client, body=models.ConsentWordingCreate(business_name="Client Co", text=text)
    )
    assert (wording.version, len(wording.sha256)) == (1, 64), wording
    grant = models.ConsentGrantCreate(
        action="grant",
        purpose=models.ConsentPurpose.MARKETING,
        wording_version=wording.version,
        method=models.ConsentMethod.CHECKBOX,
        captured_at=datetime.datetime.now(datetime.UTC),
        evidence=models.ConsentEvidence(ip="203.0.113.7"),
    )
    event = record.sync(lead_id=lead_id, client=client, body=grant)
    assert (event.wording_sha256, event.evidence.to_dict()) == (
        wording.sha256,
        {"ip": "203.0.113.7"},
    )
    purposes = state.sync(lead_id=lead_id, client=client).purposes
    assert [(p.purpose.value, p.granted) for p in purposes] == [
        ("marketing", True),
        ("utility", False),
    ]
