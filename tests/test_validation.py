"""Field rules with readable messages, and their agreement with the database."""

import json

import asyncpg
import pytest

from app.enums import FOLLOW_UP_STAGES, LeadStage
from app.errors import InvalidValue
from app.validation import interval_overrides, lead_tags, timezone_name
from tests import factories


@pytest.mark.parametrize("name", ["UTC", "Europe/Lisbon", "America/Sao_Paulo", "Asia/Kolkata"])
def test_iana_timezones_are_accepted(name):
    assert timezone_name("timezone", name) == name


@pytest.mark.parametrize("name", ["Mars/Olympus", "utc+3", "", "Europe/", 3, None])
def test_other_timezones_are_refused_with_an_example(name):
    with pytest.raises(InvalidValue, match="is not an IANA timezone name") as refused:
        timezone_name("timezone", name)
    assert refused.value.field == "timezone"
    assert "Europe/Lisbon" in str(refused.value)


def test_tags_accept_a_list_or_its_json_text():
    assert lead_tags("tags", ["POSITIVE", "NEUTRAL"]) == ["POSITIVE", "NEUTRAL"]
    assert lead_tags("tags", '["INTENT_PURCHASE"]') == ["INTENT_PURCHASE"]
    assert lead_tags("tags", "[]") == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["POSITIVE", "POSITIVE"], "tags appear more than once: ['POSITIVE']"),
        (["HAPPY"], "unknown tags ['HAPPY']"),
        ("POSITIVE", "is not valid JSON"),
        ('{"tag": "POSITIVE"}', "must be a list of tags"),
        ([1], "unknown tags [1]"),
    ],
)
def test_bad_tags_are_refused_with_the_reason(value, message):
    with pytest.raises(InvalidValue, match=message.replace("[", r"\[").replace("]", r"\]")):
        lead_tags("tags", value)


GOOD_OVERRIDES = [None, {}, {"NEW": 1}, {"CONTACTED": 48, "QUALIFIED": 720}]
BAD_OVERRIDES = [
    [],
    {"SUPPRESSED": 24},
    {"CONTACTED": 0},
    {"CONTACTED": 721},
    {"CONTACTED": 1.5},
    {"CONTACTED": "24"},
    {"CONTACTED": True},
    {"contacted": 24},
]


@pytest.mark.parametrize("value", GOOD_OVERRIDES)
def test_documented_interval_overrides_are_accepted(value):
    assert interval_overrides("interval_overrides", value) == value
    assert interval_overrides("interval_overrides", json.dumps(value)) == value


@pytest.mark.parametrize("value", BAD_OVERRIDES)
def test_other_interval_overrides_are_refused(value):
    with pytest.raises(InvalidValue, match="interval_overrides"):
        interval_overrides("interval_overrides", value)


@pytest.mark.parametrize("value", GOOD_OVERRIDES + BAD_OVERRIDES)
async def test_the_database_agrees_with_the_interval_override_rules(connection, value):
    workspace_id = await factories.workspace(connection)
    try:
        interval_overrides("interval_overrides", value)
        python_accepts = True
    except InvalidValue:
        python_accepts = False
    columns = {} if value is None else {"interval_overrides": value}
    try:
        await factories.strategy_version(connection, workspace_id, 1, **columns)
        database_accepts = True
    except asyncpg.CheckViolationError:
        database_accepts = False
    assert database_accepts == python_accepts


async def test_every_follow_up_stage_and_no_other_may_be_overridden(connection):
    for stage in LeadStage:
        overrides = json.dumps({stage.value: 24})
        accepted = await connection.fetchval(
            "SELECT masterplan_interval_overrides_valid($1::jsonb)", overrides
        )
        assert accepted == (stage in FOLLOW_UP_STAGES), stage
