"""tokens scoped to portfolios; alerts name their portfolio

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 14:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('apitokenportfolio',
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('portfolio_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['portfolio_id'], ['portfolio.id'], ),
    sa.ForeignKeyConstraint(['token_id'], ['apitoken.id'], ),
    sa.PrimaryKeyConstraint('token_id', 'portfolio_id')
    )
    op.create_index(op.f('ix_apitokenportfolio_portfolio_id'), 'apitokenportfolio',
                    ['portfolio_id'], unique=False)
    # existing alerts keep no portfolio: only global tokens see them
    with op.batch_alter_table('alert') as batch:
        batch.add_column(sa.Column('portfolio_id', sa.Integer(), nullable=True))
        batch.create_index(batch.f('ix_alert_portfolio_id'), ['portfolio_id'], unique=False)
        batch.create_foreign_key('fk_alert_portfolio_id_portfolio', 'portfolio',
                                 ['portfolio_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('alert') as batch:
        batch.drop_constraint('fk_alert_portfolio_id_portfolio', type_='foreignkey')
        batch.drop_index(batch.f('ix_alert_portfolio_id'))
        batch.drop_column('portfolio_id')
    op.drop_index(op.f('ix_apitokenportfolio_portfolio_id'), table_name='apitokenportfolio')
    op.drop_table('apitokenportfolio')
