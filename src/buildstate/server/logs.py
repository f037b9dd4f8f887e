"""Structured, single-line logs with the request id on every line."""

from __future__ import annotations

import logging

from buildstate.server.middleware import request_id_var


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s level=%(levelname)s logger=%(name)s request_id=%(request_id)s %(message)s"
        )
    )
    root = logging.getLogger("buildstate")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
