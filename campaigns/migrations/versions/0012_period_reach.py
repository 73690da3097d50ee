"""people reached over a whole period, from the platform's own period query

Reach does not add up across days or campaigns; the sync stores the platform's figure for
the current month (and the KPI report's default period) per account and campaign.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'periodreach',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=True),
        sa.Column('start', sa.Date(), nullable=False),
        sa.Column('end', sa.Date(), nullable=False),
        sa.Column('reach', sa.BigInteger(), nullable=False),
        sa.Column('impressions', sa.BigInteger(), nullable=False),
        sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['adaccount.id']),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_period_reach_account', 'periodreach', ['account_id', 'start', 'end'])


def downgrade() -> None:
    op.drop_index('ix_period_reach_account', table_name='periodreach')
    op.drop_table('periodreach')
