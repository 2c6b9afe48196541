"""lmforge: raw text to a registered language model (see DESIGN.md)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lmforge")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
