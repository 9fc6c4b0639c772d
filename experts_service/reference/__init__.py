"""Reference data: organisations (with tree and aliases), domains, tiers."""
