"""A prototype database as the prototype (SQLModel on PostgreSQL) left it."""

import asyncpg

# The DDL SQLModel emits for the prototype's models (see the prototype-schema note):
# defaults live in Python there, not in the database.
PROTOTYPE_DDL = [
    """CREATE TABLE zairag_agents (
        id SERIAL NOT NULL,
        name VARCHAR NOT NULL,
        system_prompt VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        reasoning_enabled BOOLEAN NOT NULL,
        PRIMARY KEY (id)
    )""",
    """CREATE TABLE zairag_chat_sessions (
        id SERIAL NOT NULL,
        agent_id INTEGER NOT NULL,
        total_tokens INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
        PRIMARY KEY (id),
        FOREIGN KEY(agent_id) REFERENCES zairag_agents (id)
    )""",
    """CREATE TABLE zairag_chat_messages (
        id SERIAL NOT NULL,
        chat_session_id INTEGER NOT NULL,
        role VARCHAR NOT NULL,
        content VARCHAR NOT NULL,
        created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
        tool_calls VARCHAR,
        tool_call_id VARCHAR,
        PRIMARY KEY (id),
        FOREIGN KEY(chat_session_id) REFERENCES zairag_chat_sessions (id)
    )""",
]

PROTOTYPE_TABLES = ["zairag_agents", "zairag_chat_sessions", "zairag_chat_messages"]


async def create_prototype_tables(connection: asyncpg.Connection) -> None:
    for statement in PROTOTYPE_DDL:
        await connection.execute(statement)


async def add_prototype_rows(
    connection: asyncpg.Connection, agents: int = 7, sessions: int = 20
) -> None:
    """Agents with awkward text, sessions, and messages of every prototype role."""
    await connection.execute(
        """
        INSERT INTO zairag_agents (name, system_prompt, model, reasoning_enabled)
        SELECT 'Agent ' || n || CASE WHEN n % 3 = 0 THEN ' «Olá» ''quoted''' ELSE '' END,
               'You are agent ' || n || E'.\nBe polite; never pushy.\n' || repeat('Rule. ', n),
               CASE WHEN n % 2 = 0 THEN 'gpt-4o' ELSE 'claude' END,
               n % 2 = 0
        FROM generate_series(1, $1) n
        """,
        agents,
    )
    await connection.execute(
        """
        INSERT INTO zairag_chat_sessions (agent_id, total_tokens, prompt_tokens,
                                          completion_tokens, created_at)
        SELECT 1 + n % $2, 30 * n, 20 * n, 10 * n,
               TIMESTAMP '2025-01-01 08:00:00' + n * interval '1 hour'
        FROM generate_series(1, $1) n
        """,
        sessions,
        agents,
    )
    await connection.execute(
        """
        INSERT INTO zairag_chat_messages (chat_session_id, role, content, created_at,
                                          tool_calls, tool_call_id)
        SELECT s.id, r.role, r.role || ' says hi in session ' || s.id,
               s.created_at + r.n * interval '1 minute',
               CASE WHEN r.role = 'assistant' THEN '[{"name": "lookup"}]' END,
               CASE WHEN r.role = 'tool' THEN 'call-' || s.id END
        FROM zairag_chat_sessions s
        CROSS JOIN (VALUES (1, 'system'), (2, 'user'), (3, 'assistant'), (4, 'tool')) r(n, role)
        """
    )


async def prototype_checksums(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an md5 over every row's text, per prototype table."""
    connection = await asyncpg.connect(url)
    try:
        return {
            table: tuple(
                await connection.fetchrow(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t.id), ''))"
                    f" FROM {table} t"
                )
            )
            for table in PROTOTYPE_TABLES
        }
    finally:
        await connection.close()


async def prototype_columns(url: str) -> list[tuple]:
    """The prototype tables' columns and constraints, to show they are untouched."""
    connection = await asyncpg.connect(url)
    try:
        columns = await connection.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_name = ANY($1::text[]) "
            "ORDER BY table_name, column_name",
            PROTOTYPE_TABLES,
        )
        constraints = await connection.fetch(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE conrelid::regclass::text = ANY($1::text[]) ORDER BY 1, 2",
            PROTOTYPE_TABLES,
        )
    finally:
        await connection.close()
    return [tuple(row) for row in [*columns, *constraints]]
