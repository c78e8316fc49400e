"""A run's settings stored whole (`runs.settings`, shared/records.py `RunSettings`: the retrieval's fusion, k,
candidates and c, the repetitions, the KV cache's reuse) in place of one column each: a new setting is a field of
the record, not a column and a migration. Every existing run gets the record its columns held; downgrade writes
them back.

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

COLUMNS = ('fusion', 'k', 'candidates', 'c', 'repeat', 'kv_reuse')


def _runs():
    return sa.table('runs', sa.column('id', sa.Integer()), sa.column('settings', sa.JSON()),
                    *(sa.column(name) for name in COLUMNS))


def upgrade() -> None:
    with op.batch_alter_table('runs') as batch:
        batch.add_column(sa.Column('settings', sa.JSON(), nullable=True))
    runs, conn = _runs(), op.get_bind()
    for row in conn.execute(sa.select(runs.c.id, *(runs.c[name] for name in COLUMNS))).all():
        settings = {
            'retrieval': {'fusion': row.fusion, 'k': row.k, 'candidates': row.candidates, 'c': row.c},
            'repeat': row.repeat,
            'kv_reuse': bool(row.kv_reuse),
        }
        conn.execute(runs.update().where(runs.c.id == row.id).values(settings=settings))
    with op.batch_alter_table('runs') as batch:
        batch.alter_column('settings', existing_type=sa.JSON(), nullable=False)
        for name in COLUMNS:
            batch.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table('runs') as batch:
        batch.add_column(sa.Column('fusion', sa.String(length=50), nullable=True))
        for name in ('k', 'candidates', 'c', 'repeat'):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
        batch.add_column(sa.Column('kv_reuse', sa.Boolean(), nullable=True))
    runs, conn = _runs(), op.get_bind()
    for row in conn.execute(sa.select(runs.c.id, runs.c.settings)).all():
        retrieval = row.settings['retrieval']
        values = {name: retrieval[name] for name in ('fusion', 'k', 'candidates', 'c')}
        values |= {'repeat': row.settings['repeat'], 'kv_reuse': row.settings['kv_reuse']}
        conn.execute(runs.update().where(runs.c.id == row.id).values(**values))
    with op.batch_alter_table('runs') as batch:
        batch.alter_column('fusion', existing_type=sa.String(length=50), nullable=False)
        for name in ('k', 'candidates', 'c', 'repeat'):
            batch.alter_column(name, existing_type=sa.Integer(), nullable=False)
        batch.alter_column('kv_reuse', existing_type=sa.Boolean(), nullable=False)
        batch.drop_column('settings')
