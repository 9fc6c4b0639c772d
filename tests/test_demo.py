"""`flask demo` loads a consistent data set once and prints a login per role."""
import sqlalchemy as sa

from experts_service.accounts.models import User
from experts_service.core import audit
from experts_service.core.auth import Role
from experts_service.core.crypto import decrypt_pii
from experts_service.core.idcard import parse_id_number
from experts_service.experts.models import Expert
from experts_service.extensions import db
from tests.conftest import login


def test_demo_loads_once_and_every_role_can_sign_in(app, runner):
    from experts_service.demo import DEMO_PASSWORD, demo_logins

    first = runner.invoke(args=["demo", "--experts", "60"])
    assert first.exit_code == 0, first.output
    assert "已载入演示数据：专家 60 名" in first.output
    for _label, username in demo_logins():
        assert username in first.output
    assert DEMO_PASSWORD in first.output

    roles = set(db.session.execute(sa.select(User.role)).scalars())
    assert roles == set(Role)
    experts = db.session.execute(sa.select(Expert)).scalars().all()
    assert len(experts) == 60
    for expert in experts:
        facts = parse_id_number(decrypt_pii(expert.id_number_enc))
        assert facts.birth_date == expert.birth_date

    entries = db.session.scalar(sa.select(sa.func.count(audit.AuditEntry.id)))
    second = runner.invoke(args=["demo", "--experts", "60"])
    assert second.exit_code == 0 and "演示数据已存在" in second.output
    assert db.session.scalar(sa.select(sa.func.count(audit.AuditEntry.id))) == entries
    assert audit.verify().ok

    for _label, username in demo_logins():
        assert login(app.test_client(), username, DEMO_PASSWORD).status_code == 302, username
