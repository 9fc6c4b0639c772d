"""Integrity records (诚信): events, evidence, appeals and the sanction ladder."""
