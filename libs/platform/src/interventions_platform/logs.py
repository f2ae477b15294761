"""Structured JSON logs on stderr, with secrets redacted."""

from __future__ import annotations

import logging
import os
import re
import sys
from datetime import UTC, datetime

import orjson

_SECRET = re.compile(r"(iv_[A-Za-z0-9_\-]{20,}|Bearer\s+\S+|(?:token|password|secret)=\S+)", re.I)


def redact(text: str) -> str:
    return _SECRET.sub("[REDACTED]", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if record.exc_info:
            doc["exc"] = redact(self.formatException(record.exc_info))
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            doc.update({k: redact(str(v)) for k, v in extra.items()})
        return orjson.dumps(doc).decode()


def setup(service: str, level: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("INTERVENTIONS_LOG_LEVEL", "INFO")).upper())
    for noisy in ("aiokafka", "faststream", "uvicorn.access", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
