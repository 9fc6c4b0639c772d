"""match pool state: the version counter of the facts the matcher reads

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 13:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    state = op.create_table('match_pool_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_pool_state'))
    )
    # The one row every writer of pool facts increments.
    op.bulk_insert(state, [{'id': 1, 'version': 0}])


def downgrade():
    op.drop_table('match_pool_state')
