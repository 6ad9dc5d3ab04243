"""`current_time`: the time now in a time zone (IANA name, e.g. `Europe/Paris`)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field

MAX_ZONE_LENGTH = 64


class CurrentTimeArgs(BaseModel):
    timezone: str = Field(
        "UTC",
        max_length=MAX_ZONE_LENGTH,
        description="An IANA time zone name such as Europe/Paris or America/New_York.",
    )


def current_time(timezone: str = "UTC") -> str:
    """The current date and time in `timezone`, as ISO 8601 with its UTC offset."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolException(
            f"unknown time zone {timezone!r}; use an IANA name such as Europe/Paris"
        ) from None
    return datetime.now(zone).isoformat(timespec="seconds")


def build() -> BaseTool:
    return StructuredTool.from_function(
        current_time,
        name="current_time",
        description="Get the current date and time, optionally in an IANA time zone.",
        args_schema=CurrentTimeArgs,
    )
