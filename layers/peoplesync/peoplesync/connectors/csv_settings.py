"""The `csv` connector's keys in a system's configuration (its pydantic model, apart from the connector: a
connector built from settings checked before, `checked_settings.py`, never imports it, nor pydantic)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .csv_file import CsvSettingsProps


class CsvSettings(CsvSettingsProps, BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="Local path (relative to the configuration file) or s3://bucket/key")
    key: str = Field(description="Column holding each row's stable key")
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    active_column: str | None = Field(None, description="Column telling whether the row is active")
    inactive_values: list[str] = Field(default_factory=lambda: ["inactive", "terminated", "false", "0", "no"])
    inactive_value: str | None = Field(None, description="Written on deactivate; one of inactive_values, so "
                                       "that it reads back as inactive (default: the first of them)")
    active_value: str = Field("active", description="Written on activate and on create; not one of "
                              "inactive_values")
    trailer: str | None = Field(None, description="Regular expression the export's last line (its trailer) "
                                "matches, with a group (?P<count>...) for the number of rows it declares; the "
                                "trailer is not a row, and a file without it or with another count is not whole")
    require_final_newline: bool = Field(True, description="A last line without a line break means the file "
                                        "was cut: the read fails (false for an export that never ends its "
                                        "last line; then only the trailer and the stability check protect)")
    settle_seconds: float = Field(2.0, ge=0, description="A file changed less than this long ago is waited "
                                  "for and must then be unchanged (size and modification time)")
    neutralise_formulas: bool = Field(True, description="Write cells starting with = + - @ tab CR with a "
                                      "leading single quote (OWASP), and read them back without it")

    @model_validator(mode="after")
    def _states_read_back(self) -> CsvSettings:
        """What a deactivation writes must read back as inactive (else every sync deactivates again), and what
        an activation or a create writes as active."""
        inactive = {v.strip().lower() for v in self.inactive_values}
        if not inactive:
            raise ValueError("inactive_values: name at least one value meaning inactive")
        if self.inactive_value is not None and self.inactive_value.strip().lower() not in inactive:
            raise ValueError(f"inactive_value {self.inactive_value!r} is not among inactive_values "
                             f"{self.inactive_values}: a deactivated row would read back as active")
        if not self.active_value.strip() or self.active_value.strip().lower() in inactive:
            raise ValueError(f"active_value {self.active_value!r} must be a value not among inactive_values")
        return self

    @field_validator("trailer")
    @classmethod
    def _a_pattern(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return v


Settings = CsvSettings
