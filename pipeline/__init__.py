"""The library: every stage as plain, typed Python. No Prefect here (DESIGN.md)."""
