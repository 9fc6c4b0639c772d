"""Cross-cutting pieces: base model, audit log, errors, auth, PII crypto."""
