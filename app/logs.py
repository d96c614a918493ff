"""Log lines: plain text, or one JSON object per line (``LOG_FORMAT=json``), each
carrying the id of the request it was written for (app/request_ids.py).

``python -m app.serve`` hands ``logging_config`` to uvicorn, so its own loggers (the
access log, errors) and the service's (``masterplan.*``) share the format.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from app.request_ids import current_request_id

TEXT_FORMAT = "%(levelname)s:     %(name)s: %(message)s"
# uvicorn's access log line as it writes it, with the request id.
TEXT_ACCESS_FORMAT = (
    '%(levelname)s:     %(client_addr)s - "%(request_line)s" %(status_code)s '
    "[request %(request_id)s]"
)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (``-`` outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


class TextFormatter(logging.Formatter):
    """uvicorn's plain line, then ``[request <id>]`` when written for a request."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", "-")
        return line if request_id == "-" else f"{line} [request {request_id}]"


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, and
    the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def logging_config(log_format: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn's and the service's loggers."""
    json_lines = log_format == "json"
    formatters: dict[str, Any] = {
        "default": {"()": JSONFormatter}
        if json_lines
        else {"()": TextFormatter, "fmt": TEXT_FORMAT},
        "access": {"()": JSONFormatter}
        if json_lines
        else {"()": "uvicorn.logging.AccessFormatter", "fmt": TEXT_ACCESS_FORMAT},
    }
    handler = {"class": "logging.StreamHandler", "filters": ["request_id"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": formatters,
        "handlers": {
            "default": {**handler, "formatter": "default", "stream": "ext://sys.stderr"},
            "access": {**handler, "formatter": "access", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            "masterplan": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }
