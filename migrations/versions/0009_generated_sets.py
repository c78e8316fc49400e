"""Generated question sets (`ragq questions generate`): the set's provenance (generator, model and spec digest,
seed, filters and what each removed), each question's origin (cloze or model-written, its page, seconds), and the
checks of a generated set against an expert set (`ragq questions check`). Sets imported from files keep NULL.

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('question_sets') as batch:
        batch.add_column(sa.Column('provenance', sa.JSON(), nullable=True))
    with op.batch_alter_table('questions') as batch:
        batch.add_column(sa.Column('origin', sa.JSON(), nullable=True))
    op.create_table(
        'set_checks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('generated_set_id', sa.Integer(), nullable=False),
        sa.Column('expert_set_id', sa.Integer(), nullable=False),
        sa.Column('generator', sa.String(64), nullable=False),
        sa.Column('passed', sa.Boolean(), nullable=False),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['generated_set_id'], ['question_sets.id'],
                                name='fk_set_checks_generated_set_id_question_sets'),
        sa.ForeignKeyConstraint(['expert_set_id'], ['question_sets.id'],
                                name='fk_set_checks_expert_set_id_question_sets'),
        sa.PrimaryKeyConstraint('id', name='pk_set_checks'),
    )
    op.create_index('ix_set_checks_generator', 'set_checks', ['generator'])


def downgrade() -> None:
    op.drop_index('ix_set_checks_generator', table_name='set_checks')
    op.drop_table('set_checks')
    with op.batch_alter_table('questions') as batch:
        batch.drop_column('origin')
    with op.batch_alter_table('question_sets') as batch:
        batch.drop_column('provenance')
