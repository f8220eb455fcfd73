"""The `workday_raas` connector's keys in a system's configuration (its pydantic model, apart from the connector:
a connector built from settings checked before, `checked_settings.py`, never imports it, nor pydantic)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator


class WorkdaySettings(BaseModel):
    """The `workday_raas` connector's keys in a system's configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="Report URL: https://{host}/ccx/service/customreport2/{tenant}/{owner}/{report}")
    format: Literal["json", "csv"] = Field("json", description="Report output requested (?format=)")
    key: str = Field("Employee_ID", description="Column holding the worker's stable id (the anchor)")
    prompts: dict[str, str] = Field(default_factory=dict, description="Report prompt values (query parameters)")
    parts: list[dict[str, str]] = Field(
        default_factory=list, description="Split the pull: one request per entry, its prompts added to prompts")
    termination_date: str | None = Field("Termination_Date", description="Column with the termination date")
    hire_date: str | None = Field("Hire_Date", description="Column with the (re)hire date")
    status_field: str | None = Field(None, description="Column with the worker status, used without a date")
    inactive_statuses: list[str] = Field(default_factory=lambda: ["Terminated", "Inactive", "0"],
                                         description="status_field values meaning no longer working")
    terminated_as: Literal["inactive", "removed"] = Field(
        "inactive", description="How a terminated worker is reported: disabled, or gone")
    date_fields: list[str] = Field(default_factory=list,
                                   description="Extra columns to parse as dates (MM/DD/YYYY accepted there)")
    timezone: str = Field("UTC", description="Time zone in which 'today' is reckoned for terminations")
    token_url: str | None = Field(None, description="OAuth token endpoint; default from the report URL")
    csv_separator: str = Field("\n", description="CSV: separator of a multi-instance field's values in a cell")
    timeout: float = Field(120.0, gt=0, description="Seconds to wait for the report (they can be slow)")
    max_retries: int = Field(2, ge=0, description="Retries on 429 / 5xx before the read fails")
    max_bytes: int = Field(512 * 1024 * 1024, gt=0, description="Refuse a report larger than this")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("must be an http(s) report URL")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except Exception as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v


Settings = WorkdaySettings
