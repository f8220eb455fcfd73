"""The `sql` connector's keys in a system's configuration (its pydantic model, apart from the connector: a
connector built from settings checked before, `checked_settings.py`, never imports it, nor pydantic)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Settings(BaseModel):
    """The `sql` connector's keys in a system's configuration (its pydantic model, apart from the connector: a
connector built from settings checked before, `checked_settings.py`, never imports it, nor pydantic)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: str = Field(description="SQLAlchemy URL without credentials: postgresql+psycopg://host/db, sqlite:///f")
    table: str | None = Field(None, description="Table read and written (required for writes)")
    query: str | None = Field(None, description="Read-only SELECT used as the source instead of the table")
    schema_name: str | None = Field(None, alias="schema", description="Database schema of the table")
    key: str = Field(description="Column holding the anchor (the account's stable key)")
    watermark: str | None = Field(None, description="updated_at-style column for delta reads; else row hashes")
    active_column: str | None = Field(None, description="Column telling whether the account is active")
    active_values: list[str | int | bool] = Field(
        default_factory=lambda: list[str | int | bool]([True]),
        description="Values of active_column meaning active (compared as text; true == 1); the first is "
                    "written on activate and on create")
    inactive_value: str | int | bool = Field(False, description="Written to active_column on deactivate")
    insert: bool = Field(False, description="Create rows for new accounts (policy create)")
    delete: bool = Field(False, description="Really DELETE rows when the removal policy says delete")
    pool: Literal["single", "none"] = Field("single", description="single: keep one connection per process")
    fetch_size: int = Field(2000, ge=1, description="Rows fetched per round trip")

    @model_validator(mode="after")
    def _source(self) -> Settings:
        if not self.table and not self.query:
            raise ValueError("one of table or query is required")
        if self.query is not None:
            head = self.query.lstrip().split(None, 1)[0].lower() if self.query.strip() else ""
            if head not in ("select", "with"):
                raise ValueError("query must be a read-only SELECT (or WITH ... SELECT)")
            if ";" in self.query.strip().rstrip(";"):
                raise ValueError("query must be a single statement")
        for name in ("table", "key", "watermark", "active_column", "schema_name"):
            value = getattr(self, name)
            if value is not None and (not value.strip() or "\x00" in value):
                raise ValueError(f"{name} must be a non-empty identifier")
        return self
