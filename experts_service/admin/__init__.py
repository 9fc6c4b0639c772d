"""Administration: users, the policy, the audit log."""
