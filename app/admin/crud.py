"""The admin's table endpoints at a million rows: indexed text search, bounded
counts, lead search in pickers, history links, and changes named after the operator.

piccolo-admin builds one ``PiccoloCRUD`` per table; ``use_admin_crud`` turns each
into an ``AdminCRUD``, which answers the same requests with the same shapes.
"""

import json
import re
from typing import Any

from piccolo.columns import Column, Text, Varchar
from piccolo.columns.combination import WhereRaw
from piccolo.querystring import QueryString
from piccolo.table import Table
from piccolo_api.crud.endpoints import ParamException, PiccoloCRUD
from piccolo_api.crud.exceptions import MalformedQuery
from piccolo_api.crud.validators import apply_validators
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.change_log import SAFE_METHODS, Actor, name_actor
from app.db.replicas import lag_tolerant, reads_may_lag
from app.enums import ChangeActorKind, TemplateCategory
from app.tables import Lead, PolicyDecision

# Text columns with a GIN index on masterplan_search_trigrams(column)
# (migrations 2026-11-26T19:41:00 and T21:40:00): their searches get the index's condition.
SEARCHED_COLUMNS: tuple[Column, ...] = (Lead.external_id, Lead.name, PolicyDecision.reason_code)

# Counts stop here; past it the admin shows "10,000+" (or an estimate when nothing
# is filtered), so that no count reads more than this many rows.
COUNT_LIMIT = 10_000
COUNT_KIND_HEADER = "X-Count-Kind"  # exact, at-least or estimate

# Tables whose rows link to their history: the change log column holding their id.
HISTORY_COLUMNS = {"lead": "lead_id", "workspace": "workspace_id"}

ADMIN_ACTIONS = {"POST": "admin create", "PUT": "admin edit", "PATCH": "admin edit"}

# The database's rules, in words, for the constraints an operator's row may break.
RULES_IN_WORDS = {
    "channel_restriction_prefix_e164": (
        "number_prefix must be an E.164 prefix: + and 1 to 15 digits, the first not 0 "
        '(e.g. "+1", "+44")'
    ),
    "channel_restriction_region_code": (
        'region must be empty or a country\'s two capital letters (ISO 3166, e.g. "US")'
    ),
    "channel_restriction_category_valid": (
        f"template_category must be one of {', '.join(TemplateCategory)}"
    ),
    "channel_restriction_description_not_blank": "description must say what is not delivered",
    "channel_restriction_once": "this prefix, region and category already has a restriction",
    "channel_restriction_once_any_region": (
        "this prefix and category already has a restriction for every region"
    ),
}
REFUSING_CONSTRAINT = re.compile(r'constraint "(\w+)"')


def refusal_in_words(message: str) -> str:
    """The database's refusal of an operator's row, in words where its constraint has
    some (the constraint's name kept, for whoever reads the schema)."""
    found = REFUSING_CONSTRAINT.search(message)
    constraint = found.group(1) if found else ""
    words = RULES_IN_WORDS.get(constraint)
    return f"{words} ({constraint})" if words else message


def worded(response: Response) -> Response:
    """piccolo-api's ``db_error`` answer, in words (its own handler answers the
    database's refusals before the admin's exception handlers see them)."""
    if response.status_code != 422:
        return response
    body = json.loads(response.body)
    if not isinstance(body, dict) or "db_error" not in body:
        return response
    return JSONResponse({"db_error": refusal_in_words(str(body["db_error"]))}, status_code=422)


def is_searched(column: Column) -> bool:
    # Identity: Column.__eq__ builds a SQL condition.
    return any(column is searched for searched in SEARCHED_COLUMNS)


def like_pattern(value: str, match: str) -> str:
    """The LIKE pattern piccolo-api builds for a match type (see _apply_filters)."""
    return {"exact": value, "starts": f"{value}%", "ends": f"%{value}"}.get(match, f"%{value}%")


def has_trigram(pattern: str) -> bool:
    """Whether a pattern names a literal piece long enough for the trigram index."""
    if "\\" in pattern:
        return False
    pieces = pattern.replace("_", "%").split("%")
    return any(len(piece) >= 3 for piece in pieces)


def matching_choices(column: Column, pattern: str) -> list[str] | None:
    """The choices of an enum column that ``value ILIKE pattern`` keeps (None when
    the pattern escapes a character): the same filter, as ``IN``, which a btree serves."""
    if "\\" in pattern:
        return None
    regex = "".join(
        ".*" if char == "%" else "." if char == "_" else re.escape(char) for char in pattern
    )
    found = re.compile(regex, re.IGNORECASE | re.DOTALL)
    return [choice.value for choice in column._meta.choices if found.fullmatch(choice.value)]


def trigram_condition(column: Column, pattern: str) -> WhereRaw:
    """A condition every match of ``pattern`` meets, answered by the GIN index."""
    table = column._meta.table._meta.tablename
    return WhereRaw(
        f'masterplan_search_trigrams("{table}"."{column._meta.db_column_name}") '
        "@> masterplan_pattern_trigrams({})",
        pattern,
    )


class AdminCRUD(PiccoloCRUD):
    def _apply_filters(self, query: Any, params: Any) -> Any:
        """piccolo-api's filters, plus an equivalent condition an index serves for
        text searches (ILIKE) on searched columns and on enum columns."""
        query = super()._apply_filters(query, params)
        for name, values in params.fields.items():
            column = self.table._meta.get_column_by_name(name)
            if not isinstance(column, Varchar | Text):
                continue
            for value in values if isinstance(values, list) else [values]:
                pattern = like_pattern(str(value), params.match_types[name])
                if is_searched(column) and has_trigram(pattern):
                    query = query.where(trigram_condition(column, pattern))
                elif column._meta.choices is not None:
                    choices = matching_choices(column, pattern)
                    if choices is not None:
                        query = query.where(column.is_in(choices) if choices else WhereRaw("false"))
        return query

    @lag_tolerant
    @apply_validators
    async def get_count(self, request: Request) -> Response:
        """Exact up to COUNT_LIMIT rows; beyond, "at least" (filtered) or the
        planner's estimate (unfiltered), said by the X-Count-Kind header."""
        params = self._parse_params(request.query_params)
        try:
            split_params = self._split_params(params)
            query = self._apply_filters(
                self.table.select(self.table._meta.primary_key), split_params
            )
        except (ParamException, MalformedQuery) as error:
            return Response(str(error), status_code=400)
        count = await bounded_count(query)
        kind = "exact"
        if count > COUNT_LIMIT:
            filtered = bool(split_params.fields)
            estimate = None if filtered else await estimated_rows(self.table)
            kind, count = ("estimate", estimate) if estimate else ("at-least", COUNT_LIMIT)
        return JSONResponse(
            {"count": count, "page_size": self.page_size}, headers={COUNT_KIND_HEADER: kind}
        )

    @lag_tolerant
    @apply_validators
    async def get_ids(self, request: Request) -> Response:
        """Leads are picked by part of their external id or name, through the index."""
        search = request.query_params.get("search")
        if self.table is not Lead or not search:
            return await super().get_ids(request)
        limit = request.query_params.get("limit", "")
        limit_rows = int(limit) if limit.isdigit() else 20
        pattern = f"%{search}%"
        query = Lead.select(Lead.id, Lead.external_id, Lead.name).where(
            Lead.external_id.ilike(pattern) | Lead.name.ilike(pattern)
        )
        if has_trigram(pattern):
            query = query.where(
                trigram_condition(Lead.external_id, pattern) | trigram_condition(Lead.name, pattern)
            )
        rows = await query.order_by(Lead.id, ascending=False).limit(min(limit_rows, 100))
        return JSONResponse({str(row["id"]): lead_label(row) for row in rows})

    async def get_references(self, request: Request) -> JSONResponse:
        """Tables referencing this one, and its change history where it is kept."""
        response = await super().get_references(request)
        references = json.loads(response.body)["references"]
        column = HISTORY_COLUMNS.get(self.table._meta.tablename)
        if column is not None:
            references.append({"tableName": "change_log", "columnName": column})
        return JSONResponse({"references": references})

    async def root(self, request: Request) -> Response:
        """A page of rows (from a read replica, when one is fit), or a created row."""
        if request.method == "GET":
            with reads_may_lag():
                return await super().root(request)
        await name_operator(request)
        return worded(await super().root(request))

    async def detail(self, request: Request) -> Response:
        await name_operator(request)
        return worded(await super().detail(request))


def lead_label(row: dict[str, Any]) -> str:
    return f"{row['external_id']} ({row['name']})" if row["name"] else row["external_id"]


async def bounded_count(query: Any) -> int:
    """How many rows ``query`` selects, reading at most COUNT_LIMIT + 1 of them."""
    limited = query.limit(COUNT_LIMIT + 1)
    rows = await query.table._meta.db.run_querystring(
        QueryString("SELECT count(*) AS count FROM ({}) AS bounded", limited.querystrings[0])
    )
    return rows[0]["count"]


async def estimated_rows(table: type[Table]) -> int | None:
    """The planner's row count for a table (None before its first ANALYZE)."""
    rows = await table._meta.db.run_querystring(
        QueryString(
            "SELECT reltuples::bigint AS rows FROM pg_class WHERE oid = to_regclass({})",
            table._meta.tablename,
        )
    )
    return rows[0]["rows"] if rows and rows[0]["rows"] > COUNT_LIMIT else None


def operator_actor(request: Request) -> Actor:
    """The logged-in operator, as the change log names them."""
    user = request.user.user
    return Actor(ChangeActorKind.OPERATOR, user.username, user.id)


async def name_operator(request: Request) -> None:
    """A state-changing admin request's changes are recorded as the operator's."""
    if request.method in SAFE_METHODS:
        return
    action = ADMIN_ACTIONS.get(request.method, "admin delete")
    await name_actor(operator_actor(request), action)


def use_admin_crud(apps: list[Any]) -> None:
    """Make every PiccoloCRUD behind the admin's table routes an AdminCRUD.

    piccolo-admin creates them inline (AdminRouter.__init__), reachable only through
    the route endpoints' closures; the class swap keeps their configuration.
    """
    for app in apps:
        for route in app.routes:
            for cell in getattr(getattr(route, "endpoint", None), "__closure__", None) or ():
                contents = cell.cell_contents
                if type(contents) is PiccoloCRUD:
                    contents.__class__ = AdminCRUD
