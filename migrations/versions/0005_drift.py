"""Drift: a candidate model's KL divergence from a reference model on the reference's own answers (`ragq drift`).

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'drift',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reference_job_id', sa.Integer(), nullable=False),
        sa.Column('model_id', sa.Integer(), nullable=False),
        sa.Column('spec_digest', sa.String(length=64), nullable=False),
        sa.Column('tokens', sa.Integer(), nullable=False),
        sa.Column('kld', sa.JSON(), nullable=False),
        sa.Column('kld_mean', sa.Float(), nullable=False),
        sa.Column('same_top', sa.Float(), nullable=False),
        sa.Column('dp_mean', sa.Float(), nullable=False),
        sa.Column('dp_rms', sa.Float(), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.Column('provenance', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['reference_job_id'], ['jobs.id'], name='fk_drift_reference_job_id_jobs'),
        sa.ForeignKeyConstraint(['model_id'], ['models.id'], name='fk_drift_model_id_models'),
        sa.PrimaryKeyConstraint('id', name='pk_drift'),
        sa.UniqueConstraint('reference_job_id', 'model_id', 'spec_digest', name='uq_drift_reference_job_id_model_id_spec_digest'),
    )
    op.create_index('ix_drift_reference_job_id', 'drift', ['reference_job_id'])


def downgrade() -> None:
    op.drop_index('ix_drift_reference_job_id', table_name='drift')
    op.drop_table('drift')
