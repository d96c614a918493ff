"""Request ids: the one id a request is known by in its response, the change log and
the log lines.

A request's ``X-Request-ID`` is kept when it is sane (1 to ``MAX_LENGTH`` letters,
digits and ``-_.:``: what proxies and tracing headers send), else a new one is made.
The edge (app/edge/observed.py) sets it for the request's task; the change log's
writer settings (app/change_log.py) and every log record (app/logs.py) read it here.
Standard library only.
"""

import os
import re
from contextvars import ContextVar, Token

HEADER = "x-request-id"
MAX_LENGTH = 128
SANE = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_LENGTH}}}")

_current: ContextVar[str | None] = ContextVar("masterplan_request_id", default=None)


def request_id_of(header: bytes | None) -> str:
    """The id a request is known by: its own header when sane, else a new one."""
    if header is not None:
        text = header.decode("latin-1")
        if SANE.fullmatch(text):
            return text
    return os.urandom(16).hex()  # as random as a UUID4, a tenth of its cost


def current_request_id() -> str | None:
    """The id of the request the current task serves, if any."""
    return _current.get()


def start_serving(request_id: str) -> Token:
    """From now on the current task serves the request ``request_id``, until
    ``stop_serving`` with the token returned. (A pair of calls rather than a context
    manager: on every request, a generator-based one costs ten times more.)"""
    return _current.set(request_id)


def stop_serving(token: Token) -> None:
    """The current task serves what it served before ``start_serving``."""
    _current.reset(token)
