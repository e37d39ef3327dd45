"""Structured logs: one JSON object per line, to stdout and to LOG_DIR/app.log (everything) and
LOG_DIR/error.log (errors), the seed's locations. Each line carries the request id of the HTTP
request it belongs to and the workflow id of the workflow or activity it ran in."""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import WatchedFileHandler
from pathlib import Path
from typing import Any

from temporalio import activity

from tokenbill.settings import Settings

request_id_var: ContextVar[str | None] = ContextVar("tokenbill_request_id", default=None)

APP_LOG = "app.log"
ERROR_LOG = "error.log"
# Attributes every LogRecord has: anything else on a record came from `extra=` and is logged.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "temporal_workflow",
    "temporal_activity",
}


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": self.process,
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(_temporal_ids(record))
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _temporal_ids(record: logging.LogRecord) -> dict[str, Any]:
    """The workflow's ids from the SDK's workflow/activity loggers, or the running activity."""
    for attribute in ("temporal_workflow", "temporal_activity"):
        details = getattr(record, attribute, None)
        if isinstance(details, dict) and details.get("workflow_id"):
            ids = {"workflow_id": details["workflow_id"]}
            if details.get("run_id") or details.get("workflow_run_id"):
                ids["run_id"] = details.get("run_id") or details.get("workflow_run_id")
            if details.get("activity_type"):
                ids["activity_type"] = details["activity_type"]
            return ids
    if activity.in_activity():
        info = activity.info()
        return {
            "workflow_id": info.workflow_id,
            "run_id": info.workflow_run_id,
            "activity_type": info.activity_type,
        }
    return {}


def setup_logging(settings: Settings, process: str) -> None:
    """Replace the root handlers with JSON to stdout and, with LOG_TO_FILES, the two log files."""
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        raise ValueError(f"LOG_LEVEL {settings.log_level!r} is not a logging level")
    formatter = JsonFormatter(process)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if settings.log_to_files:
        folder = Path(settings.log_dir)
        folder.mkdir(parents=True, exist_ok=True)
        handlers.append(WatchedFileHandler(folder / APP_LOG, encoding="utf-8"))
        errors = WatchedFileHandler(folder / ERROR_LOG, encoding="utf-8")
        errors.setLevel(logging.ERROR)
        handlers.append(errors)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's loggers go through the root handlers, so its lines are JSON too.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
