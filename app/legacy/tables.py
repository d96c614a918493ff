"""The prototype's tables exactly as the prototype (SQLModel) created them, plus
the mapping from prototype rows to the rows the backfill made for them."""

from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    OnUpdate,
    Timestamp,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.readable import Readable
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from app.tables import ConversationThread, StrategyVersion

# SQLModel's foreign keys: no ON DELETE / ON UPDATE action.
PROTOTYPE_FOREIGN_KEY = {"on_delete": OnDelete.no_action, "on_update": OnUpdate.no_action}


class ZairagAgent(Table, tablename="zairag_agents"):
    """A prototype agent: one global instruction text (no tenancy)."""

    name = Varchar(length=None, default=None)
    system_prompt = Varchar(length=None, default=None)
    model = Varchar(length=None, default=None)
    reasoning_enabled = Boolean(default=True)

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="%s (#%s)", columns=[cls.name, cls.id])


class ZairagChatSession(Table, tablename="zairag_chat_sessions"):
    """A prototype chat with one agent; timestamps are naive UTC."""

    agent_id = ForeignKey(ZairagAgent, null=False, **PROTOTYPE_FOREIGN_KEY)
    total_tokens = Integer(default=0)
    prompt_tokens = Integer(default=0)
    completion_tokens = Integer(default=0)
    created_at = Timestamp(default=None)


class ZairagChatMessage(Table, tablename="zairag_chat_messages"):
    """A prototype chat message; stays where it is (the prototype still uses it)."""

    chat_session_id = ForeignKey(ZairagChatSession, null=False, **PROTOTYPE_FOREIGN_KEY)
    role = Varchar(length=None, default=None)
    content = Varchar(length=None, default=None)
    created_at = Timestamp(default=None)
    tool_calls = Varchar(length=None, null=True, default=None)
    tool_call_id = Varchar(length=None, null=True, default=None)


class LegacyMapping(Table, tablename="legacy_mapping"):
    """Prototype row -> the row the backfill created for it (one each, ever)."""

    prototype_table = Varchar(length=32, default=None)
    prototype_id = Integer(default=None)
    strategy_version_id = ForeignKey(
        StrategyVersion, null=True, default=None, on_delete=OnDelete.cascade, index=True
    )
    conversation_thread_id = ForeignKey(
        ConversationThread, null=True, default=None, on_delete=OnDelete.cascade, index=True
    )
    created_at = Timestamptz(default=TimestamptzNow())

    legacy_mapping_prototype_key = Unique(["prototype_table", "prototype_id"])
    legacy_mapping_target_matches_source = Check(
        "(prototype_table = 'zairag_agents' AND strategy_version_id IS NOT NULL "
        "AND conversation_thread_id IS NULL) OR "
        "(prototype_table = 'zairag_chat_sessions' AND conversation_thread_id IS NOT NULL "
        "AND strategy_version_id IS NULL)"
    )


PROTOTYPE_TABLES: list[type[Table]] = [ZairagAgent, ZairagChatSession, ZairagChatMessage]
TABLES: list[type[Table]] = [*PROTOTYPE_TABLES, LegacyMapping]
