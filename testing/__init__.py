"""Test automation for teams that ship to Kubernetes: clusters, waits, fixtures and gates."""
