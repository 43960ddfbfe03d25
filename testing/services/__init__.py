"""Backing services for integration tests: endpoints, protocol health checks, local servers."""
