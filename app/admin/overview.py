"""The operator overview: one workspace at a glance, drawn by the server.

Behind the admin's session login; numbers come from the tables in a handful of
indexed queries per workspace, charts are inline SVG (nothing is fetched from
elsewhere), every chart has a table of the same numbers beside it.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.db.executor import fetch
from app.db.replicas import lag_tolerant
from app.enums import (
    FOLLOW_UP_STAGES,
    ChatRole,
    LeadStage,
    MessagingTier,
    PlatformError,
    StrategyStatus,
)
from app.policy.consent import marketing_consent_missing
from app.policy.engine import TEMPLATE_PERMITS
from app.policy.rules import MESSAGING_WINDOW
from app.whatsapp.failures import FAILURE_COUNTS, UNREACHABLE_LEAD

OVERVIEW_PATH = "/admin/overview/"
SEND_DAYS = 30
DECISION_DAYS = 7
CHANNEL_DAYS = 7

WORKSPACES = "SELECT id, name, timezone, messaging_tier FROM workspace ORDER BY name, id"
STAGES = "SELECT stage, count(*) AS leads FROM lead WHERE workspace_id = {} GROUP BY stage"
TAGS = (
    "SELECT tag, count(*) AS leads FROM lead, jsonb_array_elements_text(lead.tags) AS tag "
    "WHERE workspace_id = {} GROUP BY tag ORDER BY leads DESC, tag"
)
# Due leads are overdue, or held for want of consent where the workspace requires it
# (the latest marketing consent event is not a grant: claims skip them, app/leads.py).
FOLLOW_UPS = f"""
WITH scope AS (SELECT id, consent_required FROM workspace WHERE id = {{}})
SELECT count(*) FILTER (WHERE overdue AND NOT held) AS overdue,
       count(*) FILTER (WHERE overdue AND held) AS held_for_consent,
       count(*) FILTER (WHERE overdue AND NOT held AND NOT answering) AS overdue_templates,
       count(*) FILTER (WHERE next_followup_at > now()
                          AND next_followup_at <= now() + interval '24 hours') AS due_next_24h,
       count(*) FILTER (WHERE leased) AS leased,
       (SELECT consent_required FROM scope) AS consent_required
  FROM (SELECT next_followup_at, leased, overdue, answering,
               overdue AND (SELECT consent_required FROM scope)
                 AND {marketing_consent_missing("scheduled.id", "now()")} AS held
          FROM (SELECT id, next_followup_at,
                       coalesce(followup_lease_until > now(), false) AS leased,
                       coalesce(last_inbound_at > now() - interval '24 hours', false)
                         AS answering,
                       next_followup_at <= now()
                         AND coalesce(followup_lease_until <= now(), true) AS overdue
                  FROM lead
                 WHERE workspace_id = (SELECT id FROM scope) AND next_followup_at IS NOT NULL
                   AND stage IN ({", ".join(f"'{stage.value}'" for stage in FOLLOW_UP_STAGES)})
               ) AS scheduled
       ) AS due
"""
DECISIONS = (
    "SELECT reason_code, allow_send, count(*) AS decisions FROM policy_decision "
    "WHERE workspace_id = {} AND created_at >= {} "
    "GROUP BY reason_code, allow_send ORDER BY decisions DESC, reason_code"
)
PERMITS_PER_DAY = (
    "SELECT (created_at AT TIME ZONE {})::date AS day, count(*) AS sends FROM policy_decision "
    "WHERE workspace_id = {} AND allow_send AND kind IS NOT NULL AND created_at >= {} "
    "GROUP BY day"
)
MESSAGES_PER_DAY = (
    "SELECT (message.created_at AT TIME ZONE {})::date AS day, count(*) AS sends "
    "FROM chat_message AS message JOIN conversation_thread AS thread "
    "ON thread.id = message.thread_id "
    f"WHERE thread.workspace_id = {{}} AND message.role = '{ChatRole.MODEL.value}' "
    "AND message.created_at >= {} GROUP BY day"
)
TEMPLATE_SENDS_PER_DAY = (
    "SELECT (created_at AT TIME ZONE {})::date AS day, count(*) AS sends FROM policy_decision "
    f"WHERE workspace_id = {{}} AND {TEMPLATE_PERMITS} AND created_at >= {{}} GROUP BY day"
)
TEMPLATE_RECIPIENTS_24H = (
    "SELECT count(DISTINCT lead_id) AS people FROM policy_decision "
    f"WHERE workspace_id = {{}} AND {TEMPLATE_PERMITS} "
    f"AND created_at > {{}}::timestamptz - interval '{MESSAGING_WINDOW.total_seconds():.0f} "
    "seconds' AND created_at <= {}"
)
# Leads WhatsApp reported undeliverable (131026) that have not written since: rule
# LEAD_UNREACHABLE holds their follow-ups (partial index lead_unreachable).
UNREACHABLE = f"SELECT count(*) AS leads FROM lead WHERE workspace_id = {{}} AND {UNREACHABLE_LEAD}"
# What the engine does with each error a failed status carries (docs/channel.md).
ERROR_EFFECTS = {
    PlatformError.UNDELIVERABLE: "held until the lead writes",
    PlatformError.USER_MARKETING_LIMIT: "no follow-up for 24 h",
    PlatformError.REENGAGEMENT: "counted: free form sent too late",
    PlatformError.THROUGHPUT: "counted, not held against the lead",
    PlatformError.PAIR_RATE: "counted, not held against the lead",
}
ACTIVE_STRATEGY = (
    "SELECT version_number, followup_preset, activated_at FROM strategy_version "
    f"WHERE workspace_id = {{}} AND status = '{StrategyStatus.ACTIVE.value}'"
)
LATEST_ATTESTATION = (
    'SELECT granted, operator_id, "timestamp" FROM outreach_attestation '
    'WHERE workspace_id = {} ORDER BY "timestamp" DESC, id DESC LIMIT 1'
)
WAITING_IN_INBOX = (
    "SELECT count(*) AS items FROM webhook_inbox WHERE workspace_id = {} AND processed_at IS NULL"
)
INBOX_LIST = "/admin/#/webhook_inbox?workspace_id={}"


@dataclass
class Overview:
    workspace: dict[str, Any]
    stages: list[tuple[str, int]]
    tags: list[tuple[str, int]]
    follow_ups: dict[str, int]
    decisions: list[dict[str, Any]]
    days: list[date]
    permits_per_day: dict[date, int] = field(default_factory=dict)
    messages_per_day: dict[date, int] = field(default_factory=dict)
    strategy: dict[str, Any] | None = None
    attestation: dict[str, Any] | None = None
    # Webhook items for the workspace's numbers that were kept, not acted on.
    inbox_waiting: int = 0
    channel: "Channel | None" = None

    @property
    def leads(self) -> int:
        return sum(count for _, count in self.stages)


@dataclass
class Channel:
    """The workspace's use of WhatsApp against its limits, as of the overview's time."""

    tier: MessagingTier
    days: list[date]  # the last CHANNEL_DAYS local days
    template_sends_per_day: dict[date, int]
    template_recipients_24h: int
    failures: list[dict[str, Any]]  # code, title, failures: the last CHANNEL_DAYS days
    unreachable: int
    held_by_limit: int  # due leads a template would reach while the limit is reached

    @property
    def at_limit(self) -> bool:
        limit = self.tier.limit
        return limit is not None and self.template_recipients_24h >= limit


async def channel_figures(
    workspace: dict[str, Any], days: list[date], follow_ups: dict[str, Any], now: datetime
) -> Channel:
    """The channel section's numbers; ``follow_ups`` is the FOLLOW_UPS row."""
    workspace_id = workspace["id"]
    channel_days = days[-CHANNEL_DAYS:]
    since = datetime.combine(channel_days[0], time(0), tzinfo=ZoneInfo(workspace["timezone"]))
    recipients = await fetch(TEMPLATE_RECIPIENTS_24H, workspace_id, now, now)
    channel = Channel(
        tier=MessagingTier(workspace["messaging_tier"]),
        days=channel_days,
        template_sends_per_day=await per_day(TEMPLATE_SENDS_PER_DAY, workspace, since),
        template_recipients_24h=recipients[0]["people"],
        failures=await fetch(FAILURE_COUNTS, now - timedelta(days=CHANNEL_DAYS), now, workspace_id),
        unreachable=(await fetch(UNREACHABLE, workspace_id))[0]["leads"],
        held_by_limit=0,
    )
    if channel.at_limit:
        channel.held_by_limit = follow_ups["overdue_templates"]
    return channel


async def workspace_overview(workspace: dict[str, Any], now: datetime) -> Overview:
    """Every number of the page for one workspace, as of ``now``."""
    workspace_id = workspace["id"]
    zone = ZoneInfo(workspace["timezone"])
    today = now.astimezone(zone).date()
    days = [today - timedelta(days=back) for back in range(SEND_DAYS - 1, -1, -1)]
    since = datetime.combine(days[0], time(0), tzinfo=zone)
    stage_counts = {row["stage"]: row["leads"] for row in await fetch(STAGES, workspace_id)}
    strategies = await fetch(ACTIVE_STRATEGY, workspace_id)
    attestations = await fetch(LATEST_ATTESTATION, workspace_id)
    follow_ups = (await fetch(FOLLOW_UPS, workspace_id))[0]
    channel = await channel_figures(workspace, days, follow_ups, now)
    # A due lead the messaging limit holds is not overdue: dispatch would not send it.
    follow_ups["overdue"] -= channel.held_by_limit
    return Overview(
        workspace=workspace,
        stages=[(stage.value, stage_counts.get(stage.value, 0)) for stage in LeadStage],
        tags=[(row["tag"], row["leads"]) for row in await fetch(TAGS, workspace_id)],
        follow_ups=follow_ups,
        decisions=await fetch(DECISIONS, workspace_id, now - timedelta(days=DECISION_DAYS)),
        days=days,
        permits_per_day=await per_day(PERMITS_PER_DAY, workspace, since),
        messages_per_day=await per_day(MESSAGES_PER_DAY, workspace, since),
        strategy=strategies[0] if strategies else None,
        attestation=attestations[0] if attestations else None,
        inbox_waiting=(await fetch(WAITING_IN_INBOX, workspace_id))[0]["items"],
        channel=channel,
    )


async def per_day(sql: str, workspace: dict[str, Any], since: datetime) -> dict[date, int]:
    rows = await fetch(sql, workspace["timezone"], workspace["id"], since)
    return {row["day"]: row["sends"] for row in rows}


# --- the page ---------------------------------------------------------------------------


@lag_tolerant
async def overview_page(request: Request) -> Response:
    """The overview of the chosen workspace; its figures may come from a read replica."""
    workspaces = await fetch(WORKSPACES)
    chosen = request.query_params.get("workspace")
    if not workspaces:
        return page(workspaces, None, '<p class="empty">There are no workspaces yet.</p>')
    if chosen is None:
        default = next((w for w in workspaces if w["name"] == "Default"), workspaces[0])
        return RedirectResponse(f"{OVERVIEW_PATH}?workspace={default['id']}", status_code=303)
    workspace = next((w for w in workspaces if str(w["id"]) == chosen.strip()), None)
    if workspace is None:
        message = f"There is no workspace #{escape(chosen)}: pick one from the list."
        return page(workspaces, None, f'<p class="error">{message}</p>', status_code=404)
    overview = await workspace_overview(workspace, datetime.now(ZoneInfo("UTC")))
    return page(workspaces, workspace["id"], overview_html(overview))


def page(
    workspaces: list[dict[str, Any]], chosen: int | None, body: str, status_code: int = 200
) -> HTMLResponse:
    options = "".join(
        f'<option value="{w["id"]}"{" selected" if w["id"] == chosen else ""}>'
        f"{escape(w['name'])} (#{w['id']})</option>"
        for w in workspaces
    )
    picker = (
        '<form method="get" class="picker"><label>Workspace '
        f'<select name="workspace" onchange="this.form.submit()">{options}</select></label>'
        "<noscript><button>Show</button></noscript></form>"
    )
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Overview · Masterplan admin</title>"
        f"<style>{STYLE}</style></head><body>"
        '<header><a href="/admin/">&larr; Masterplan admin</a><h1>Overview</h1>'
        f"{picker}</header><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status_code)


def overview_html(overview: Overview) -> str:
    if (
        overview.leads == 0
        and not overview.decisions
        and not any(overview.messages_per_day.values())
    ):
        return (
            '<p class="empty" data-empty="true">This workspace has no leads, decisions or '
            "messages yet. Leads arrive through the API or the admin's lead list.</p>"
            + strategy_html(overview)
        )
    follow_ups = [
        ("overdue", overview.follow_ups["overdue"]),
        ("held for want of consent", overview.follow_ups["held_for_consent"]),
        ("held by the messaging limit", overview.channel.held_by_limit if overview.channel else 0),
        ("due in the next 24 h", overview.follow_ups["due_next_24h"]),
        ("leased right now", overview.follow_ups["leased"]),
    ]
    decisions = [
        (f"{row['reason_code']} ({'allowed' if row['allow_send'] else 'denied'})", row["decisions"])
        for row in overview.decisions
    ]
    sends = [(day.isoformat(), overview.messages_per_day.get(day, 0)) for day in overview.days]
    permits = [(day.isoformat(), overview.permits_per_day.get(day, 0)) for day in overview.days]
    return "".join(
        [
            f'<p class="total">{overview.leads:,} lead{"" if overview.leads == 1 else "s"}</p>',
            section("funnel", "Leads per stage", bar_chart("funnel", overview.stages)),
            section("tags", "Leads per tag", bar_chart("tags", overview.tags)),
            section("follow-ups", "Follow-ups", bar_chart("follow-ups", follow_ups)),
            section(
                "decisions",
                f"Policy decisions, last {DECISION_DAYS} days, by reason",
                bar_chart("decisions", decisions),
            ),
            section(
                "sends",
                f"Messages sent per day, last {SEND_DAYS} days "
                f"({escape(overview.workspace['timezone'])})",
                column_chart("sends", sends) + figures_table("permits", permits, "allowed permits"),
            ),
            channel_html(overview.channel) if overview.channel else "",
            strategy_html(overview),
        ]
    )


def channel_html(channel: Channel) -> str:
    """Template follow-ups per day against the tier, failures by code, and the leads
    the channel's rules hold."""
    limit = channel.tier.limit
    sends = [(day.isoformat(), channel.template_sends_per_day.get(day, 0)) for day in channel.days]
    failures = [
        (f"{row['code'] or 'no code'} {row['title'] or ''}".strip(), row["failures"])
        for row in channel.failures
    ]
    limit_text = "no limit" if limit is None else f"{limit:,} people in any 24 h"
    now_text = (
        f"{channel.template_recipients_24h:,} people"
        + ("" if limit is None else f" of {limit:,}")
        + (": the limit is reached" if channel.at_limit else "")
    )
    effects = "; ".join(f"{code.value}: {effect}" for code, effect in ERROR_EFFECTS.items())
    return section(
        "channel",
        f"WhatsApp, last {CHANNEL_DAYS} days",
        "<dl>"
        f'<dt>Messaging tier</dt><dd data-figure="tier">{escape(channel.tier)}: '
        f"{limit_text} (set on the workspace)</dd>"
        f'<dt>Given a template follow-up in the last 24 h</dt><dd data-figure="recipients">'
        f"{now_text}</dd>"
        f'<dt>Leads unreachable</dt><dd data-figure="unreachable">{channel.unreachable:,} '
        "(WhatsApp reported them undeliverable and they have not written since)</dd>"
        f'<dt>Due leads held by the messaging limit</dt><dd data-figure="held-by-limit">'
        f"{channel.held_by_limit:,}</dd></dl>"
        f"<h3>Template follow-ups per day (limit: {limit_text})</h3>"
        + bar_chart("template-sends", sends)
        + "<h3>Failed deliveries by error code</h3>"
        + bar_chart("failures", failures)
        + f'<p class="note">{escape(effects)}</p>',
    )


def strategy_html(overview: Overview) -> str:
    strategy, attestation = overview.strategy, overview.attestation
    active = (
        f"v{strategy['version_number']} ({escape(strategy['followup_preset'] or '')}), "
        f"active since {strategy['activated_at']:%Y-%m-%d %H:%M} UTC"
        if strategy
        else "none: no follow-ups are sent"
    )
    attested = (
        f"{'granted' if attestation['granted'] else 'withdrawn'} by "
        f"{escape(attestation['operator_id'])} on {attestation['timestamp']:%Y-%m-%d %H:%M} UTC"
        if attestation
        else "never recorded: no sends are allowed"
    )
    return (
        '<section id="strategy"><h2>Strategy and attestation</h2><dl>'
        f'<dt>ACTIVE strategy</dt><dd data-figure="strategy">{active}</dd>'
        f'<dt>Latest attestation</dt><dd data-figure="attestation">{attested}</dd>'
        f'<dt>Consent</dt><dd data-figure="consent">{consent_text(overview)}</dd>'
        f'<dt>Webhook inbox</dt><dd data-figure="inbox">{inbox_text(overview)}</dd>'
        "</dl></section>"
    )


def consent_text(overview: Overview) -> str:
    """Whether follow-ups need recorded consent, and how many due leads wait for it."""
    follow_ups = overview.follow_ups
    if not follow_ups["consent_required"]:
        return (
            "not required: follow-ups go out without a recorded grant "
            "(turn on consent_required in the workspace)"
        )
    held = follow_ups["held_for_consent"]
    if not held:
        return "required: no due lead is held for want of consent"
    return (
        f"required: {held:,} due lead{'' if held == 1 else 's'} held for want of consent "
        "(no grant is their latest marketing consent event)"
    )


def inbox_text(overview: Overview) -> str:
    waiting = overview.inbox_waiting
    if not waiting:
        return "nothing waiting: every WhatsApp item was acted on"
    link = INBOX_LIST.format(overview.workspace["id"])
    return (
        f'<a href="{escape(link)}">{waiting:,} WhatsApp items kept, not acted on</a>: '
        "see why, then 'Reprocess webhook inbox'"
    )


def section(name: str, title: str, content: str) -> str:
    return f'<section id="{name}"><h2>{escape(title)}</h2>{content}</section>'


BAR_HEIGHT, LABEL_WIDTH, BAR_WIDTH = 22, 260, 360


def bar_chart(name: str, rows: list[tuple[str, int]]) -> str:
    """Horizontal bars, one per row, and the same numbers as a table."""
    if not rows:
        return '<p class="empty">None yet.</p>'
    largest = max(count for _, count in rows) or 1
    bars = []
    for index, (label, count) in enumerate(rows):
        y = index * BAR_HEIGHT
        width = round(BAR_WIDTH * count / largest)
        bars.append(
            f'<g data-label="{escape(label)}" data-value="{count}">'
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width}" height="{BAR_HEIGHT - 6}"/>'
            f'<text x="{LABEL_WIDTH + width + 6}" y="{y + 15}">{count:,}</text></g>'
        )
    height = len(rows) * BAR_HEIGHT
    svg = (
        f'<svg class="chart" data-chart="{name}" role="img" aria-label="{escape(name)}" '
        f'width="{LABEL_WIDTH + BAR_WIDTH + 80}" height="{height}">{"".join(bars)}</svg>'
    )
    return svg + figures_table(name, rows)


def column_chart(name: str, rows: list[tuple[str, int]]) -> str:
    """Vertical columns over days, labelled with the first day of each week."""
    largest = max((count for _, count in rows), default=0) or 1
    column, height = 22, 160
    columns = []
    for index, (label, count) in enumerate(rows):
        x = index * column
        bar = round((height - 20) * count / largest)
        tick = (
            f'<text x="{x}" y="{height + 14}">{escape(label[5:])}</text>' if index % 7 == 0 else ""
        )
        columns.append(
            f'<g data-label="{escape(label)}" data-value="{count}">'
            f'<rect x="{x + 2}" y="{height - bar}" width="{column - 4}" height="{bar}">'
            f"<title>{escape(label)}: {count:,}</title></rect>{tick}</g>"
        )
    svg = (
        f'<svg class="chart" data-chart="{name}" role="img" aria-label="{escape(name)}" '
        f'width="{len(rows) * column}" height="{height + 20}">{"".join(columns)}</svg>'
    )
    return svg + figures_table(name, rows, "messages")


def figures_table(name: str, rows: list[tuple[str, int]], heading: str = "count") -> str:
    body = "".join(
        f'<tr><th scope="row">{escape(label)}</th><td data-value="{count}">{count:,}</td></tr>'
        for label, count in rows
    )
    return (
        f"<details><summary>{escape(heading.capitalize())} as a table</summary>"
        f'<table data-table="{name}"><tr><th></th><th>{escape(heading)}</th></tr>{body}'
        "</table></details>"
    )


# The admin's own pages (this one, the lead page, the CSV import): header, sections.
PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1d2433; background: #f6f7f9; }
header { background: #25314a; color: white; padding: 12px 24px; display: flex; gap: 24px;
         align-items: center; }
header a { color: #cfe0ff; } header h1 { font-size: 1.3em; margin: 0; }
main { padding: 8px 24px 40px; max-width: 1100px; }
section { background: white; border-radius: 6px; padding: 8px 16px 16px; margin: 16px 0; }
h2 { font-size: 1.05em; }
"""

STYLE = (
    PAGE_STYLE
    + """
.total { font-size: 1.6em; margin: 16px 0 0; }
svg.chart rect { fill: #3b6fd8; } svg.chart text { font-size: 12px; fill: #1d2433; }
.empty { color: #5b6478; font-style: italic; } .error { color: #b00020; }
.note { color: #5b6478; font-size: 0.9em; } h3 { font-size: 0.95em; }
table { border-collapse: collapse; margin-top: 8px; } td, th { padding: 2px 10px;
        text-align: left; } td { text-align: right; }
dt { font-weight: 600; } dd { margin: 0 0 8px 0; }
"""
)


def to_login(connection: HTTPConnection, error: Exception) -> Response:
    """An operator who is not logged in is sent to the admin's login page."""
    return RedirectResponse("/admin/#/login", status_code=303)
