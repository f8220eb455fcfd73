"""The configuration's shape, as pydantic models: what `config.load_config` checks a configuration against (types,
allowed values, unknown keys), and where `peoplesync schema` comes from. Imported only where a configuration is
checked: a Lambda function given a configuration already checked rebuilds it without pydantic
(`config_light.py`), whose mixins hold the properties both share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .config_light import FieldProps, LifecycleProps, MapProps, SystemProps

Apply = Literal["always", "on_create", "if_empty", "add_only"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemConfig(BaseModel, SystemProps):
    """One connected system. Keys other than the common ones belong to the connector's own settings."""

    model_config = ConfigDict(extra="allow", frozen=True)

    connector: str
    schedule: str | None = Field(None, description="EventBridge schedule expression, e.g. rate(5 minutes)")
    writable: bool | None = Field(None, description="May the bridge write here? Default: per connector")
    provision: bool = Field(False, description="Create accounts here for people who have none")
    credentials: str | None = Field(None, description="secret:<name> in Secrets Manager (or a local file)")
    reference: Literal["key", "dn"] | None = Field(
        None, description="How accounts of this system refer to each other (manager, members)")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        if v is not None and not (v.startswith(("rate(", "cron(")) and v.endswith(")")):
            raise ValueError("must be an EventBridge expression: rate(5 minutes) or cron(...)")
        return v


class MapSpec(_Strict, MapProps):
    """A mapping entry that transforms (see `transform.py`): exactly one of `attr` or `template`."""

    attr: str | None = Field(None, description="The system's attribute")
    template: str | None = Field(None, description='Concatenation of attributes, e.g. "{First_Name} {Last_Name}"')
    values: dict[str, str] | None = Field(None, description="System value -> field value (codes to names)")
    date_format: str | None = Field(None, description='The system\'s date format, e.g. "%m/%d/%Y" (ISO in the field)')

    @model_validator(mode="after")
    def _one(self) -> MapSpec:
        if (self.attr is None) == (self.template is None):
            raise ValueError("give exactly one of attr or template")
        if self.template is not None and (self.values or self.date_format):
            raise ValueError("a template cannot also have values or date_format")
        if self.template is not None and "{" not in self.template:
            raise ValueError("a template names attributes in braces, e.g. {First_Name}")
        if self.attr is not None and not (self.values or self.date_format):
            raise ValueError("an object entry needs values, date_format or a template (else write the attribute)")
        return self


MapEntry = str | MapSpec


class FieldConfig(_Strict, FieldProps):
    source: str | list[str] | None = Field(None, description="The system (or systems) whose value is definitive")
    winner: str | None = Field(None, description="With several sources: the one that prevails in a conflict")
    map: dict[str, MapEntry] = Field(description="system -> attribute carrying this field there (or a transform)")
    apply: Apply = "always"
    normalize: str | list[str] = Field(default_factory=list)
    reference: Literal["person", "group"] | None = Field(
        None, description="The value names another record (manager -> person)")
    ref_by: dict[str, str] = Field(
        default_factory=dict, description="system -> field whose value the reference holds (e.g. employee_id)")
    multi: bool = Field(False, description="Multi-valued (a set): members, proxyAddresses")
    default: str | None = Field(None, description="Value written when the bridge creates an account and the "
                                                  "field has no value")
    placeholder: dict[str, str] = Field(
        default_factory=dict, description="reference fields: system -> value (in that system's form) written "
        "over a stale reference while the person now named has no account there yet (default: cleared)")

    on_blank: Literal["clear", "keep"] | None = Field(
        None, description="A source that blanks the value: clear it in the targets, or let them keep theirs. "
                          "Default: keep (clear for a multi-valued field: an emptied group empties its copies)")


class Policies(_Strict):
    unmatched: Literal["create", "report", "ignore"] = "create"
    ambiguous: Literal["review", "ignore"] = "review"
    removed: Literal["deactivate", "delete", "ignore"] = "deactivate"
    max_changes_per_run: str | int | None = Field(
        "10%", description="Accidental-change guard: a share ('10%') or a count of people; null disables")

    @field_validator("max_changes_per_run")
    @classmethod
    def _share(cls, v: str | int | None) -> str | int | None:
        if isinstance(v, str):
            text = v.strip()
            if not text.endswith("%"):
                raise ValueError("a share must end with %, e.g. '10%'; a count is a plain number")
            number = float(text[:-1])
            if not 0 < number <= 100:
                raise ValueError("a share must be above 0% and at most 100%")
        elif isinstance(v, int) and v < 1:
            raise ValueError("a count must be at least 1")
        return v


class Lifecycle(_Strict, LifecycleProps):
    source: str | list[str] = Field(description="Systems whose disable/removal deactivates the person")


class GroupsConfig(_Strict):
    """Group membership (docs/groups.md): groups are records of their own, matched across systems by `match`,
    with a multi-valued member field (`reference: person`) written to targets as adds and removes."""

    source: str | list[str]
    winner: str | None = None
    match: list[str] = Field(default_factory=lambda: ["name"])
    fields: dict[str, FieldConfig]
    provision: list[str] = Field(default_factory=list, description="Systems where a group missing there is "
                                 "created; elsewhere it is reported")
    nesting: Literal["mirror"] = Field("mirror", description="A member that is itself a group: mirrored as that "
                                       "group's counterpart (expanding nested groups is not implemented)")


class Defaults(_Strict):
    phone_region: str = "US"


class Config(_Strict):
    version: Literal[1] = 1
    defaults: Defaults = Field(default_factory=Defaults)
    systems: dict[str, SystemConfig]
    fields: dict[str, FieldConfig] = Field(default_factory=dict, description="The people's fields (may be empty: "
                                                                              "a system only linked, or groups only)")
    match: list[str] = Field(default_factory=list, description="Ordered correlation rules (field names)")
    lifecycle: Lifecycle | None = None
    policies: Policies = Field(default_factory=Policies)
    groups: GroupsConfig | None = None
