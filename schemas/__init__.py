"""The contracts: table schemas and on-disk formats, with their version numbers."""
