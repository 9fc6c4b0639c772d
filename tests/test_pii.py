"""Personal data: encrypted at rest, masked on screen, never in logs."""
import logging
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from experts_service.core.idcard import mask_id_number
from experts_service.extensions import db
from tests.conftest import POSTGRES_URL, api_token, valid_id_number


def _database_text() -> bytes:
    """Every byte the database holds for this test."""
    if POSTGRES_URL:
        chunks = []
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(sa.text(f'SELECT t::text FROM "{table.name}" t')).scalars()
            chunks.extend(row.encode() for row in rows)
        return b"\n".join(chunks)
    path = Path(db.engine.url.database)
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_plain_id_number_and_mobile_stored_nowhere(app, factory, live_server, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    log_file = tmp_path / "app.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    logging.getLogger().addHandler(handler)
    try:
        user = factory.user("talent_office")
        headers = api_token(live_server, user.username)
        id_number = valid_id_number(sequence=321)
        mobile = "13912345678"
        payload = factory.expert_payload(id_number=id_number, mobile=mobile)
        created = requests.post(f"{live_server}/api/v1/experts", json=payload, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        assert id_number not in created.text and mobile not in created.text
        assert created.json()["id_number_masked"] == mask_id_number(id_number)
        assert created.json()["mobile_masked"] == "139****5678"
        expert_id = created.json()["id"]
        # A full view is possible, and is audited, but leaves no plain copy behind.
        revealed = requests.post(f"{live_server}/api/v1/experts/{expert_id}/personal-data", headers=headers, timeout=10)
        assert revealed.json() == {"id_number": id_number, "mobile": mobile}
        # A second attempt with the same ID (a duplicate) must not leak it in logs either.
        duplicate = requests.post(f"{live_server}/api/v1/experts", json=payload, headers=headers, timeout=10)
        assert duplicate.status_code == 422
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()

    db.session.remove()
    stored = _database_text()
    assert stored, "read nothing from the database"
    assert mask_id_number(id_number).encode() in stored  # proves the search looks at real data
    for secret in (id_number, mobile):
        assert secret.encode() not in stored
        assert secret not in caplog.text
        assert secret not in log_file.read_text(encoding="utf-8")


def test_ciphertext_needs_the_configured_key(app, factory):
    from experts_service.core.crypto import PiiDecryptionError, decrypt_pii

    expert = factory.expert(id_number=valid_id_number(sequence=77))
    assert expert.id_number_enc.startswith("gAAAA")  # a Fernet token
    assert decrypt_pii(expert.id_number_enc) == valid_id_number(sequence=77)
    app.config["PII_ENCRYPTION_KEYS"] = "zmG8cTHTl6I-dG4d_yCXcKVn8u5i9Gye3nfCPT3uERk="
    app.extensions.pop("pii_cipher")
    with pytest.raises(PiiDecryptionError):
        decrypt_pii(expert.id_number_enc)
