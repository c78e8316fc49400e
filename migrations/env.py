"""Alembic environment: the URL comes from ragq's settings (via the Config object ragq builds)."""

from alembic import context
from sqlalchemy import create_engine, pool

from ragq.shared.store.schema import Base

config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
