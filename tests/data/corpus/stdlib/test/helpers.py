"""Helpers of the test suite: a test folder is skipped by the corpus builder, so this long docstring never appears
in the corpus even though it is well over two hundred characters long and would otherwise be kept as a document."""
