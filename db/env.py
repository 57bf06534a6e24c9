"""Alembic environment: migrations run against the engine annotator passes in (or ANNOTATOR_DATABASE_URL)."""

from alembic import context
from sqlmodel import SQLModel

import annotator.data.models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata
config = context.config


def _engine():
    engine = config.attributes.get("engine")
    if engine is None:
        from annotator.config import get_settings
        from annotator.data.engine import make_engine

        engine = make_engine(get_settings().database_url)
    return engine


def run_migrations_offline() -> None:
    from annotator.config import get_settings

    context.configure(url=get_settings().database_url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
