"""A local Klaviyo API for tests, benchmarks and demos (see README.md)."""

REVISION = "2026-10-15"

__all__ = ["REVISION"]
