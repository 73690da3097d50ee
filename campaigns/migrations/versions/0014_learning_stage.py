"""each ad set's learning stage as Meta last reported it (LEARNING, SUCCESS, FAIL)

NULL when the platform does not report one (not every ad set or account is eligible).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 16:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('adset') as batch:
        batch.add_column(sa.Column('learning_stage', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('adset') as batch:
        batch.drop_column('learning_stage')
