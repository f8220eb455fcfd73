"""The `ldap` connector's keys in a system's configuration (see docs/ldap.md): its pydantic models, apart from the
connector (a connector built from settings checked before, `checked_settings.py`, never imports them, nor
pydantic). The derived values (`filter`, `full_read_seconds`) are `props.LdapSettingsProps`, shared by both."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .dn import checked_dn
from .flavors import flavor_of
from .props import LdapSettingsProps, seconds
from .search import checked_filter

Flavor = Literal["active_directory", "openldap", "generic"]

__all__ = ["GroupSettings", "Settings", "seconds"]


class GroupSettings(BaseModel):
    """`groups:` in an ldap system's configuration: which groups are read and written (docs/ldap.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_dn: str | None = Field(None, description="Where the groups live (default: the system's base_dn)")
    filter: str | None = Field(None, description="LDAP filter selecting groups (default per flavour)")
    names: list[str] = Field(default_factory=list, description="Only these groups (by cn), within the filter")
    create_container: str | None = Field(None, description="DN where groups are created (groups.provision)")
    object_classes: list[str] | None = Field(None, description="objectClass values of created groups")
    group_type: int | None = Field(None, description="AD groupType of created groups (e.g. 8: a universal "
                                                     "distribution list; default: the directory's)")

    @field_validator("base_dn", "create_container")
    @classmethod
    def _dn(cls, v: str | None) -> str | None:
        return checked_dn(v)

    @field_validator("filter")
    @classmethod
    def _filter(cls, v: str | None) -> str | None:
        return checked_filter(v, "(objectClass=group)")


class Settings(LdapSettingsProps, BaseModel):
    """The `ldap` connector's keys in a system's configuration (see docs/ldap.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="ldaps://host[:port] or ldap://host[:port] (then use start_tls)")
    flavor: Flavor = "generic"
    base_dn: str = Field(description="Where the accounts live; only this subtree is read or written")
    user_filter: str | None = Field(None, description="LDAP filter selecting accounts (default per flavor)")
    start_tls: bool = Field(False, description="Upgrade an ldap:// connection with StartTLS before binding")
    ca_file: str | None = Field(None, description="PEM file of the CA that signed the server's certificate")
    tls_server_name: str | None = Field(None, description="Name expected in the server certificate when it "
                                                          "differs from the URL's host")
    insecure_skip_tls_verify_for_tests_only: bool = Field(
        False, description="NEVER in production: accept any server certificate and allow binding in clear")
    page_size: int = Field(500, ge=1, le=100_000, description="Entries per page (servers may cap it lower)")
    connect_timeout: float = Field(10, gt=0)
    timeout: float = Field(60, gt=0, description="Seconds to wait for one response")
    retries: int = Field(2, ge=0, le=10, description="Reconnect-and-retry attempts after a dropped connection")
    create_container: str | None = Field(None, description="DN where accounts are created (none: never create)")
    object_classes: list[str] | None = Field(None, description="objectClass values of created accounts")
    rdn_attribute: str = Field("cn", description="Naming attribute of created accounts")
    rdn_from: list[str] = Field(default_factory=lambda: ["cn", "displayName", "uid", "sAMAccountName", "mail",
                                                         "employeeID", "employeeNumber"],
                                description="Mapped attributes tried, in order, to name a created account")
    disable_attribute: str | None = Field(None, description="Non-AD: attribute marking an account disabled")
    disabled_value: str = Field("TRUE", description="Value of disable_attribute meaning disabled")
    enabled_value: str | None = Field(None, description="Value written on activate (none: remove the attribute)")
    full_read_every: str = Field("24h", description="How often a poll is a full read that detects removals")
    range_attributes: list[str] = Field(default_factory=list, description="Multi-valued attributes to ask for "
                                        "in ranges from the first request (AD fetches ranges anyway)")
    range_size: int = Field(1500, ge=1, description="Values per range request")
    groups: GroupSettings | None = Field(None, description="Groups read and written here (docs/groups.md); "
                                         "none: no groups")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        u = urlparse(v)
        if u.scheme not in ("ldap", "ldaps") or not u.hostname or u.path not in ("", "/") or u.query:
            raise ValueError("must be ldaps://host[:port] or ldap://host[:port], with nothing after the host")
        return v

    @field_validator("base_dn", "create_container")
    @classmethod
    def _dn(cls, v: str | None) -> str | None:
        return checked_dn(v)

    @field_validator("user_filter")
    @classmethod
    def _filter(cls, v: str | None) -> str | None:
        return checked_filter(v, "(objectClass=inetOrgPerson)")

    @field_validator("full_read_every")
    @classmethod
    def _every(cls, v: str) -> str:
        seconds(v)
        return v

    @model_validator(mode="after")
    def _transport(self) -> Settings:
        if urlparse(self.url).scheme == "ldap" and not self.start_tls \
                and not self.insecure_skip_tls_verify_for_tests_only:
            raise ValueError("ldap:// without start_tls would send the password in clear: use ldaps:// or "
                             "start_tls: true")
        flavor_of(self.flavor).check(self)
        return self
