"""E-mail addresses: the one format check (users, the configured sender) and the masked form for logs and pages."""
from __future__ import annotations

import re

# RFC 5321 limits: the whole path, and the part before the @.
EMAIL_MAX_LENGTH = 254
LOCAL_PART_MAX_LENGTH = 64
# ASCII dot-atoms only: what the mail queue delivers without the SMTPUTF8 extension.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+$")
# Shown of the local part in a masked address: "z***@example.cn".
MASK_VISIBLE_CHARACTERS = 1


def is_email_address(value: object) -> bool:
    if not isinstance(value, str) or len(value) > EMAIL_MAX_LENGTH or not EMAIL_PATTERN.match(value):
        return False
    return len(value.rsplit("@", 1)[0]) <= LOCAL_PART_MAX_LENGTH


def mask_email(value: str | None) -> str:
    """The first character of the local part and the domain, for logs and lists."""
    if not value:
        return ""
    local, at, domain = value.rpartition("@")
    if not at:
        return "***"
    return f"{local[:MASK_VISIBLE_CHARACTERS]}***@{domain}"
