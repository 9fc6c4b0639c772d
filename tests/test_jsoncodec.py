"""orjson behind the JSON columns and the API's responses: the same JSON as the standard encoders gave."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone

import sqlalchemy as sa

from experts_service.core.transaction import commit
from experts_service.extensions import db


@dataclass
class _Point:
    x: int
    label: str


def test_responses_read_as_flask_s_own_encoder_wrote_them(app):
    value = {"b": [1, 2.5, None, True], "a": {"中文": "专家"}, "ids": {3: "id key"}, "day": date(2026, 12, 4),
             "at": datetime(2026, 12, 4, 8, 30, tzinfo=timezone.utc), "point": _Point(1, "甲")}
    standard = json.dumps(value, default=app.json.default, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert app.json.dumps(value) == standard
    assert app.json.dumps(value, separators=(",", ":")) == standard
    # Anything else a caller asks of json.dumps still works as before.
    assert app.json.dumps({"a": 1}, indent=2) == '{\n  "a": 1\n}'


def test_json_columns_round_trip_through_the_database(app):
    engine = db.engine
    stored = {"experts": {"x": [3, 1, 2]}, "all_reasons": {5: ["inactive"]}, "score": 0.1 + 0.2, "中文": "是"}
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE codec_probe (id INTEGER PRIMARY KEY, body JSON)"))
        table = sa.Table("codec_probe", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                         sa.Column("body", sa.JSON))
        connection.execute(table.insert().values(id=1, body=stored))
        read = connection.execute(sa.select(table.c.body)).scalar_one()
        connection.execute(sa.text("DROP TABLE codec_probe"))
    assert read == json.loads(json.dumps(stored))


def test_keep_loaded_commit_answers_from_what_was_written(app, factory):
    from experts_service.experts.models import Expert

    expert = factory.expert()
    expert.bio = "长期从事城市规划研究"
    commit(keep_loaded=True)
    assert not sa.inspect(expert).expired_attributes
    with db.engine.connect() as connection:
        assert connection.execute(sa.select(Expert.bio).where(Expert.id == expert.id)).scalar_one() == expert.bio
    expert.bio = "另一段简介"
    commit()
    assert "bio" in sa.inspect(expert).expired_attributes
    assert db.session().expire_on_commit is True
