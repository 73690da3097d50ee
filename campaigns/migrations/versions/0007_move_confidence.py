"""shift items say how sure each move is

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01 22:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ('prob_gain', 'effect', 'effect_low', 'effect_high')


def upgrade() -> None:
    # existing items keep null: their runs did not compute it
    with op.batch_alter_table('shiftitem') as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('shiftitem') as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
