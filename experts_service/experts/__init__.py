"""The expert record: profile, identity (encrypted), domains, tier, status."""
