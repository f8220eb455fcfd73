"""The SCIM 2.0 webhook: a service provider that identity providers (Entra ID, Okta ...) push users to.

The package is import-light on purpose: `peoplesync.scim` and its `http`, `repository`, `quirks`, `guard`,
`apigw`, `devserver`, `observations`, `documents`, `fast` and `app` modules use the standard library (and the
model) only. The whole protocol (`full`, `storage`, `provider`) is built on scim2-models / scim2-server, which
cost about half a second of import and model building; `app` imports them at the first request the common
User path (`fast`) leaves to them, so a cold start whose first requests are the usual ones never pays for them.
Build the webhook with `peoplesync.scim.app.build_app`.
"""

from .http import ScimRequest, ScimResponse

__all__ = ["ScimRequest", "ScimResponse"]
