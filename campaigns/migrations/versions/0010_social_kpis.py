"""social counts per campaign-day and account-day (reach, video views, engagements, ...)

NULL means the platform did not report the figure; frequency is derived, not stored.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOCIAL = ('reach', 'video_views', 'engagements', 'reactions', 'comments', 'shares', 'follows')


def upgrade() -> None:
    for table in ('dailymetric', 'accountday'):
        with op.batch_alter_table(table) as batch:
            for name in SOCIAL:
                batch.add_column(sa.Column(name, sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for table in ('dailymetric', 'accountday'):
        with op.batch_alter_table(table) as batch:
            for name in SOCIAL:
                batch.drop_column(name)
