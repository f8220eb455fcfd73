"""The SQL connector's PostgreSQL URLs, read without SQLAlchemy (`connectors/sql/urls.py`): which URLs take
psycopg directly, and the connection keywords each gives, checked against what SQLAlchemy's psycopg dialect makes
of the same URL (the keywords the connector used before session 8)."""

from __future__ import annotations

import pytest

from peoplesync.config import SystemConfig
from peoplesync.connectors import sql
from peoplesync.connectors.sql import urls

sa = pytest.importorskip("sqlalchemy")

URLS = [
    "postgresql+psycopg://badge-db.internal/badges",
    "postgresql+psycopg://badge-db.internal:6432/badges?sslmode=require&connect_timeout=5",
    "postgresql://reader:p%40ss%3Aw%2Fd%25@10.0.0.7:5432/badges",
    "postgresql+psycopg://u@/badges?host=/var/run/postgresql",
    "postgresql+psycopg://u:pw@/badges?host=db1:5432&host=db2:5433&target_session_attrs=read-write",
    "postgresql+psycopg://u:pw@/badges?host=db1,db2&port=5432,5433",
    "postgresql+psycopg://u:pw@db1/badges?application_name=peoplesync%20poll",
]


def sqlalchemy_kwargs(url: str) -> dict[str, object]:
    dialect = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1)).dialect
    _, kwargs = dialect.create_connect_args(sa.engine.make_url(url))
    kwargs.pop("context", None)  # psycopg's adapters map, SQLAlchemy's own business
    return {k: str(v) for k, v in kwargs.items()}


@pytest.mark.parametrize("url", URLS)
def test_given_a_postgresql_url_then_psycopg_gets_the_keywords_sqlalchemy_gave_it(url: str):
    assert urls.is_direct(url)
    assert {k: str(v) for k, v in urls.parse(url).connect_kwargs().items()} == sqlalchemy_kwargs(url)


@pytest.mark.parametrize("url", ["sqlite:///badges.db", "sqlite://", "mysql+pymysql://h/db",
                                 "postgresql+pg8000://h/db", "postgresql+psycopg2://h/db", "badges.db"])
def test_given_another_url_then_the_connector_keeps_sqlalchemy_for_it(url: str):
    assert not urls.is_direct(url)


def test_given_credentials_with_url_characters_then_they_reach_psycopg_verbatim_and_never_its_repr():
    conf = SystemConfig(connector="sql", url="postgresql+psycopg://badge-db.internal:5432/badges?sslmode=require",
                        credentials="secret:peoplesync/badges", table="badge_holders", key="badge_holder_id")

    class Secrets:
        def get(self, name: str) -> dict[str, str]:
            return {"username": "svc@corp", "password": "p@ss:w/rd%20&x=1"}

    conn = sql.SqlConnector.from_system("badges", conf, ["badge_number"], secrets=Secrets())

    kwargs = conn._url.connect_kwargs()
    assert (kwargs["user"], kwargs["password"]) == ("svc@corp", "p@ss:w/rd%20&x=1")
    assert (kwargs["host"], kwargs["port"], kwargs["dbname"], kwargs["sslmode"]) == \
        ("badge-db.internal", 5432, "badges", "require")
    assert "p@ss" not in repr(conn) and "p@ss" not in str(conn._url)
    assert repr(conn) == "SqlConnector('badges', postgresql+psycopg://svc@corp:***@badge-db.internal:5432/badges" \
                         "?sslmode=require)"


def test_given_a_secret_without_a_user_then_the_urls_own_is_kept_as_before():
    url = urls.parse("postgresql+psycopg://reader:old@h/db")
    assert url.set(username=None, password="new").connect_kwargs()["user"] == "reader"
    assert url.set(username=None, password="new").connect_kwargs()["password"] == "new"


def test_given_a_port_that_is_no_number_then_the_url_is_refused_naming_the_port():
    with pytest.raises(ValueError, match="port"):
        urls.parse("postgresql+psycopg://h:abc/db")
