"""argon2id password hashing with the cost from settings."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

# A valid hash of a random password: verifying against it when the user does
# not exist costs the same time, so response time does not reveal usernames.
_DUMMY_PASSWORD = "no-such-user-placeholder"


def _hasher() -> PasswordHasher:
    cached = current_app.extensions.get("password_hasher")
    if cached is None:
        cached = PasswordHasher(
            time_cost=current_app.config["ARGON2_TIME_COST"],
            memory_cost=current_app.config["ARGON2_MEMORY_COST"],
        )
        current_app.extensions["password_hasher"] = cached
    return cached


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    hasher = _hasher()
    if stored_hash is None:
        dummy = current_app.extensions.get("password_dummy_hash")
        if dummy is None:
            dummy = current_app.extensions["password_dummy_hash"] = hasher.hash(_DUMMY_PASSWORD)
        stored_hash, password = dummy, password + "\x00"
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher().check_needs_rehash(stored_hash)


def password_problems(password: str) -> list[str]:
    problems = []
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        problems.append(f"密码至少 {minimum} 位")
    classes = sum(
        [any(c.islower() for c in password), any(c.isupper() for c in password),
         any(c.isdigit() for c in password), any(not c.isalnum() for c in password)]
    )
    if classes < 3:
        problems.append("密码须包含大写字母、小写字母、数字、符号中的至少三类")
    return problems
