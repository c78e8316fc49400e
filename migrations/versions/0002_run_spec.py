"""Runs carry the model spec that produced them: its digest (part of the run key), the full resolved spec, and
the prompt kind. Runs made before this revision get the spec their model had at its first use (what 0001
recorded) and no digest: their keys hold no digest, so the next enqueue of the same work makes a new run.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs') as batch:
        batch.add_column(sa.Column('spec_digest', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('spec', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('prompt_kind', sa.String(length=20), nullable=False, server_default='chat'))
    op.execute("UPDATE runs SET spec = (SELECT models.spec FROM models WHERE models.id = runs.model_id)")


def downgrade() -> None:
    with op.batch_alter_table('runs') as batch:
        batch.drop_column('prompt_kind')
        batch.drop_column('spec')
        batch.drop_column('spec_digest')
