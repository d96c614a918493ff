"""One lead on one page, for operators: drawn by the server, like the overview.

What it shows: the lead (stage, tags), the zone its local time is read in, the
policy engine's answer now ("Why not, when next", app/policy/engine.py simulate and
schedule), its consent per purpose and history (app/policy/consent.py), and one
timeline, newest first, of its messages, policy decisions, consent events and the
change log's entries of its row. The timeline is paged by keyset: each source is
read through its own index from the cursor down, at most one page of each, then
merged; a lead with 10,000 decisions reads 51 of them per page.

Instants are written for people, in the lead's zone and in UTC: "Tue 2 Dec 10:23 WET".
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.admin.overview import PAGE_STYLE
from app.db.executor import fetch
from app.enums import ConsentPurpose, SendKind
from app.errors import DomainError
from app.pagination import EPOCH, NEWEST
from app.policy import consent, engine
from app.policy.local_time import known_zone
from app.tables import MAX_ID

LEAD_PAGE_PATH = "/admin/lead-page/"
TIMELINE_PAGE = 50
CONSENT_HISTORY_SHOWN = 20
PLANNED_FOLLOW_UPS = 5

LEAD = (
    "SELECT lead.id, lead.workspace_id, lead.external_id, lead.name, lead.stage, lead.tags, "
    "lead.timezone, lead.next_followup_at, lead.last_followup_at, lead.last_inbound_at, "
    "lead.created_at, workspace.name AS workspace_name, workspace.timezone AS workspace_timezone, "
    "workspace.consent_required "
    "FROM lead JOIN workspace ON workspace.id = lead.workspace_id WHERE lead.id = {}"
)

# --- the timeline ----------------------------------------------------------------------

# The sources, by their rank in the order (at DESC, rank DESC, id DESC): rows at the
# same instant are shown in this order, last rank first.
CHANGE, CONSENT, DECISION, MESSAGE = 1, 2, 3, 4
SOURCE_NAMES = {CHANGE: "change", CONSENT: "consent", DECISION: "decision", MESSAGE: "message"}

# Each branch: the lead's rows of one source older than the cursor, newest first, at
# most a page (+1) of them, through the source's index (its instant <= the cursor's
# bounds the index scan; the row comparison then breaks ties). Placeholders, in
# order: lead id, workspace id, cursor instant (twice), rank, id, limit.
KEYSET = "AND {at} <= {{}} AND ({at}, {rank}, {id}) < ({{}}, {{}}::int, {{}}::bigint) "
ORDER = "ORDER BY {at} DESC, {id} DESC LIMIT {{}}"


def branch(rank: int, select: str, source: str, where: str, at: str, row_id: str) -> str:
    keyed = KEYSET.format(at=at, rank=rank, id=row_id) + ORDER.format(at=at, id=row_id)
    columns = f"{rank} AS rank, {row_id} AS id, {at} AS at, {select}"
    return f"(SELECT {columns} FROM {source} WHERE {where} {keyed})"


TIMELINE_BRANCHES = [
    branch(
        MESSAGE,
        "jsonb_build_object('role', m.role, 'content', left(m.content, 300), "
        "'delivery_status', m.delivery_status, 'delivery_error_code', m.delivery_error_code, "
        "'delivery_error_title', m.delivery_error_title, "
        "'delivery_status_at', m.delivery_status_at) AS detail",
        "chat_message AS m JOIN conversation_thread AS t ON t.id = m.thread_id",
        "t.lead_id = {} AND t.workspace_id = {}",
        "m.created_at",
        "m.id",
    ),
    branch(
        DECISION,
        "jsonb_build_object('kind', p.kind, 'allow_send', p.allow_send, "
        "'reason_code', p.reason_code, 'summary', p.summary, "
        "'next_allowed_at', p.next_allowed_at) AS detail",
        "policy_decision AS p",
        "p.lead_id = {} AND p.workspace_id = {}",
        "p.created_at",
        "p.id",
    ),
    branch(
        CONSENT,
        "jsonb_build_object('action', e.action, 'purpose', e.purpose, 'method', e.method, "
        "'wording_version', w.version, 'wording_sha256', w.sha256, "
        "'recorded_at', e.recorded_at, 'recorded_by', e.recorded_by, "
        "'evidence', e.evidence) AS detail",
        consent.EVENT_FROM,
        "e.lead_id = {} AND e.workspace_id = {}",
        "e.captured_at",
        "e.id",
    ),
    # The change log's entries of the lead's own row (index change_log_table_row);
    # its decisions, messages and consent events have their own entries above.
    branch(
        CHANGE,
        "jsonb_build_object('operation', c.operation, 'actor', c.actor, "
        "'actor_kind', c.actor_kind, 'action', c.action, 'changes', c.changes) AS detail",
        "change_log AS c",
        "c.table_name = 'lead' AND c.row_id = {} AND c.workspace_id = {}",
        "c.created_at",
        "c.id",
    ),
]
TIMELINE = (
    f"SELECT rank, id, at, detail FROM ({' UNION ALL '.join(TIMELINE_BRANCHES)}) AS timeline "
    "ORDER BY at DESC, rank DESC, id DESC LIMIT {}"
)

CURSOR = re.compile(r"([0-9]{1,16})-([1-4])-([0-9]{1,18})")
MICROSECOND = timedelta(microseconds=1)
Cursor = tuple[datetime, int, int]
FIRST_PAGE: Cursor = (NEWEST[0], MESSAGE + 1, 0)


def encode_cursor(entry: dict[str, Any]) -> str:
    """The cursor of a page that starts just older than ``entry``."""
    micros = (entry["at"] - EPOCH) // MICROSECOND
    return f"{micros}-{entry['rank']}-{entry['id']}"


def decode_cursor(text: str) -> Cursor | None:
    """The (instant, rank, id) a cursor names; None when it is not one this page wrote."""
    match = CURSOR.fullmatch(text.strip())
    if not match:
        return None
    micros, rank, row_id = (int(part) for part in match.groups())
    if micros > (NEWEST[0] - EPOCH) // MICROSECOND or row_id > 2**63 - 1:
        return None
    return EPOCH + micros * MICROSECOND, rank, row_id


async def timeline(
    lead_id: int, workspace_id: int, before: Cursor = FIRST_PAGE, limit: int = TIMELINE_PAGE
) -> list[dict[str, Any]]:
    """The lead's entries older than ``before``, newest first: at most ``limit``."""
    at, rank, row_id = before
    per_branch = [lead_id, workspace_id, at, at, rank, row_id, limit]
    rows = await fetch(TIMELINE, *(per_branch * len(TIMELINE_BRANCHES)), limit)
    return [{**row, "detail": json.loads(row["detail"])} for row in rows]


# --- what the page reads -----------------------------------------------------------------


@dataclass
class LeadPage:
    lead: dict[str, Any]
    zone: ZoneInfo  # the zone the page writes local times in
    decision: dict[str, Any] | None  # simulate's answer now (None: it could not decide)
    planned: dict[str, Any] | None
    refusal: str | None  # why the engine could not answer
    consent_state: dict[str, dict[str, Any] | None]
    consent_history: list[dict[str, Any]]
    entries: list[dict[str, Any]]
    older: str | None  # the cursor of the next older page
    first_page: bool


async def lead_page_data(lead: dict[str, Any], before: Cursor) -> LeadPage:
    """Everything the page shows of ``lead`` (a row of LEAD), timeline from ``before``."""
    lead_id, workspace_id = lead["id"], lead["workspace_id"]
    decision = planned = refusal = None
    try:
        decision = await engine.simulate(workspace_id, lead_id, SendKind.FOLLOWUP)
        planned = await engine.schedule(workspace_id, lead_id, PLANNED_FOLLOW_UPS)
    except DomainError as error:
        refusal = str(error)
    entries = await timeline(lead_id, workspace_id, before, TIMELINE_PAGE + 1)
    return LeadPage(
        lead=lead,
        zone=page_zone(lead, decision),
        decision=decision,
        planned=planned,
        refusal=refusal,
        consent_state=await consent.consent_state(workspace_id, lead_id),
        consent_history=await consent.history(
            workspace_id, lead_id, limit=CONSENT_HISTORY_SHOWN + 1
        ),
        entries=entries[:TIMELINE_PAGE],
        older=encode_cursor(entries[TIMELINE_PAGE - 1]) if len(entries) > TIMELINE_PAGE else None,
        first_page=before == FIRST_PAGE,
    )


def page_zone(lead: dict[str, Any], decision: dict[str, Any] | None) -> ZoneInfo:
    """The zone in effect (of several, the workspace's if it is one, else the first),
    else the lead's, else the workspace's."""
    names = [*(decision["rule_trace"]["zones"] if decision else [])]
    if lead["workspace_timezone"] in names:
        names.insert(0, lead["workspace_timezone"])
    names += [lead["timezone"] or "", lead["workspace_timezone"] or "", "UTC"]
    return ZoneInfo(next(name for name in names if name and known_zone(name)))


# --- instants for people -------------------------------------------------------------------


def spoken(instant: datetime, tz: ZoneInfo) -> str:
    """``Tue 2 Dec 10:23 WET`` (with the year when it is not this year's)."""
    local = instant.astimezone(tz)
    year = "" if local.year == datetime.now(tz).year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year} {local:%H:%M} {local.tzname()}"


def when(instant: datetime | str | None, tz: ZoneInfo) -> str:
    """An instant in the lead's zone and in UTC, as a <time> element."""
    if instant is None:
        return "—"
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant)
    local, utc = spoken(instant, tz), spoken(instant, ZoneInfo("UTC"))
    shown = local if tz.key == "UTC" else f"{local} <small>({utc})</small>"
    return f'<time datetime="{instant.astimezone(UTC).isoformat()}">{shown}</time>'


# --- the page ---------------------------------------------------------------------------------


async def lead_page_view(request: Request) -> Response:
    """The page of the lead in the path; ``?before=`` pages the timeline."""
    text = request.path_params["lead_id"]
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        return page(f"Lead {escape(text)}", problem(f"{text!r} is not a lead id."), 400)
    before = decode_cursor(request.query_params.get("before", "")) or FIRST_PAGE
    if "before" in request.query_params and before == FIRST_PAGE:
        message = "That link to older entries is damaged: start again from the newest."
        return page(f"Lead #{text}", problem(message, link=f"{LEAD_PAGE_PATH}{text}/"), 400)
    rows = await fetch(LEAD, int(text))
    if not rows:
        return page(f"Lead #{text}", problem(f"There is no lead #{text}."), 404)
    data = await lead_page_data(rows[0], before)
    return page(lead_title(data.lead), lead_html(data))


def problem(message: str, link: str = "/admin/#/lead") -> str:
    return f'<p class="error">{escape(message)}</p><p><a href="{escape(link)}">Back</a></p>'


def lead_title(lead: dict[str, Any]) -> str:
    name = f" ({lead['name']})" if lead["name"] else ""
    return f"{lead['external_id']}{name}"


def page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · Masterplan admin</title>"
        f"<style>{STYLE}</style></head><body>"
        '<header><a href="/admin/">&larr; Masterplan admin</a>'
        '<a href="/admin/#/lead">Leads</a>'
        f"<h1>{escape(title)}</h1></header><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status_code)


def lead_html(data: LeadPage) -> str:
    return "".join(
        [
            lead_section(data),
            why_not_section(data),
            consent_section(data),
            timeline_section(data),
        ]
    )


def lead_section(data: LeadPage) -> str:
    lead, tz = data.lead, data.zone
    tags = json.loads(lead["tags"]) if isinstance(lead["tags"], str) else lead["tags"]
    tag_list = "".join(f'<span class="tag">{escape(tag)}</span>' for tag in tags) or "none"
    zone = zone_text(data)
    rows = [
        ("Workspace", f"{escape(lead['workspace_name'])} (#{lead['workspace_id']})"),
        ("Stage", f'<span data-figure="stage">{escape(lead["stage"])}</span>'),
        ("Tags", f'<span data-figure="tags">{tag_list}</span>'),
        ("Zone in effect", f'<span data-figure="zone">{zone}</span>'),
        ("Next follow-up", when(lead["next_followup_at"], tz)),
        ("Last follow-up", when(lead["last_followup_at"], tz)),
        ("Last wrote to us", when(lead["last_inbound_at"], tz)),
        ("Created", when(lead["created_at"], tz)),
    ]
    links = (
        f'<p class="links"><a href="/admin/#/lead/{lead["id"]}/">Edit the lead</a> · '
        f'<a href="/admin/#/forms/record-consent">Record consent</a> · '
        f'<a href="/admin/#/consent_event?lead_id={lead["id"]}">Consent ledger</a></p>'
    )
    return section("lead", "The lead", definition_list(rows) + links)


def zone_text(data: LeadPage) -> str:
    if data.decision is None:
        return escape(data.zone.key)
    trace = data.decision["rule_trace"]
    zones = ", ".join(trace["zones"]) or "unresolved"
    return f"{escape(zones)} <small>({escape(trace['zone_reason'])})</small>"


def why_not_section(data: LeadPage) -> str:
    """The engine's answer for a follow-up now: verdict, when next, each rule."""
    if data.decision is None:
        message = f"The policy engine could not answer: {data.refusal}"
        return section("why-not", "Why not, when next", f'<p class="error">{escape(message)}</p>')
    decision, tz = data.decision, data.zone
    allowed = decision["allow_send"]
    verdict = (
        f'<p class="verdict {"allowed" if allowed else "refused"}" data-figure="verdict">'
        f"{'A follow-up may be sent now' if allowed else 'No follow-up now'}: "
        f"<strong>{escape(decision['reason_code'])}</strong> — {escape(why(decision))}</p>"
    )
    next_at = decision["next_allowed_at"]
    next_line = (
        f'<p data-figure="next-allowed">Next allowed: {when(next_at, tz)}</p>'
        if next_at is not None and not allowed
        else ""
    )
    return section(
        "why-not",
        "Why not, when next",
        verdict + next_line + rules_table(decision["rule_trace"]["rules"]) + planned_html(data),
    )


def why(decision: dict[str, Any]) -> str:
    """The deciding rule's own words (the summary when no rule decided)."""
    rules = decision["rule_trace"]["rules"]
    deciding = [rule for rule in rules if rule["rule"] == decision["reason_code"]]
    return deciding[0]["detail"] if deciding else decision["summary"]


RULE_MARKS = {True: ("passed", "✓ passed"), False: ("failed", "✗ refused")}


def rules_table(rules: list[dict[str, Any]]) -> str:
    rows = []
    for rule in rules:
        css, mark = RULE_MARKS[rule["passed"]] if rule["applies"] else ("skipped", "- n/a")
        rows.append(
            f'<tr class="{css}" data-rule="{escape(rule["rule"])}"><td>{mark}</td>'
            f"<th scope=row>{escape(rule['rule'])}</th><td>{escape(rule['detail'])}</td></tr>"
        )
    return (
        "<details open><summary>Each rule</summary>"
        f'<table class="rules"><tr><th>Outcome</th><th>Rule</th><th>Why</th></tr>{"".join(rows)}'
        "</table></details>"
    )


def planned_html(data: LeadPage) -> str:
    planned = data.planned
    if planned is None:
        return ""
    items = "".join(f"<li>{when(item['at'], data.zone)}</li>" for item in planned["items"])
    stops = (
        f"<p>Follow-ups stop: {escape(planned['stops_with'])}</p>" if planned["stops_with"] else ""
    )
    listed = f'<ol data-figure="planned">{items}</ol>' if items else "<p>None planned.</p>"
    return f"<h3>Next follow-ups if each is sent when allowed</h3>{listed}{stops}"


def consent_section(data: LeadPage) -> str:
    required = data.lead["consent_required"]
    note = (
        "This workspace requires a marketing grant before any follow-up."
        if required
        else "This workspace does not require recorded consent for follow-ups."
    )
    rows = [
        (purpose.value, consent_state_text(data.consent_state[purpose.value], data.zone))
        for purpose in ConsentPurpose
    ]
    history = data.consent_history[:CONSENT_HISTORY_SHOWN]
    more = (
        f'<p><a href="/admin/#/consent_event?lead_id={data.lead["id"]}">'
        "The whole history in the ledger</a></p>"
        if len(data.consent_history) > CONSENT_HISTORY_SHOWN
        else ""
    )
    listed = "".join(f"<li>{consent_text(event, data.zone)}</li>" for event in history)
    history_html = (
        f'<ol class="history" data-figure="consent-history">{listed}</ol>{more}'
        if history
        else '<p class="empty">No consent recorded for this lead.</p>'
    )
    return section(
        "consent",
        "Consent",
        f"<p>{note}</p>"
        + definition_list(rows, figure="consent")
        + f"<h3>History, newest first</h3>{history_html}",
    )


def consent_state_text(event: dict[str, Any] | None, tz: ZoneInfo) -> str:
    if event is None:
        return '<span class="state none">nothing recorded</span>'
    word = "granted" if event["action"] == "grant" else "revoked"
    return f'<span class="state {word}">{word}</span> {when(event["captured_at"], tz)}'


def consent_text(event: dict[str, Any], tz: ZoneInfo) -> str:
    """One consent event in words: what, for what, on which wording, how, by whom."""
    wording = (
        f", wording v{event['wording_version']} (sha256 {event['wording_sha256'][:12]}…)"
        if event.get("wording_version") is not None
        else ""
    )
    method = f", {event['method'].replace('_', ' ')}" if event.get("method") else ""
    by = f"; recorded by {escape(event['recorded_by'])}" if event.get("recorded_by") else ""
    recorded = f" on {when(event['recorded_at'], tz)}" if event.get("recorded_at") else ""
    said = when(event["captured_at"], tz) if "captured_at" in event else ""
    return (
        f"{said} <strong>{escape(event['action'])}</strong> {escape(event['purpose'])}"
        f"{escape(wording)}{escape(method)}{by}{recorded}"
    )


def timeline_section(data: LeadPage) -> str:
    lead_id = data.lead["id"]
    entries = "".join(entry_html(entry, data.zone) for entry in data.entries)
    body = (
        f'<ol class="timeline" data-figure="timeline">{entries}</ol>'
        if entries
        else '<p class="empty">Nothing has happened with this lead yet.</p>'
    )
    links = []
    if not data.first_page:
        links.append(f'<a href="{LEAD_PAGE_PATH}{lead_id}/" rel="first">Newest</a>')
    if data.older:
        links.append(
            f'<a href="{LEAD_PAGE_PATH}{lead_id}/?before={data.older}" rel="next">Older &rarr;</a>'
        )
    nav = f'<nav class="pages">{" · ".join(links)}</nav>' if links else ""
    return section("timeline", "Timeline, newest first", body + nav)


def entry_html(entry: dict[str, Any], tz: ZoneInfo) -> str:
    source = SOURCE_NAMES[entry["rank"]]
    detail = entry["detail"]
    text = ENTRY_TEXTS[source](detail, tz)
    return (
        f'<li class="{source}" data-source="{source}" data-id="{entry["id"]}">'
        f'<span class="when">{when(entry["at"], tz)}</span>'
        f'<span class="source">{source}</span><span class="what">{text}</span></li>'
    )


MESSAGE_ROLES = {"user": "The lead wrote", "model": "We sent", "tool": "Tool", "system": "System"}


def message_text(detail: dict[str, Any], tz: ZoneInfo) -> str:
    who = MESSAGE_ROLES.get(detail["role"], detail["role"])
    status = ""
    if detail["delivery_status"]:
        error = delivery_error(detail)
        status = (
            f' <span class="delivery {escape(detail["delivery_status"])}">'
            f"{escape(detail['delivery_status'])}{escape(error)}</span>"
        )
    return f"{who}: “{escape(detail['content'])}”{status}"


def delivery_error(detail: dict[str, Any]) -> str:
    """The platform's error of a failed delivery, code and title: ``": 131026 Message
    undeliverable"``; empty when it gave none."""
    said = " ".join(
        str(part)
        for part in (detail.get("delivery_error_code"), detail["delivery_error_title"])
        if part
    )
    return f": {said}" if said else ""


def decision_text(detail: dict[str, Any], tz: ZoneInfo) -> str:
    kind = detail["kind"] or "decision"
    verdict = "allowed" if detail["allow_send"] else "refused"
    summary = f" — {escape(detail['summary'])}" if detail["summary"] else ""
    next_at = (
        f"; next allowed {when(detail['next_allowed_at'], tz)}"
        if detail["next_allowed_at"] and not detail["allow_send"]
        else ""
    )
    reason = f"<strong>{escape(detail['reason_code'])}</strong>"
    return f"{escape(kind)} {verdict}: {reason}{summary}{next_at}"


# Columns a change entry does not repeat: the row's identity and clock.
UNSHOWN_CHANGES = {"id", "workspace_id", "created_at"}


def change_text(detail: dict[str, Any], tz: ZoneInfo) -> str:
    """Who changed the lead's row, and each field from old to new (or as created)."""
    changes = detail["changes"] or {}
    fields = ", ".join(
        changed_field(name, value) for name, value in changes.items() if name not in UNSHOWN_CHANGES
    )
    what = f": {fields}" if fields else ""
    return (
        f"{escape(detail['operation'].lower())} by {escape(detail['actor'])} "
        f"({escape(detail['action'])}){what}"
    )


def changed_field(name: str, value: Any) -> str:
    if not isinstance(value, dict):
        return escape(name)
    if "old" not in value:
        return f"{escape(name)} {escape(short(value.get('new')))}"
    return f"{escape(name)} {escape(short(value['old']))} → {escape(short(value.get('new')))}"


def short(value: Any) -> str:
    text = "—" if value is None else value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 60 else f"{text[:57]}…"


ENTRY_TEXTS = {
    "message": message_text,
    "decision": decision_text,
    "consent": consent_text,
    "change": change_text,
}


def section(name: str, title: str, content: str) -> str:
    return f'<section id="{name}"><h2>{escape(title)}</h2>{content}</section>'


def definition_list(rows: list[tuple[str, str]], figure: str | None = None) -> str:
    """Labels (escaped here) and values (HTML already)."""
    items = "".join(
        f'<dt>{escape(label)}</dt><dd data-label="{escape(label)}">{value}</dd>'
        for label, value in rows
    )
    attribute = f' data-figure="{figure}"' if figure else ""
    return f"<dl{attribute}>{items}</dl>"


STYLE = (
    PAGE_STYLE
    + """
h3 { font-size: 0.95em; margin-top: 16px; }
dl { display: grid; grid-template-columns: 160px 1fr; gap: 4px 12px; }
dt { font-weight: 600; } dd { margin: 0; }
small { color: #5b6478; } .empty { color: #5b6478; font-style: italic; }
.error { color: #b00020; } .tag { background: #e7ecf7; border-radius: 3px; padding: 0 6px;
        margin-right: 4px; }
.verdict { padding: 8px 12px; border-left: 4px solid; }
.verdict.allowed { border-color: #1e8e3e; background: #eef8f0; }
.verdict.refused { border-color: #b00020; background: #fbeef0; }
table.rules { border-collapse: collapse; } table.rules td, table.rules th { padding: 2px 10px;
        text-align: left; vertical-align: top; }
tr.failed td:first-child { color: #b00020; font-weight: 600; }
tr.passed td:first-child { color: #1e8e3e; } tr.skipped { color: #8a91a1; }
.state.granted { color: #1e8e3e; font-weight: 600; }
.state.revoked { color: #b00020; font-weight: 600; }
ol.timeline { list-style: none; padding: 0; }
ol.timeline li { display: grid; grid-template-columns: 330px 80px 1fr; gap: 8px;
        padding: 4px 0; border-bottom: 1px solid #eceff4; }
.source { text-transform: uppercase; font-size: 0.75em; color: #5b6478; padding-top: 2px; }
.delivery { font-size: 0.85em; background: #eceff4; border-radius: 3px; padding: 0 5px; }
.delivery.failed { background: #fbeef0; color: #b00020; }
nav.pages { margin-top: 12px; }
"""
)
