"""Alembic migrations: up, down and up again on both backends, and the migrated schema equals the models."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import annotator.data.models  # noqa: F401  (registers the tables)
from annotator.data.engine import alembic_config, ensure_schema, is_empty, make_engine
from tests.conftest import _sqlalchemy_url
from tests.factories import dump_tables, run_cli


def schema_diff(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)


def tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade_round_trip(empty_db_url):
    engine = make_engine(empty_db_url)
    try:
        cfg = alembic_config(engine)
        head = ScriptDirectory.from_config(cfg).get_current_head()
        command.upgrade(cfg, "head")
        assert tables(engine) == set(SQLModel.metadata.tables)
        command.downgrade(cfg, "base")
        assert tables(engine) == set() and is_empty(engine)
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(db_url):
    engine = make_engine(db_url)
    try:
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_ensure_schema_is_idempotent(empty_db_url):
    engine = make_engine(empty_db_url)
    try:
        ensure_schema(engine)
        ensure_schema(engine)
        assert tables(engine) == set(SQLModel.metadata.tables)
    finally:
        engine.dispose()


def test_any_command_creates_the_schema_of_an_empty_database(empty_db_url):
    result = run_cli(["status", "--format", "json"], empty_db_url)
    assert result.exit_code == 0, result.output
    engine = make_engine(empty_db_url)
    try:
        assert not is_empty(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_reused_postgres_test_database_comes_back_empty(_postgres_pool):
    """The conftest pool hands a database to the next test only after deleting every row and restarting sequences."""
    name = _postgres_pool.take()
    url = _sqlalchemy_url(name)
    assert run_cli(["create-account", "someone", "--password", "violet-harbour-7"], url).exit_code == 0
    _postgres_pool.give_back(name)  # also ends the connections the CLI left open
    again = _postgres_pool.take()
    try:
        assert again == name
        engine = make_engine(url)
        try:
            assert all(rows == [] for rows in dump_tables(engine).values())
            assert run_cli(["create-account", "other", "--password", "violet-harbour-7"], url).exit_code == 0
            with engine.connect() as conn:
                assert conn.execute(text("SELECT id FROM account")).scalar_one() == 1
        finally:
            engine.dispose()
    finally:
        _postgres_pool.give_back(again)
