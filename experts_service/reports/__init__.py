"""Statistics for the talent office and the auditor: the dashboard and the annual assessment report."""
