"""The fleet a database belongs to: one row, written by the first host configured with RAGQ_FLEET (`ragq fleet
secrets` prints it); a host of another fleet is refused before it reads or writes anything.

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'fleet',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_fleet'),
    )


def downgrade() -> None:
    op.drop_table('fleet')
