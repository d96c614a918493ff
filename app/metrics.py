"""The service's metrics: what each worker counts, and one Prometheus scrape of them all.

Each metric is declared here once and counted in-process (``prometheus_client``) by
the one owner of its event; docs/metrics.md lists them with their labels and owners.
Served by ``python -m app.serve`` (``python3 -m app run``), every worker writes its
values to files in ``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory per run, made by
the supervisor) and a scrape answered by any worker adds up all of them: ``--workers
N`` reports one truth. Without that directory (one process, the tests' in-process
clients) the values live in this process's default registry.
"""

import os
from collections import Counter as Tally
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# The scope key under which a lane that answers before routing names its route template.
ROUTE_TEMPLATE = "masterplan.route_template"
# Requests that matched no route are counted under this template: never a raw path.
UNMATCHED_ROUTE = "(unmatched)"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter(
    "masterplan_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "masterplan_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
POLICY_DECISIONS = Counter(
    "masterplan_policy_decisions",
    "Policy decisions recorded (permits and refusals), by kind of send, reason code and "
    "whether the send is allowed",
    ["kind", "reason_code", "allowed"],
)
DISPATCH_BATCHES = Counter(
    "masterplan_dispatch_batches",
    "Dispatch batches run, by outcome: decided, empty (nothing due) or paused "
    "(a workspace-wide rule held every follow-up)",
    ["outcome"],
)
DISPATCH_LEADS = Counter(
    "masterplan_dispatch_leads",
    "Leads decided by dispatch batches, by outcome: permitted, deferred or stopped",
    ["outcome"],
)
WEBHOOK_MESSAGES = Counter(
    "masterplan_webhook_messages",
    "Inbound WhatsApp messages in signed webhook deliveries, by outcome: stored, or "
    "duplicate (stored by an earlier delivery, ignored)",
    ["outcome"],
)
WEBHOOK_STATUSES = Counter(
    "masterplan_webhook_statuses",
    "Delivery statuses of our messages changed by webhook deliveries",
)
WEBHOOK_SIGNATURE_FAILURES = Counter(
    "masterplan_webhook_signature_failures",
    "Webhook deliveries refused (401) for a missing or wrong X-Hub-Signature-256",
)
DATABASE_UNAVAILABLE = Gauge(
    "masterplan_database_unavailable",
    "1 while some live worker finds the database unavailable (an outage), else 0",
    multiprocess_mode="livemax",
)
DATABASE_UNAVAILABLE_ANSWERS = Counter(
    "masterplan_database_unavailable_answers",
    "Requests answered 503 because the database was unavailable",
)
REPLICA_FIT = Gauge(
    "masterplan_replica_fit",
    "1 when every live worker's last check found the replica fit to serve "
    "lag-tolerant reads, else 0",
    ["replica"],
    multiprocess_mode="livemin",
)
REPLICA_LAG = Gauge(
    "masterplan_replica_lag_seconds",
    "The replica's replication lag at its last check (the largest among live workers); "
    "-1 when it was not streaming or unreachable",
    ["replica"],
    multiprocess_mode="livemax",
)
POOL_CONNECTIONS = Gauge(
    "masterplan_pool_connections",
    "Connections open in the live workers' pools to the primary, as last seen when one "
    "was acquired, by state: open (all) or idle",
    ["state"],
    multiprocess_mode="livesum",
)
POOL_WAITS = Counter(
    "masterplan_pool_waits",
    "Connections acquired from a pool that was at its bound with none idle: the "
    "request waited for another to give one back",
)


# Each request's series, found by its labels once: ``labels()`` costs several
# microseconds a call, a dict lookup a fraction of one. Bounded: methods, route
# templates and statuses are few.
_request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
POOL_OPEN = POOL_CONNECTIONS.labels("open")
POOL_IDLE = POOL_CONNECTIONS.labels("idle")


def count_request(method: str, route: str, status: int, seconds: float) -> None:
    """One request answered: its count by status, its latency."""
    key = (method, route, status)
    series = _request_series.get(key)
    if series is None:
        series = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_LATENCY.labels(method, route),
        )
        _request_series[key] = series
    series[0].inc()
    series[1].observe(seconds)


def count_decisions(decisions: Iterable[tuple[str, str, bool]]) -> None:
    """Count recorded decisions, each (kind, reason code, allowed): one increment per
    distinct label set, so a batch of hundreds costs a few."""
    for (kind, reason_code, allowed), count in Tally(decisions).items():
        POLICY_DECISIONS.labels(kind, reason_code, "true" if allowed else "false").inc(count)


def count_pool_acquire(size: int, idle: int, max_size: int) -> None:
    """A connection is about to be acquired from a pool of ``size`` open connections,
    ``idle`` of them free, bounded by ``max_size``."""
    POOL_OPEN.set(size)
    POOL_IDLE.set(idle)
    if idle == 0 and size >= max_size:
        POOL_WAITS.inc()


def scrape() -> bytes:
    """Every metric in Prometheus' text format: all workers' values added up when
    served with a multiprocess directory, else this process's."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
