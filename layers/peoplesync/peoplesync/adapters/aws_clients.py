"""The functions' AWS clients: one botocore session for the process, its data files read faster.

A client's creation is most of a function's cold start after `import boto3` (docs/performance.md, "Every
function's cold start"). Three things here, each measured on this project's functions:

- botocore, not boto3: the functions only call clients; `import boto3` on top of botocore is ~30 ms of imports
  (resources, collections, s3transfer hooks) they never use.
- botocore parses its JSON data with `object_pairs_hook=OrderedDict`: the endpoint table alone (endpoints.json,
  1.2 MB, read for every first client) took 72 ms so, 15 ms as plain dicts. Plain dicts keep the order too, and
  nothing in botocore needs an OrderedDict (no `move_to_end`, no isinstance check).
- to check a service's name, botocore lists every service it knows (440 directories, ~900 stat calls) twice;
  the loader here looks in the directories of the services asked for only, which gives the same answer for them.

Both are botocore's own extension points (a `Loader` given its `file_loader`, registered as the session's
`data_loader`), so the clients, their retries, endpoints and credentials are botocore's as they are.
"""

from __future__ import annotations

import json
import os
from typing import Any

from botocore import loaders
from botocore.session import Session


class _PlainJSON(loaders.JSONFileLoader):
    """botocore's JSON loader, building plain dicts instead of OrderedDicts (5x faster on endpoints.json)."""

    def _load_file(self, full_path: str, open_method: Any) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            return json.loads(fp.read().decode("utf-8"))


class _Loader(loaders.Loader):
    """botocore's loader, knowing the services asked for of it rather than listing all of them."""

    def __init__(self, extra_search_paths: list[str] | None = None) -> None:
        super().__init__(extra_search_paths=extra_search_paths, file_loader=_PlainJSON())
        self._asked: set[str] = set()

    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        self._asked.add(service_name)
        return super().load_service_model(service_name, type_name, api_version)

    def list_available_services(self, type_name: str) -> list[str]:
        found = set()
        for base in self._potential_locations():  # type: ignore[attr-defined]  # botocore's own, unstubbed
            for name in self._asked:
                folder = os.path.join(base, name)
                if os.path.isdir(folder) and any(self.file_loader.exists(os.path.join(folder, v, type_name))
                                                 for v in os.listdir(folder)):
                    found.add(name)
        return sorted(found)


def session() -> Session:
    """A botocore session as `boto3.client` would make one (the environment's region, credentials, AWS_DATA_PATH),
    with the loader above."""
    made = Session()
    data_path = made.get_config_variable("data_path")
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else None
    made.register_component("data_loader", _Loader(extra))
    return made
