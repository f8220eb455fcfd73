"""The `ScimRepository` contract, held by the in-memory, the SQLite and the DynamoDB (moto) implementations alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from peoplesync.ports import VersionConflict
from peoplesync.scim.repository import MemoryScimRepository, ResourceNotFound, ScimRepository, UniquenessConflict

moto = pytest.importorskip("moto", reason="moto is in the dev extra")
boto3 = pytest.importorskip("boto3")

TABLE = "peoplesync-test"


@pytest.fixture
def dynamodb() -> Iterator[object]:
    with moto.mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}])
        yield client


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def repo(request, tmp_path) -> Iterator[ScimRepository]:
    if request.param == "memory":
        yield MemoryScimRepository()
        return
    if request.param == "sqlite":
        from peoplesync.adapters.scim_sqlite import SqliteScimRepository

        sqlite = SqliteScimRepository(tmp_path / "state.sqlite3")
        yield sqlite
        sqlite.close()
        return
    from peoplesync.adapters.scim_dynamodb import DynamoScimRepository

    yield DynamoScimRepository(TABLE, request.getfixturevalue("dynamodb"))


def doc(user_name: str, **extra: object) -> dict:
    return {"userName": user_name, **extra}


def test_a_created_resource_reads_back_at_version_and_seq_one(repo: ScimRepository) -> None:
    repo.create("User", "u1", doc("ann", title="T"), {"userName": "ann"})
    stored = repo.get("User", "u1")
    assert (stored.doc, stored.version, stored.seq, stored.etag) == (doc("ann", title="T"), 1, 1, 'W/"1"')
    assert repo.get("User", "nope") is None and repo.get("Group", "u1") is None


def test_replace_moves_version_and_seq_touch_moves_seq_only(repo: ScimRepository) -> None:
    repo.create("User", "u1", doc("ann"), {"userName": "ann"})
    replaced = repo.replace("User", "u1", doc("ann", title="X"), {"userName": "ann"}, expected_version=1)
    assert (replaced.version, replaced.seq) == (2, 2)
    touched = repo.touch("User", "u1", expected_version=2)
    assert (touched.version, touched.seq, touched.doc) == (2, 3, doc("ann", title="X"))
    assert (repo.get("User", "u1").version, repo.get("User", "u1").seq) == (2, 3)


def test_a_stale_expected_version_changes_nothing(repo: ScimRepository) -> None:
    repo.create("User", "u1", doc("ann"), {"userName": "ann"})
    repo.replace("User", "u1", doc("ann", title="X"), {"userName": "ann"})
    for attempt in (lambda: repo.replace("User", "u1", doc("ann", title="Y"), {"userName": "ann"}, 1),
                    lambda: repo.touch("User", "u1", 1), lambda: repo.delete("User", "u1", 1)):
        with pytest.raises(VersionConflict):
            attempt()
    assert repo.get("User", "u1").doc == doc("ann", title="X")


def test_a_taken_unique_value_is_refused_and_freed_when_its_owner_lets_go(repo: ScimRepository) -> None:
    repo.create("User", "u1", doc("ann"), {"userName": "ann", "externalId": "E1"})
    with pytest.raises(UniquenessConflict) as err:
        repo.create("User", "u2", doc("Ann"), {"userName": "ann"})
    assert err.value.attr == "userName" and repo.get("User", "u2") is None
    repo.create("User", "u2", doc("bob"), {"userName": "bob"})
    with pytest.raises(UniquenessConflict):
        repo.replace("User", "u2", doc("ann"), {"userName": "ann"})
    assert repo.get("User", "u2").doc == doc("bob")
    repo.replace("User", "u1", doc("ann2"), {"userName": "ann2"})  # renamed: "ann" is free again
    repo.replace("User", "u2", doc("ann"), {"userName": "ann"})
    assert [s.id for s in repo.find("User", "userName", "ann")] == ["u2"]
    assert repo.find("User", "userName", "bob") == []


def test_lookups_follow_every_change_and_non_unique_values_list_every_holder(repo: ScimRepository) -> None:
    repo.create("Group", "g2", {"displayName": "Team"}, {"displayName": "team", "externalId": "X"})
    repo.create("Group", "g1", {"displayName": "team"}, {"displayName": "team"})
    assert [s.id for s in repo.find("Group", "displayName", "team")] == ["g1", "g2"]
    assert [s.id for s in repo.find("Group", "externalId", "X")] == ["g2"]
    repo.replace("Group", "g2", {"displayName": "Other"}, {"displayName": "other"})
    assert repo.find("Group", "externalId", "X") == []
    removed = repo.delete("Group", "g1")
    assert (removed.seq, removed.doc) == (2, {"displayName": "team"})
    assert repo.find("Group", "displayName", "team") == []
    with pytest.raises(ResourceNotFound):
        repo.delete("Group", "g1")


def test_list_is_ordered_by_id_and_counts_every_resource_of_the_type(repo: ScimRepository) -> None:
    for i in (3, 1, 2):
        repo.create("User", f"u{i}", doc(f"n{i}"), {"userName": f"n{i}"})
    assert [s.id for s in repo.list("User")] == ["u1", "u2", "u3"]
    assert repo.count("User") == 3 and repo.count("Group") == 0


def test_a_long_value_is_still_looked_up_exactly(repo: ScimRepository) -> None:
    long = "x" * 600
    repo.create("User", "u1", doc(long), {"userName": long})
    assert [s.id for s in repo.find("User", "userName", long)] == ["u1"]
    assert repo.find("User", "userName", "x" * 599) == []


def test_the_webhook_over_dynamodb_serves_a_user_lifecycle(dynamodb) -> None:
    from peoplesync.adapters.scim_dynamodb import DynamoScimRepository
    from peoplesync.scim.app import build_app
    from tests.unit.scim.conftest import USER, Client

    seen = []
    client = Client(build_app(DynamoScimRepository(TABLE, dynamodb), ["unit-test-token-0123456789"],
                              system="idp", attributes=["title"], on_change=seen.append))
    u = client.user("dyn@example.com", title="A")
    assert client.post("/Users", {"schemas": [USER], "userName": "DYN@example.com"}).status == 409
    assert client.patch(f"/Users/{u['id']}", {"op": "replace", "path": "title", "value": "B"}).body["title"] == "B"
    assert client.get("/Users", filter='userName eq "dyn@EXAMPLE.com"').body["totalResults"] == 1
    assert client.delete(f"/Users/{u['id']}").status == 204
    assert [(o.attrs.get("title"), o.marker, o.removed) for o in seen] == [("A", 1, False), ("B", 2, False),
                                                                           (None, 3, True)]


def test_given_dynamodb_throttles_then_the_webhook_answers_503_with_retry_after(dynamodb) -> None:
    from botocore.exceptions import ClientError

    from peoplesync.adapters.scim_dynamodb import DynamoScimRepository
    from peoplesync.scim.app import build_app
    from tests.unit.scim.conftest import Client

    class Throttling:
        exceptions = dynamodb.exceptions

        def __getattr__(self, name):
            def fail(**kwargs):
                raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, name)
            return fail

    client = Client(build_app(DynamoScimRepository(TABLE, Throttling()), ["unit-test-token-0123456789"]))
    r = client.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "t"})
    assert r.status == 503 and r.headers["Retry-After"] == "1"
    assert client.get("/Users/x").status == 503


# --- SQLite: the view outlives the process and shares the file with the state store ------------------------
def test_given_the_sqlite_file_reopened_then_resources_versions_and_lookups_are_still_there(tmp_path) -> None:
    from peoplesync.adapters.scim_sqlite import SqliteScimRepository

    first = SqliteScimRepository(tmp_path / "state.sqlite3")
    first.create("User", "u1", doc("ann"), {"userName": "ann", "externalId": "E1"})
    first.replace("User", "u1", doc("ann", title="X"), {"userName": "ann", "externalId": "E1"})
    first.close()

    again = SqliteScimRepository(tmp_path / "state.sqlite3")
    stored = again.get("User", "u1")
    assert (stored.doc, stored.version, stored.seq) == (doc("ann", title="X"), 2, 2)
    assert [s.id for s in again.find("User", "externalId", "E1")] == ["u1"]
    with pytest.raises(UniquenessConflict):
        again.create("User", "u2", doc("ann"), {"userName": "ann"})
    assert again.count("User") == 1


def test_given_the_state_store_in_the_same_file_then_each_keeps_its_own_tables(tmp_path) -> None:
    from peoplesync.adapters.scim_sqlite import SqliteScimRepository
    from peoplesync.adapters.sqlite_store import SqliteStore
    from peoplesync.model import RecordState

    path = tmp_path / "state.sqlite3"
    store, scim = SqliteStore(path), SqliteScimRepository(path)
    store.save(RecordState(id="p1", golden={"title": "T"}))
    scim.create("User", "p1", doc("ann"), {"userName": "ann"})
    assert store.load("p1").golden == {"title": "T"} and scim.get("User", "p1").doc == doc("ann")
    store.close()
    scim.close()


def test_given_two_connections_to_one_file_then_only_one_may_take_a_unique_value(tmp_path) -> None:
    from peoplesync.adapters.scim_sqlite import SqliteScimRepository

    one, two = SqliteScimRepository(tmp_path / "s.sqlite3"), SqliteScimRepository(tmp_path / "s.sqlite3")
    one.create("User", "u1", doc("ann"), {"userName": "ann"})
    with pytest.raises(UniquenessConflict):
        two.create("User", "u2", doc("ann"), {"userName": "ann"})
    two.replace("User", "u1", doc("ann", title="B"), {"userName": "ann"}, expected_version=1)
    with pytest.raises(VersionConflict):
        one.replace("User", "u1", doc("ann", title="C"), {"userName": "ann"}, expected_version=1)
    assert one.get("User", "u1").doc == doc("ann", title="B") and two.count("User") == 1


def test_given_the_local_run_store_then_serve_keeps_the_idp_view_beside_it(tmp_path) -> None:
    from peoplesync import bootstrap
    from peoplesync.adapters.memory import MemoryStore
    from peoplesync.adapters.scim_sqlite import SqliteScimRepository

    beside = bootstrap.scim_repository_for(bootstrap.sqlite_store(tmp_path / "state.sqlite3"))
    assert isinstance(beside, SqliteScimRepository) and beside.path == str(tmp_path / "state.sqlite3")
    assert isinstance(bootstrap.scim_repository_for(MemoryStore()), MemoryScimRepository)
