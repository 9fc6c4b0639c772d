"""Users, passwords, sessions, API tokens."""
