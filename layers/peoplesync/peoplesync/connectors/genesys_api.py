"""The Genesys Cloud Platform API calls the connector makes, over `requests` (not the official SDK: see
docs/genesys.md). The calls and the user cache live here (auth, paging and retries are the connector base's
`ClientCredentials`, `page_all` and `RetryPolicy`); what to write lives in `genesys.py`.

Caches kept at module level, so a warm Lambda invocation reuses them:
- the OAuth token per (token URL, client id), refreshed a margin before it expires and again on a 401;
- the last version of each user seen, per (API host, client id): a PATCH needs the user's current
  `version`, and a delivery right after a read can send it without a GET first (one request per changed
  user). A stale entry is harmless: the API refuses the version, and the connector re-reads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import requests

from ..ports import PermanentError
from .base import ClientCredentials, Page, Paged, forget_tokens, page_all
from .ratelimit import TokenBucket
from .rest import RestClient, error_text, new_session

log = logging.getLogger(__name__)

# AWS region (or the org's domain) -> API host, from the Platform SDK's region table
API_HOSTS = {
    "us-east-1": "api.mypurecloud.com", "us-east-2": "api.use2.us-gov-pure.cloud",
    "us-west-2": "api.usw2.pure.cloud", "eu-west-1": "api.mypurecloud.ie", "eu-central-1": "api.mypurecloud.de",
    "eu-west-2": "api.euw2.pure.cloud", "ap-southeast-2": "api.mypurecloud.com.au",
    "ap-northeast-1": "api.mypurecloud.jp", "ca-central-1": "api.cac1.pure.cloud",
    "ap-northeast-2": "api.apne2.pure.cloud", "ap-south-1": "api.aps1.pure.cloud",
    "sa-east-1": "api.sae1.pure.cloud", "me-central-1": "api.mec1.pure.cloud",
    "ap-northeast-3": "api.apne3.pure.cloud", "eu-central-2": "api.euc2.pure.cloud",
    "mx-central-1": "api.mxc1.pure.cloud", "ap-southeast-1": "api.apse1.pure.cloud",
}


def hosts_for(region: str) -> tuple[str, str]:
    """(API base URL, login base URL) for an AWS region name, an org domain or an API host."""
    region = region.strip().lower().removeprefix("https://").rstrip("/")
    host = API_HOSTS.get(region) or (region if region.startswith("api.") else f"api.{region}")
    return f"https://{host}", f"https://login.{host.removeprefix('api.')}"


# --- users last seen ---------------------------------------------------------------------------------------
class UserCache:
    """Bounded LRU of user documents as last read or written, with the expansions each one carries."""

    def __init__(self, capacity: int = 20000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[dict[str, Any], frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, uid: str, needs: Iterable[str]) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(uid)
            if item is None or not set(needs) <= item[1]:
                return None
            self._items.move_to_end(uid)
            return item[0]

    def put(self, user: dict[str, Any], expanded: Iterable[str]) -> None:
        with self._lock:
            self._items[str(user["id"])] = (user, frozenset(expanded))
            self._items.move_to_end(str(user["id"]))
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def drop(self, uid: str) -> None:
        with self._lock:
            self._items.pop(uid, None)


_CACHES: dict[tuple[str, str], UserCache] = {}


def user_cache(api_url: str, client_id: str) -> UserCache:
    return _CACHES.setdefault((api_url, client_id), UserCache())


def reset_caches() -> None:
    """Forget tokens and users (tests; a rotated secret)."""
    forget_tokens()
    _CACHES.clear()


# --- the calls -------------------------------------------------------------------------------------------
class GenesysApi:
    def __init__(self, api_url: str, login_url: str, client_id: str, client_secret: str, *,
                 bucket: TokenBucket | None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] | None = None, timeout: float = 10.0, max_retries: int = 5,
                 max_retry_after: float = 120.0) -> None:
        session = new_session()
        # no refresh token: a new one is requested a margin before the old one expires (10% of its life, at
        # most 5 minutes), or at once after a 401; 24 h is the platform's default lifetime
        self.credentials = ClientCredentials(f"{login_url.rstrip('/')}/oauth/token", client_id, client_secret,
                                             session=session, clock=clock, timeout=timeout, default_life=86400,
                                             name="genesys")
        self.http = RestClient(api_url, bucket=bucket, auth=self.credentials.headers,
                               reauth=self.credentials.invalidate, session=session, sleep=sleep,
                               timeout=timeout, max_retries=max_retries, max_retry_after=max_retry_after,
                               name="genesys")
        self.cache = user_cache(api_url.rstrip("/"), client_id)
        self._locations: dict[str, str] | None = None  # id -> name

    def list_users(self, expand: tuple[str, ...], page_size: int) -> tuple[list[dict[str, Any]], bool]:
        """Every user (active and inactive) page by page. `complete` is False when the listing moved under
        us (the total changed between pages, or fewer distinct users came back than it announced): page
        numbers shift when users are added or removed, so someone may have been skipped."""
        listing: Paged[dict[str, Any]] = page_all(lambda n: self.users_page(expand, page_size, n),
                                                  key=lambda u: str(u["id"]), name="genesys users")
        return listing.items, listing.complete

    def users_page(self, expand: tuple[str, ...], page_size: int, number: int) -> Page[dict[str, Any]]:
        """Page `number` of every user (active and inactive), its total, and the next page's number."""
        params = {"pageSize": page_size, "pageNumber": number, "state": "any", "expand": list(expand)}
        users = self._page("/api/v2/users", params, "list users")
        for u in users.items:
            self.cache.put(u, expand)
        return users

    def _page(self, path: str, params: dict[str, Any], what: str) -> Page[dict[str, Any]]:
        response = self.http.request("GET", path, params=params)
        _check(response, what)
        body = response.json()
        number, count = int(params["pageNumber"]), int(body.get("pageCount") or 1)
        total = body.get("total")
        return Page(list(body.get("entities") or ()), None if total is None else int(total),
                    number + 1 if number < count else None)

    def get_users(self, ids: list[str], expand: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """Users by id, 100 a request; deleted ones come back with state=deleted, unknown ones not at all."""
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), 100):
            chunk = ids[i:i + 100]
            params = {"id": chunk, "pageSize": len(chunk), "state": "any", "expand": list(expand)}
            response = self.http.request("GET", "/api/v2/users", params=params)
            _check(response, "get users")
            for u in response.json().get("entities") or ():
                found[str(u["id"])] = u
                self.cache.put(u, expand)
        return found

    def get_user(self, uid: str, expand: tuple[str, ...]) -> dict[str, Any] | None:
        response = self.http.request("GET", f"/api/v2/users/{uid}", params={"expand": list(expand)})
        if response.status_code == 404:
            self.cache.drop(uid)
            return None
        _check(response, f"get user {uid}")
        user = response.json()
        self.cache.put(user, expand)
        return user

    def search_users(self, criteria: list[dict[str, Any]], expand: tuple[str, ...],
                     page_size: int = 2) -> tuple[list[dict[str, Any]], int]:
        """`POST /api/v2/users/search` with these criteria (ANDed): the first page of users found and the
        total. One request; a search is a read, so it is retried like one."""
        body = {"pageSize": page_size, "pageNumber": 1, "query": criteria, "expand": list(expand)}
        response = self.http.request("POST", "/api/v2/users/search", json=body)
        _check(response, "search users")
        answer = response.json()
        users = [u for u in answer.get("results") or () if isinstance(u, dict) and u.get("id")]
        for u in users:
            self.cache.put(u, expand)
        return users, int(answer.get("total") or len(users))

    def patch_user(self, uid: str, body: dict[str, Any]) -> requests.Response:
        response = self.http.request("PATCH", f"/api/v2/users/{uid}", json=body)
        if response.status_code == 200:
            user = response.json()
            self.cache.put(user, [k for k in ("employerInfo", "locations", "groups") if k in user])
        return response

    def create_user(self, body: dict[str, Any]) -> requests.Response:
        # a create is not repeated after a 5xx: it may have happened, and a second one would be a duplicate
        return self.http.request("POST", "/api/v2/users", json=body, retry_server_errors=False)

    def delete_user(self, uid: str) -> requests.Response:
        self.cache.drop(uid)
        return self.http.request("DELETE", f"/api/v2/users/{uid}")

    def home_division(self) -> str:
        response = self.http.request("GET", "/api/v2/authorization/divisions/home")
        _check(response, "read the home division")
        return str(response.json()["id"])

    def locations(self) -> dict[str, str]:
        """Location id -> name, listed once per connector instance."""
        if self._locations is None:
            listing = page_all(lambda n: self._page("/api/v2/locations", {"pageSize": 100, "pageNumber": n},
                                                    "list locations"),
                               key=lambda x: str(x["id"]), name="genesys locations")
            self._locations = {str(x["id"]): str(x.get("name") or "") for x in listing.items}
        return self._locations


def _check(response: requests.Response, what: str) -> None:
    if response.status_code != 200:
        raise PermanentError(f"genesys: {what}: {error_text(response)}")
