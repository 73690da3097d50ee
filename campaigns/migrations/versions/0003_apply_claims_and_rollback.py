"""apply claims, retry backoff and rollback links

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 14:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('shiftitem') as batch:
        batch.add_column(sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('budgetshift') as batch:
        batch.add_column(sa.Column('rollback_of', sa.Integer(), nullable=True))
        batch.create_index('ix_budgetshift_rollback_of', ['rollback_of'], unique=False)
        batch.create_foreign_key('fk_budgetshift_rollback_of', 'budgetshift',
                                 ['rollback_of'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('budgetshift') as batch:
        batch.drop_constraint('fk_budgetshift_rollback_of', type_='foreignkey')
        batch.drop_index('ix_budgetshift_rollback_of')
        batch.drop_column('rollback_of')
    with op.batch_alter_table('shiftitem') as batch:
        batch.drop_column('next_attempt_at')
        batch.drop_column('claimed_at')
        batch.drop_column('claimed_by')
