"""Base classes for test authors."""

from testing.base_classes.integration import IntegrationTestBase

__all__ = ["IntegrationTestBase"]
