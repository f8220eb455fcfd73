"""Nothing leaks (issue 11, item 6): the redaction module, the log filter, the secrets adapters registering what
they hand out, and error texts built from a server's answer (the REST client shared by Workday, SCIM, Genesys)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from peoplesync import redact
from peoplesync.adapters.local_secrets import LocalSecrets
from peoplesync.adapters.secretsmanager import SecretsManagerSecrets
from peoplesync.connectors.rest import RestClient, error_text
from peoplesync.ports import PermanentError, TransientError

SECRET = "hunter2-but-longer"


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    redact.forget_all()
    yield
    redact.forget_all()  # the log redaction stays installed, as importing bootstrap leaves it


def test_registered_values_and_their_encodings_are_masked_and_identifiers_are_not() -> None:
    redact.register_secret({"client_id": "bridge-client", "client_secret": SECRET, "nested": {"pin": "8675309"}})
    basic = base64.b64encode(f"bridge-client:{SECRET}".encode()).decode()
    text = f"id=bridge-client secret={SECRET} form=a%3D{SECRET.replace('-', '%2D')} basic={basic} pin 8675309"
    clean = redact.scrub(text)
    assert SECRET not in clean and basic not in clean and "8675309" not in clean
    assert "bridge-client" in clean  # an identifier helps to read the error; it is not a secret
    assert redact.scrub("ok") == "ok" and redact.scrub(f"x {SECRET[:6]} y") == f"x {SECRET[:6]} y"


@pytest.mark.parametrize(("text", "gone"), [
    ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig-nature", "eyJhbGciOi"),
    ("{'Authorization': 'Basic YnJpZGdlOnMzY3JldA=='}", "YnJpZGdlOnMzY3JldA=="),
    ('{"authorization": "Token abc123def456"}', "abc123def456"),
    ("sent Bearer 4f8e2a9c1d7b and failed", "4f8e2a9c1d7b"),
    ("postgresql://sync:pa55word@db.example/hr", "pa55word"),
    ("grant_type=refresh_token&refresh_token=rt-91823&client_secret=cs-1234", "rt-91823"),
    ('{"access_token": "at-5551234", "expires_in": 3600}', "at-5551234"),
])
def test_credential_patterns_are_masked_even_when_never_registered(text: str, gone: str) -> None:
    assert gone not in redact.scrub(text) and redact.MASK in redact.scrub(text)


def test_prose_is_left_alone() -> None:
    for text in ("Basic authentication failed", "token request answered 503", "bearer of bad news",
                 "secret 'peoplesync/ad' cannot be read", "https://example.org/path?x=1"):
        assert redact.scrub(text) == text


def test_the_log_filter_masks_every_logger_including_third_party_and_new_ones(
        caplog: pytest.LogCaptureFixture) -> None:
    redact.register(SECRET)
    redact.install_log_redaction()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").debug("header %s", f"Authorization: Bearer {SECRET}")
    logging.getLogger("botocore.endpoint").info("body %r", {"password": SECRET})
    logging.getLogger("made.after.install").warning("the secret is %s", SECRET)
    try:
        raise ValueError(f"a library put {SECRET} in its exception")
    except ValueError:
        logging.getLogger("peoplesync.anything").exception("failed")
    text = caplog.text
    assert SECRET not in text and text.count(redact.MASK) >= 4
    assert "a library put *** in its exception" in text  # the traceback too


def test_the_filter_works_on_its_own_on_a_handler() -> None:
    redact.register(SECRET)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s and %d", (SECRET, 3), None)
    assert redact.RedactingFilter().filter(record) and record.getMessage() == "*** and 3"


def test_install_is_idempotent_names_more_loggers_and_can_be_undone() -> None:
    powertools = logging.getLogger("my-service")
    redact.install_log_redaction(powertools)
    redact.install_log_redaction(powertools)
    assert powertools.filters.count(redact._FILTER) == 1
    assert redact._FILTER in logging.getLogger().filters and redact._FILTER in logging.getLogger("botocore").filters
    redact.uninstall_log_redaction()
    assert redact._FILTER not in powertools.filters and redact._FILTER not in logging.getLogger().filters
    redact.install_log_redaction()


def test_the_secrets_adapters_register_what_they_hand_out(tmp_path: Path) -> None:
    env = LocalSecrets(environ={"PEOPLESYNC_SECRET_AD": json.dumps({"username": "svc", "password": SECRET})})
    assert env.get("secret:ad")["password"] == SECRET
    assert redact.scrub(f"bind failed for svc with {SECRET}") == "bind failed for svc with ***"

    class Client:
        def get_secret_value(self, SecretId: str) -> dict[str, Any]:
            return {"SecretString": json.dumps({"token": "scim-token-0042"})}

    SecretsManagerSecrets(client=Client()).get("scim")
    assert "scim-token-0042" not in redact.scrub("echo: scim-token-0042")


def test_a_broken_secrets_file_is_named_but_not_quoted(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text('{"ad": {"password": "' + SECRET + '"')  # cut
    with pytest.raises(PermanentError) as failed:
        LocalSecrets(path, environ={}).get("ad")
    assert str(path) in str(failed.value) and SECRET not in str(failed.value)


class EchoSession:
    """A `requests` session whose server answers `status` echoing the request, headers and all."""

    def __init__(self, status: int) -> None:
        self.status = status

    def request(self, method: str, url: str, *, headers: dict[str, str], **kw: Any) -> Any:
        import requests

        response = requests.Response()
        response.status_code = self.status
        response._content = json.dumps({"message": f"bad request {method} {url} headers={headers}"}).encode()
        response.headers["Content-Type"] = "application/json"
        return response


@pytest.mark.parametrize("status", [400, 503])
def test_error_texts_from_an_echoing_server_carry_no_credentials(status: int) -> None:
    token = "tok-" + "9" * 30
    redact.register(token)
    client = RestClient("https://api.example", auth=lambda: {"Authorization": f"Bearer {token}"},
                        session=EchoSession(status), sleep=lambda s: None, max_retries=1)  # type: ignore[arg-type]
    if status == 503:
        with pytest.raises(TransientError) as failed:
            client.request("GET", "/users")
        text = str(failed.value)
    else:
        text = error_text(client.request("GET", "/users"))
    assert token not in text and "'Authorization': '***'" in text  # the echo arrived, scrubbed


def test_structured_extras_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    redact.register(SECRET)
    redact.install_log_redaction()
    caplog.set_level(logging.INFO)
    # not a function's logger name: powertools makes those not propagate, so caplog would not see them
    logging.getLogger("peoplesync-extras-test").info("parked", extra={"reason": f"401 echo {SECRET}"})
    assert caplog.records[-1].reason == "401 echo ***"  # type: ignore[attr-defined]


def test_importing_bootstrap_installs_the_redaction_in_the_process() -> None:
    import os
    import subprocess
    import sys

    code = ("import logging\nfrom peoplesync import bootstrap, redact\nredact.register('hush-hush-value')\n"
            "logging.getLogger('botocore.credentials').warning('found %s', 'hush-hush-value')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                          timeout=60, check=True)
    assert "found ***" in done.stderr and "hush-hush-value" not in done.stderr
