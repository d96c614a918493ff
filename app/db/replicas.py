"""Reads that tolerate replication lag go to a streaming replica, when one is fit.

The replicas are Piccolo ``extra_nodes`` of the primary's engine (piccolo_conf.py,
``DATABASE_REPLICA_URLS``). Code that may read slightly old rows says so with
``reads_may_lag()``; inside it, and outside any transaction, reads go to a replica
(round robin) and everything else to the primary. A replica is fit while its last
check, at most ``CHECK_INTERVAL_SECONDS`` old, found it streaming from the primary,
and no two checks in a row found it more than the lag bound behind; checks run in
the background, so no request waits for one. A read that finds its replica
unreachable marks it down and runs on the primary instead.
"""

import asyncio
import contextlib
import functools
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from piccolo.querystring import QueryString

from app.metrics import REPLICA_FIT, REPLICA_LAG
from app.settings import DEFAULT_MAX_LAG_SECONDS

logger = logging.getLogger("masterplan.replicas")

CHECK_INTERVAL_SECONDS = 1.0
CHECK_TIMEOUT_SECONDS = 2.0

# How far behind the primary a replica is, in seconds: 0 when it has replayed all
# it received, NULL when it is not a streaming standby (promoted, or cut off).
LAG = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() OR NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver) THEN NULL
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())
END AS lag
"""

# Errors after which the primary answers instead: the replica is unreachable, lacks
# the database yet, or cancelled the read for a conflict with recovery.
REPLICA_FAILURES = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.SerializationError,
)

P = ParamSpec("P")
R = TypeVar("R")

_reads_may_lag: ContextVar[bool] = ContextVar("masterplan_reads_may_lag", default=False)


@contextlib.contextmanager
def reads_may_lag() -> Iterator[None]:
    """Reads inside may be served by a replica, a little behind the primary."""
    token = _reads_may_lag.set(True)
    try:
        yield
    finally:
        _reads_may_lag.reset(token)


def lag_tolerant(read: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """``read``, a coroutine function, runs inside ``reads_may_lag()``."""

    @functools.wraps(read)
    async def reading(*args: P.args, **kwargs: P.kwargs) -> R:
        with reads_may_lag():
            return await read(*args, **kwargs)

    return reading


def reads_from_primary() -> None:
    """A request starts reading from the primary (see app.db.executor.clear_request_context)."""
    _reads_may_lag.set(False)


class Replica:
    """One replica's engine and what its last check found."""

    def __init__(self, name: str, engine: PostgresEngine, max_lag_seconds: float) -> None:
        self.name = name
        self.engine = engine
        self.max_lag_seconds = max_lag_seconds
        self.fit = False
        self.checked_at = float("-inf")
        self._behind_at_last_check = False
        self._check: asyncio.Task | None = None

    def is_fit(self) -> bool:
        """Whether to read here now; starts a check in the background when due."""
        if time.monotonic() - self.checked_at >= CHECK_INTERVAL_SECONDS:
            self._start_check()
        return self.fit

    def _start_check(self) -> None:
        if self._check is None or self._check.done():
            self._check = asyncio.get_running_loop().create_task(self.check())

    async def check(self) -> bool:
        """Measure the lag now; whether the replica is fit."""
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                rows = await self.engine.run_querystring(QueryString(LAG))
            lag = rows[0]["lag"]
        except (*REPLICA_FAILURES, asyncpg.PostgresError) as error:
            self.failed(error)
            return False
        return self.judge(lag)

    def judge(self, lag: Any) -> bool:
        """Whether a replica whose check measured ``lag`` seconds (None: not a
        streaming standby) serves reads from now on."""
        REPLICA_LAG.labels(self.name).set(-1 if lag is None else float(lag))
        if lag is None:
            self._found(False, "none: not streaming from the primary")
        elif float(lag) <= self.max_lag_seconds:
            self._behind_at_last_check = False
            self._found(True, lag)
        else:
            # The first WAL after an idle spell is measured from the last commit
            # replayed, maybe long ago: only a second check in a row says "behind".
            self._found(self.fit and not self._behind_at_last_check, lag)
            self._behind_at_last_check = True
        return self.fit

    def failed(self, error: BaseException) -> None:
        REPLICA_LAG.labels(self.name).set(-1)
        self._found(False, f"unreachable ({type(error).__name__})")

    def _found(self, fit: bool, lag: Any) -> None:
        if fit and not self.fit:
            logger.info("replica %s serves lag-tolerant reads (lag %s s)", self.name, lag)
        elif self.fit and not fit:
            logger.warning("replica %s skipped, the primary answers (lag %s)", self.name, lag)
        self.fit, self.checked_at = fit, time.monotonic()
        REPLICA_FIT.labels(self.name).set(1 if fit else 0)


class PrimaryWithReplicas(PostgresEngine):
    """The primary's engine; Piccolo's queries inside ``reads_may_lag()`` (the
    admin's lists, the overview) go to a fit replica."""

    def __init__(self, *args: Any, max_lag_seconds: float = DEFAULT_MAX_LAG_SECONDS, **kw: Any):
        self._task_connections: dict[asyncio.Task[Any], asyncpg.Connection] = {}
        super().__init__(*args, **kw)
        self.replicas = [
            Replica(name, node, max_lag_seconds) for name, node in self.extra_nodes.items()
        ]
        self._turns = itertools.cycle(self.replicas) if self.replicas else None

    def replica_for_reading(self) -> Replica | None:
        """A fit replica, if this read may lag and runs outside a transaction."""
        if self._turns is None or not _reads_may_lag.get():
            return None
        if self.current_transaction.get() is not None:
            return None
        for _ in self.replicas:
            replica = next(self._turns)
            if replica.is_fit():
                return replica
        return None

    async def routed(self, run: Callable[[PostgresEngine], Awaitable[R]]) -> R:
        """``run`` (how to run a statement on an engine) on a fit replica's engine
        when this read may lag and runs outside a transaction, else on the primary
        (this engine). A replica that fails with one of ``REPLICA_FAILURES`` is
        marked down and the primary answers instead. The one place that chooses a
        replica and falls back: Piccolo's queries (``run_querystring``) and the
        executor's statements (app/db/executor.py) both come through here."""
        replica = self.replica_for_reading()
        if replica is not None:
            try:
                return await run(replica.engine)
            except REPLICA_FAILURES as error:
                replica.failed(error)
        return await run(self)

    async def run_querystring(self, querystring: Any, in_pool: bool = True) -> Any:
        """Piccolo's way to run a query, on the engine ``routed`` chooses."""
        return await self.routed(
            lambda engine: PostgresEngine.run_querystring(engine, querystring, in_pool=in_pool)
        )

    async def _run_in_new_connection(self, query: str, args: Any = None) -> Any:
        """Piccolo's statement outside a transaction and without a pool (the CLI,
        scripts): on the calling task's own connection, opened by its first such
        statement and closed when the task ends. Piccolo opened one per statement,
        and checks for unapplied migrations before every command it runs: 229
        statements, 160 connections, about 0.5 s of CPU between client and server."""
        connection = await self._task_connection()
        return await connection.fetch(query, *(args or ()))

    async def _task_connection(self) -> asyncpg.Connection:
        task = asyncio.current_task()
        if task is None:  # not in a task: a statement of its own
            connection = await self.get_new_connection()
            asyncio.get_running_loop().call_soon(connection.terminate)
            return connection
        connection = self._task_connections.get(task)
        if connection is None or connection.is_closed():
            if connection is None:
                task.add_done_callback(self._task_ended)
            connection = await self.get_new_connection()
            self._task_connections[task] = connection
        return connection

    def _task_ended(self, task: asyncio.Task[Any]) -> None:
        connection = self._task_connections.pop(task, None)
        if connection is not None:
            connection.terminate()  # no transaction is open on it: nothing is lost

    async def start_replica_pools(self, **settings: Any) -> None:
        for replica in self.replicas:
            await replica.engine.start_connection_pool(**settings)

    async def close_replica_pools(self) -> None:
        for replica in self.replicas:
            if replica.engine.pool is not None:
                await replica.engine.close_connection_pool()
