"""The package version (one place; the façade, the CLI and the reports read it)."""

__version__ = "0.1.0"
