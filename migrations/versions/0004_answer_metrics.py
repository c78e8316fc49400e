"""Answer metrics beside cosine: token F1, exact match, ROUGE-L, abstention, groundedness, number match, answer
length. Existing results get every metric computed from their stored answer and reference, in place; groundedness
stays empty for them (it needs the retrieved chunks' text, which results before this revision did not keep apart
from the prompt).

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

COLUMNS = [
    ('token_f1', sa.Float()),
    ('exact_match', sa.Float()),
    ('rouge_l', sa.Float()),
    ('abstained', sa.Boolean()),
    ('groundedness', sa.Float()),
    ('number_match', sa.Float()),
    ('answer_words', sa.Integer()),
]


def upgrade() -> None:
    from ragq.shared.metrics.answer import score_answer

    with op.batch_alter_table('results') as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            'SELECT results.id, results.answer, questions.answer FROM results '
            'JOIN jobs ON results.job_id = jobs.id JOIN questions ON jobs.question_id = questions.id'
        )
    ).all()
    update = sa.text(
        'UPDATE results SET token_f1 = :token_f1, exact_match = :exact_match, rouge_l = :rouge_l, '
        'abstained = :abstained, number_match = :number_match, answer_words = :answer_words WHERE id = :id'
    )
    for result_id, answer, reference in rows:
        scored = score_answer(answer or '', reference or '', None).as_dict()
        scored.pop('groundedness')
        conn.execute(update, {**scored, 'id': result_id})


def downgrade() -> None:
    with op.batch_alter_table('results') as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
