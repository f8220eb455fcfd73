"""The `scim` connector: an identity provider that pushes users and groups to the SCIM webhook.

Push-only and read-only (SPEC, seeds/002): the IdP's mapped attributes overwrite the other systems when it
syncs a user; nothing is ever written back to it. The webhook (`peoplesync.scim`) stores the IdP's view and
hands each accepted write to the pipeline as an `Observation` (`peoplesync.scim.observations` translates a SCIM
resource into one, for the webhook and for this connector's read alike).

Configuration (the system's own keys, validated by `Settings`):

    systems:
      idp:
        connector: scim
        tokens: secret:peoplesync/scim-tokens   # {"tokens": ["<current>", "<next>"]}: several valid at once
        base_path: /scim/v2                     # the API Gateway route prefix the IdP is given
    fields:
      department: {source: idp, map: {cloud: department,
                   idp: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}}
      email.work: {source: idp, map: {idp: 'emails[type eq "work"].value', ...}}

Attribute names are SCIM paths (`peoplesync.scim.observations` lists what is read): `userName`, `title`,
`emails[type eq "work"].value`, `<enterprise URN>:department`, and for groups `displayName`, `members` ...

Identity: the observation key is the SCIM `id`. It is assigned by the webhook, never changes, and is what
the IdP itself addresses every later request by (and what a manager or a group member refers to), while
`externalId` is optional (Okta does not always send it) and `userName` changes with renames. Map
`externalId` or `userName` as a field to match people on it.
Marker: the resource's write sequence (every accepted write moves it on, even one that changed nothing),
so each IdP sync is a fresh observation and a late, out-of-order delivery is recognisably older.

This module imports the standard library, pydantic and `peoplesync.scim.observations` (stdlib only): the
reconcile function loads it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..model import Write
from ..ports import READ_ONLY, Capabilities, PermanentError, ReadResult, SecretsPort, WriteResult
from ..scim.observations import observation_from_resource, parse_attributes
from .base import BaseConnector


class ScimInboundSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: str = Field(
        pattern=r"^secret:\S+$",
        description='secret:<name> holding the accepted bearer tokens: {"tokens": ["...", "..."]} (several, '
                    "so a rotation never breaks the IdP). Read by the webhook (deployed, and `peoplesync serve`)")
    base_path: str = Field("/scim/v2", description="The path prefix the SCIM endpoints are served under")
    max_body_bytes: int = Field(1_048_576, ge=1024, le=6_291_456,
                                description="Largest request body accepted (API Gateway's cap is 6 MiB)")


Settings = ScimInboundSettings  # the name the registry and configuration checks look for


# --- the connector ---------------------------------------------------------------------------------------
class ScimInboundConnector(BaseConnector):
    """Push-only: a poll reads the webhook's stored view when given its repository (a full, complete read:
    what the IdP deleted is gone), and nothing otherwise. Writes are refused: nothing goes back to the IdP."""

    Settings = ScimInboundSettings
    writable_by_default = False
    secret_settings = ("tokens",)

    @classmethod
    def missing_credentials(cls, secret: Mapping[str, Any], key: str = "credentials") -> list[str]:
        from ..scim.guard import token_list

        return ["tokens"] if key == "tokens" and not token_list(secret) else []

    @classmethod
    def capabilities(cls, settings: Mapping[str, Any]) -> Capabilities:
        return READ_ONLY

    def __init__(self, name: str, settings: ScimInboundSettings, attributes: Iterable[str], *,
                 secrets: SecretsPort | None = None, repository: Any = None, **_: Any) -> None:
        super().__init__(name, settings, attributes, writable=False, secrets=secrets)
        self.paths = parse_attributes(self.attributes)
        self.repository = repository

    def _read_full(self) -> ReadResult:
        if self.repository is None:
            return ReadResult([], complete=False)
        observations = [observation_from_resource(self.name, s.doc, self.paths, marker=s.seq)
                        for type_ in ("User", "Group") for s in self.repository.list(type_)]
        return ReadResult(observations, complete=True)

    def _apply(self, change: Write) -> WriteResult:
        raise PermanentError(f"system {self.name!r} is a SCIM identity provider: nothing is written back to it")

    @classmethod
    def resolve_credentials(cls, name: str, ref: str | None, secrets: SecretsPort | None) -> dict[str, Any] | None:
        """The credentials are the tokens the IdP must present: the webhook reads them, the connector never."""
        return None


CONNECTOR = ScimInboundConnector
