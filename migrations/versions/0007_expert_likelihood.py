"""The expert answer's likelihood: every result can carry how likely its model found the expert's answer after the
same prompt (tokens scored, nats per token, bits per byte, mean rank, seconds). Results stored before this revision
have none: `ragq rescore RUN` reads their stored prompts again to add it, without answering again.

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

COLUMNS = [
    ('expert_tokens', sa.Integer()),
    ('expert_bytes', sa.Integer()),
    ('expert_nats_per_token', sa.Float()),
    ('expert_bpb', sa.Float()),
    ('expert_mean_rank', sa.Float()),
    ('expert_s', sa.Float()),
]


def upgrade() -> None:
    with op.batch_alter_table('results') as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('results') as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
