"""The zone a lead's local time is read in, for the admin's lead page (extras.js)."""

from starlette.requests import Request
from starlette.responses import JSONResponse

from app.db.executor import fetch
from app.phone_numbers import lead_number
from app.policy.recipient import candidate_zones
from app.tables import MAX_ID

LEAD_AND_WORKSPACE_ZONE = (
    "SELECT lead.external_id, lead.timezone, workspace.timezone AS workspace_timezone "
    "FROM lead JOIN workspace ON workspace.id = lead.workspace_id WHERE lead.id = {}"
)


async def lead_zone(request: Request) -> JSONResponse:
    """{zones, zone_source, zone_reason} of one lead, in the engine's order."""
    text = request.path_params["lead_id"]
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        return JSONResponse({"detail": f"not a lead id: {text!r}"}, status_code=400)
    rows = await fetch(LEAD_AND_WORKSPACE_ZONE, int(text))
    if not rows:
        return JSONResponse({"detail": f"lead #{text} does not exist"}, status_code=404)
    row = rows[0]
    choice = candidate_zones(
        row["timezone"], lead_number(row["external_id"]), row["workspace_timezone"]
    )
    return JSONResponse(
        {"zones": list(choice.zones), "zone_source": choice.source, "zone_reason": choice.reason}
    )
