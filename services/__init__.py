"""Dispute oracle, credit scores, the web service and the CLI, built on the core packages."""
