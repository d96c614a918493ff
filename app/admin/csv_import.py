"""The admin's CSV import of leads with their consent: an operator uploads a file,
maps its columns, sees every row's outcome before anything is written, then imports
in batches with progress and a summary.

The rules and limits are the API's import's (app/lead_import.py): each CSV row is
mapped to the object the API's import reads (``ImportLead``), then read, checked and
written by the same functions, so a file and the same rows sent to POST
/leads/import end the same way, and importing a file again records no grant twice.
The page is drawn by the server like the overview, behind the admin's session login;
its POSTs carry the admin's CSRF header. Nothing is kept between requests: each step
sends the file again, so any worker can answer it.
"""

import csv
import io
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from typing import Annotated, Any

import pydantic
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from app import lead_import
from app.admin.crud import operator_actor
from app.admin.overview import STYLE, WORKSPACES
from app.api.schemas import ConsentEvidence, ImportLead
from app.change_log import statements_named
from app.db.executor import fetch
from app.errors import InvalidValue, NotFound
from app.policy.consent import wordings
from app.tables import MAX_ID
from app.validation import in_words, problems
from app.workspaces import existing_workspace

CSV_IMPORT_PATH = "/admin/csv-import/"
# A file of lead_import.IMPORT_LIMIT rows, sent as JSON text, fits.
MAX_FILE_BODY_BYTES = 8 * 1024 * 1024
# Rows written per request: the page shows the progress between batches.
BATCH_ROWS = 2_000
# The preview lists at most this many refused rows (it counts them all).
SHOWN_REFUSALS = 500
SAMPLE_ROWS = 5

# The evidence a consent event holds, field -> what it is (the API's ConsentEvidence).
EVIDENCE_FIELDS = {
    name: field.description or name for name, field in ConsentEvidence.model_fields.items()
}
ColumnName = Annotated[str, pydantic.StringConstraints(min_length=1, max_length=255)]


class ColumnMapping(pydantic.BaseModel):
    """Which column of the file holds each of the import's fields."""

    model_config = pydantic.ConfigDict(extra="forbid")

    external_id: ColumnName
    name: ColumnName | None = None
    timezone: ColumnName | None = None
    wording_version: ColumnName | None = None
    captured_at: ColumnName | None = None
    # Each field of the evidence (ConsentEvidence: ip, user_agent, ...) -> its column.
    evidence: dict[str, ColumnName] = pydantic.Field(default_factory=dict)

    @pydantic.field_validator("evidence")
    @classmethod
    def _evidence_fields(cls, evidence: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(evidence) - set(EVIDENCE_FIELDS))
        if unknown:
            raise ValueError(f"no evidence field {unknown}; the fields: {list(EVIDENCE_FIELDS)}")
        return evidence

    def columns(self) -> list[str]:
        named = [self.external_id, self.name, self.timezone, self.wording_version]
        return [column for column in [*named, self.captured_at, *self.evidence.values()] if column]


class CsvUpload(pydantic.BaseModel):
    """One step's request: the file's text, and for a preview or a batch its mapping."""

    model_config = pydantic.ConfigDict(extra="forbid")

    workspace: int = pydantic.Field(gt=0, le=MAX_ID)
    csv: str
    mapping: ColumnMapping | None = None
    wording_version: int | None = pydantic.Field(None, gt=0, le=MAX_ID)
    batch: int = pydantic.Field(0, ge=0, le=lead_import.IMPORT_LIMIT // BATCH_ROWS)


@dataclass(frozen=True)
class CsvFile:
    """A file's column names and its rows (column -> cell), with each row's line."""

    columns: list[str]
    records: list[dict[str, str]]
    lines: list[int]


def read_csv(text: str) -> CsvFile:
    """The rows of a CSV file with a header line; at most the import's limit."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        columns = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = columns
        records, lines = [], []
        for record in reader:
            records.append(record)
            lines.append(reader.line_num)
    except csv.Error as error:
        raise InvalidValue("file", f"is not a readable CSV file ({error})") from None
    if not columns:
        raise InvalidValue("file", "is empty: its first line must name the columns")
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise InvalidValue("file", f"names the columns {repeated} more than once")
    lead_import.check_size(records)
    return CsvFile(columns, records, lines)


def mapped_row(record: dict[str, Any], mapping: ColumnMapping) -> dict[str, Any]:
    """A CSV row as the object the API's import reads (``ImportLead``): blank cells
    are absent; a row has consent when its captured-at or evidence cells say so."""

    def cell(column: str | None) -> str:
        value = record.get(column) if column else None
        return value.strip() if isinstance(value, str) else ""

    row: dict[str, Any] = {"external_id": cell(mapping.external_id)}
    for field in ("name", "timezone"):
        if cell(getattr(mapping, field)):
            row[field] = cell(getattr(mapping, field))
    proof: dict[str, Any] = {}
    if cell(mapping.captured_at):
        proof["captured_at"] = cell(mapping.captured_at)
    evidence = {field: cell(column) for field, column in mapping.evidence.items() if cell(column)}
    if evidence:
        proof["evidence"] = evidence
    version = cell(mapping.wording_version)
    if proof and version:
        proof["wording_version"] = int(version) if version.isdigit() else version
    if proof:
        row["consent"] = proof
    return row


def mapped_rows(upload: CsvUpload) -> tuple[CsvFile, list[dict[str, Any]]]:
    """The upload's file and its rows through the mapping."""
    if upload.mapping is None:
        raise InvalidValue("mapping", "say which column holds each field")
    file = read_csv(upload.csv)
    missing = [column for column in upload.mapping.columns() if column not in file.columns]
    if missing:
        raise InvalidValue("mapping", f"the file has no column {missing[0]!r}")
    return file, [mapped_row(record, upload.mapping) for record in file.records]


# --- the steps -----------------------------------------------------------------------------


Step = Callable[[Request, CsvUpload], Awaitable[dict[str, Any]]]


def step(handler: Step) -> Callable[[Request], Awaitable[Response]]:
    """A POST step: its body read as a CsvUpload of an existing workspace; bad input
    answered 422 (404 for a workspace or wording version that does not exist)."""

    async def endpoint(request: Request) -> Response:
        try:
            upload = CsvUpload.model_validate_json(await request.body() or b"{}")
            await existing_workspace(upload.workspace)
            return JSONResponse(await handler(request, upload))
        except pydantic.ValidationError as error:
            detail = in_words(problems(error.errors(), unnamed="body"))
            return JSONResponse({"detail": detail}, status_code=422)
        except NotFound as error:
            return JSONResponse({"detail": str(error)}, status_code=404)
        except InvalidValue as error:
            return JSONResponse({"detail": str(error)}, status_code=422)

    return endpoint


async def read_step(request: Request, upload: CsvUpload) -> dict[str, Any]:
    """The file's columns, its number of rows and its first rows."""
    file = read_csv(upload.csv)
    return {
        "columns": file.columns,
        "rows": len(file.records),
        "sample": file.records[:SAMPLE_ROWS],
    }


async def preview_step(request: Request, upload: CsvUpload) -> dict[str, Any]:
    """Every row checked as the import would; nothing is written."""
    file, rows = mapped_rows(upload)
    outcomes = await lead_import.import_rows(
        upload.workspace, rows, ImportLead, upload.wording_version, preview=True
    )
    refused = [outcome for outcome in outcomes if outcome.result == lead_import.REJECTED]
    return {
        "rows": len(rows),
        "valid": len(outcomes) - len(refused),
        "with_consent": sum("consent" in row for row in rows),
        "rejected": len(refused),
        "refusals": [
            {
                "line": file.lines[outcome.index],
                "external_id": outcome.external_id or rows[outcome.index]["external_id"],
                "reason": outcome.reason,
            }
            for outcome in refused[:SHOWN_REFUSALS]
        ],
        "batches": max(1, math.ceil(len(rows) / BATCH_ROWS)),
    }


async def import_step(request: Request, upload: CsvUpload) -> dict[str, Any]:
    """One batch of rows written (every row checked), as the operator."""
    _, rows = mapped_rows(upload)
    batch = range(upload.batch * BATCH_ROWS, (upload.batch + 1) * BATCH_ROWS)
    with statements_named(operator_actor(request), request.scope):
        outcomes = await lead_import.import_rows(
            upload.workspace, rows, ImportLead, upload.wording_version, batch=batch
        )
    return {
        "batch": upload.batch,
        "batches": max(1, math.ceil(len(rows) / BATCH_ROWS)),
        "rows": len(rows),
        "done": min(batch.stop, len(rows)),
        **lead_import.summary(outcomes),
    }


def csv_import_app() -> Starlette:
    """The page and its steps, to be mounted behind the operator's session."""
    return Starlette(
        routes=[
            Route("/", import_page, methods=["GET"]),
            Route("/read/", step(read_step), methods=["POST"]),
            Route("/preview/", step(preview_step), methods=["POST"]),
            Route("/import/", step(import_step), methods=["POST"]),
        ]
    )


# --- the page ------------------------------------------------------------------------------


async def import_page(request: Request) -> HTMLResponse:
    """The page: the workspace, the file, the mapping, the preview and the import."""
    workspaces = await fetch(WORKSPACES)
    versions = {
        workspace["id"]: [
            {"version": w["version"], "business_name": w["business_name"], "text": w["text"]}
            for w in await wordings(workspace["id"])
        ]
        for workspace in workspaces
    }
    options = "".join(
        f'<option value="{w["id"]}">{escape(w["name"])} (#{w["id"]})</option>' for w in workspaces
    )
    data = json.dumps({"wordings": versions, "evidence": EVIDENCE_FIELDS}).replace("<", "\\u003c")
    html = PAGE.format(
        style=STYLE + PAGE_STYLE,
        workspaces=options,
        limit=f"{lead_import.IMPORT_LIMIT:,}",
        data=data,
        script=SCRIPT,
    )
    return HTMLResponse(html)


PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Import leads with consent · Masterplan admin</title><style>{style}</style></head><body>
<header><a href="/admin/">&larr; Masterplan admin</a><h1>Import leads with consent (CSV)</h1>
</header><main>
<section id="file"><h2>1. The file</h2>
<p>A CSV file whose first line names the columns; at most {limit} rows. Rows are matched
to leads by number: a lead already there is updated.</p>
<label>Workspace <select name="workspace">{workspaces}</select></label>
<label>File <input type="file" name="file" accept=".csv,text/csv"></label>
<button type="button" id="read">Read the file</button>
<p class="error" id="file-error" role="alert"></p></section>
<section id="mapping" hidden><h2>2. Map its columns</h2>
<p id="file-summary"></p><div id="sample"></div>
<div class="fields">
<label>Number (E.164, e.g. +351910000001) <select name="external_id"></select></label>
<label>Name <select name="name"></select></label>
<label>Timezone (IANA, e.g. Europe/Lisbon) <select name="timezone"></select></label>
<label>Captured at (when the person consented, with its offset)
<select name="captured_at"></select></label>
<label>Consent wording version (column, optional) <select name="wording_version"></select>
</label>
<label>The wording the people were shown <select name="wording"></select></label>
</div>
<fieldset><legend>Evidence: what shows each person consented (at least one)</legend>
<div id="evidence" class="fields"></div></fieldset>
<button type="button" id="preview">Preview</button>
<p class="error" id="mapping-error" role="alert"></p></section>
<section id="preview-result" hidden><h2>3. Preview: nothing is written yet</h2>
<p id="preview-counts"></p>
<table id="refusals"><thead><tr><th>Line</th><th>Number</th><th>Why it is refused</th></tr>
</thead><tbody></tbody></table>
<button type="button" id="import">Import</button></section>
<section id="progress-section" hidden><h2>4. Import</h2>
<progress id="progress" value="0" max="1"></progress> <span id="progress-text"></span>
<p class="error" id="import-error" role="alert"></p></section>
<section id="summary-section" hidden><h2>Summary</h2><dl id="summary"></dl></section>
</main><script type="application/json" id="page-data">{data}</script>
<script>{script}</script></body></html>"""

PAGE_STYLE = """
label { display: block; margin: 8px 0; } .fields label { display: grid;
  grid-template-columns: 360px 320px; } fieldset { margin: 12px 0; border: 1px solid #ccd; }
button { margin-top: 8px; padding: 6px 14px; } progress { width: 420px; }
#sample table, #refusals { font-size: 0.9em; } #sample td, #refusals td { text-align: left; }
"""

SCRIPT = """
const data = JSON.parse(document.getElementById("page-data").textContent);
const $ = (selector) => document.querySelector(selector);
const FIELDS = ["external_id", "name", "timezone", "captured_at", "wording_version"];
const GUESSES = {external_id: /^(number|phone|external_?id|whatsapp|mobile)/i,
  name: /name/i, timezone: /time ?zone|^tz$/i, captured_at: /captured|consented|opt.*in/i,
  wording_version: /wording|version/i};
const EVIDENCE_GUESSES = {ip: /^ip/i, user_agent: /agent/i, page_url: /page|url/i,
  recording: /recording/i, screenshot: /screenshot/i, note: /note/i};
let file = null;

function csrfToken() {
  const found = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
  return found ? decodeURIComponent(found[1]) : "";
}

async function send(step, extra) {
  const body = {workspace: Number($("select[name=workspace]").value), csv: file, ...extra};
  const response = await fetch(step + "/", {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
    body: JSON.stringify(body)});
  if (response.redirected) throw new Error("Your session has ended: log in to the admin again.");
  let answer = {};
  try { answer = await response.json(); } catch (error) { answer = {}; }
  if (!response.ok) {
    const detail = answer.detail || (answer.error && answer.error.message) || "";
    throw new Error(`${response.status} ${response.statusText}: ${detail}`);
  }
  return answer;
}

function fill(select, columns, guess) {
  select.replaceChildren(new Option("(none)", ""));
  for (const column of columns) select.append(new Option(column, column));
  const found = columns.find((column) => guess && guess.test(column));
  if (found) select.value = found;
}

function wordingChoices() {
  const select = $("select[name=wording]");
  const versions = data.wordings[$("select[name=workspace]").value] || [];
  select.replaceChildren(new Option("none: import the leads without consent", ""));
  for (const w of versions) {
    const text = w.text.length > 60 ? w.text.slice(0, 60) + "…" : w.text;
    select.append(new Option(`v${w.version} (${w.business_name}): ${text}`, w.version));
  }
  if (versions.length) select.value = versions[0].version;
}

function mapping() {
  const chosen = (name) => $(`select[name=${name}]`).value || null;
  const evidence = {};
  for (const select of document.querySelectorAll("#evidence select")) {
    if (select.value) evidence[select.dataset.evidence] = select.value;
  }
  return {external_id: chosen("external_id") || "", name: chosen("name"),
    timezone: chosen("timezone"), captured_at: chosen("captured_at"),
    wording_version: chosen("wording_version"), evidence};
}

function choices() {
  const version = $("select[name=wording]").value;
  return {mapping: mapping(), wording_version: version ? Number(version) : null};
}

function sampleTable(columns, rows) {
  const table = document.createElement("table");
  const head = table.insertRow();
  for (const column of columns) head.insertCell().textContent = column;
  for (const row of rows) {
    const line = table.insertRow();
    for (const column of columns) line.insertCell().textContent = row[column] ?? "";
  }
  return table;
}

$("select[name=workspace]").addEventListener("change", wordingChoices);

$("#read").addEventListener("click", async () => {
  $("#file-error").textContent = "";
  const chosen = $("input[name=file]").files[0];
  if (!chosen) { $("#file-error").textContent = "Choose a CSV file first."; return; }
  file = await chosen.text();
  try {
    const read = await send("read", {});
    for (const field of FIELDS) fill($(`select[name=${field}]`), read.columns, GUESSES[field]);
    const evidence = $("#evidence");
    evidence.replaceChildren();
    for (const [field, description] of Object.entries(data.evidence)) {
      const label = document.createElement("label");
      const select = document.createElement("select");
      select.name = "evidence-" + field; select.dataset.evidence = field;
      fill(select, read.columns, EVIDENCE_GUESSES[field]);
      label.append(`${field} (${description})`, select);
      evidence.append(label);
    }
    wordingChoices();
    $("#file-summary").textContent =
      `${read.rows.toLocaleString("en")} rows; the first ${read.sample.length}:`;
    $("#sample").replaceChildren(sampleTable(read.columns, read.sample));
    $("#mapping").hidden = false;
    $("#preview-result").hidden = true;
  } catch (error) { $("#file-error").textContent = error.message; }
});

$("#preview").addEventListener("click", async () => {
  $("#mapping-error").textContent = "";
  $("#preview").disabled = true;
  try {
    const preview = await send("preview", choices());
    const counts = $("#preview-counts");
    counts.dataset.valid = preview.valid;
    counts.dataset.rejected = preview.rejected;
    counts.textContent = `${preview.rows.toLocaleString("en")} rows: ` +
      `${preview.valid.toLocaleString("en")} will be imported, ` +
      `${preview.rejected.toLocaleString("en")} refused (listed below` +
      (preview.rejected > preview.refusals.length ? `, the first ${preview.refusals.length}` : "") +
      `); ${preview.with_consent.toLocaleString("en")} rows carry consent.`;
    const body = $("#refusals tbody");
    body.replaceChildren();
    for (const refusal of preview.refusals) {
      const row = body.insertRow();
      row.dataset.line = refusal.line;
      for (const value of [refusal.line, refusal.external_id, refusal.reason]) {
        row.insertCell().textContent = value ?? "";
      }
    }
    $("#import").textContent = `Import ${preview.valid.toLocaleString("en")} rows`;
    $("#import").disabled = preview.valid === 0;
    $("#import").dataset.batches = preview.batches;
    $("#preview-result").hidden = false;
  } catch (error) {
    $("#mapping-error").textContent = error.message;
  } finally { $("#preview").disabled = false; }
});

$("#import").addEventListener("click", async () => {
  const batches = Number($("#import").dataset.batches);
  const totals = {created: 0, updated: 0, rejected: 0, granted: 0, already_granted: 0};
  $("#import").disabled = true; $("#preview").disabled = true;
  $("#progress-section").hidden = false; $("#summary-section").hidden = true;
  $("#import-error").textContent = "";
  try {
    for (let batch = 0; batch < batches; batch++) {
      const done = await send("import", {...choices(), batch});
      for (const key of Object.keys(totals)) totals[key] += done[key];
      $("#progress").max = done.rows; $("#progress").value = done.done;
      $("#progress-text").textContent =
        `${done.done.toLocaleString("en")} of ${done.rows.toLocaleString("en")} rows`;
    }
    const labels = {created: "Leads created", updated: "Leads updated",
      rejected: "Rows refused", granted: "Grants recorded",
      already_granted: "Grants already recorded (imported before)"};
    const summary = $("#summary");
    summary.replaceChildren();
    for (const [key, label] of Object.entries(labels)) {
      const term = document.createElement("dt"); term.textContent = label;
      const value = document.createElement("dd");
      value.dataset.figure = key; value.textContent = totals[key].toLocaleString("en");
      summary.append(term, value);
    }
    $("#summary-section").hidden = false;
  } catch (error) {
    $("#import-error").textContent = error.message +
      " (the batches before were imported; importing the file again is safe)";
  } finally { $("#preview").disabled = false; }
});
"""
