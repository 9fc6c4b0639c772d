"""In-app inbox for every user and e-mail through the configured SMTP server, sent after commit."""
