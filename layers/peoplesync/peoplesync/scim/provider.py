"""What the service provider announces and how tolerant it is: built once per process (scim2-models).

Announced (GET /ServiceProviderConfig): PATCH, filter (maxResults 200), sort, ETag; no bulk, no password
change (passwords are never stored). Users carry the enterprise extension; Groups are plain.

The policy is where the RFC leaves room and Entra ID needs it (see `quirks` for the rest):
`remove_value_as_filter=apply` reads `{"op":"remove","path":"members","value":[{"value":id}]}` as
removing those members; `unmatched_path_filter=create` lets `add emails[type eq "work"].value` create
the work e-mail a user does not have yet. Attributes no schema declares are refused (`unknown=forbid`):
accepting them silently would lose them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    External,
    Filter,
    Patch,
    Reference,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
)

MAX_RESULTS = 200

BEARER = AuthenticationScheme(
    type=AuthenticationScheme.Type.oauthbearertoken,
    name="OAuth Bearer Token",
    description="A long-lived bearer token from the peoplesync configuration (several may be valid at once)",
    spec_uri=Reference[External]("https://datatracker.ietf.org/doc/html/rfc6750"),
    primary=True,
)

POLICY = ScimPolicy(
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)


def service_provider_config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        authentication_schemes=[BEARER],
    )


@lru_cache(maxsize=1)
def provider() -> ScimProvider:
    # Built from the RFC 7643 schema documents, not from scim2-models' Python classes (which are 130 ms
    # faster to build): the classes validate e-mails with email-validator and refuse addresses IdPs do
    # send (test.user@okta.local), which would fail provisioning for no gain.
    from scim2_server.utils import load_default_resource_types, load_default_schemas

    return ScimProvider.from_discovery(load_default_schemas().values(), load_default_resource_types().values(),
                                       config=service_provider_config(), policy=POLICY)


def model_for(resource_type: str) -> Any:
    return provider().model_for(resource_type)
