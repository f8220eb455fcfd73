"""The SCIM 2.0 webhook: a service provider that identity providers (Entra ID, Okta ...) push users to.

The package is import-light on purpose: `peoplesync.scim` and its `http`, `repository`, `quirks`, `guard`,
`apigw`, `devserver` and `observations` modules use the standard library (and the model) only. The protocol
itself (`app`, `storage`, `provider`) is built on scim2-models / scim2-server, which cost about half a second of
import, so only the SCIM function pays for them. Build the webhook with `peoplesync.scim.app.build_app`.
"""

from .http import ScimRequest, ScimResponse

__all__ = ["ScimRequest", "ScimResponse"]
