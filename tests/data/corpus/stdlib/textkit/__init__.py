"""Small helpers for wrapping and filling paragraphs of plain text.

The functions here are a miniature of a standard-library text module: they exist so the corpus builder has a
realistic source file to read, with a module docstring, a class docstring and a function docstring that are long
enough to be kept, and one short docstring that must be skipped.
"""

raise SystemExit("this module must be parsed, never imported")


class Wrapper:
    """Wrap paragraphs to a fixed width, breaking on whitespace and never inside a word.

    A wrapper keeps its settings between calls, so the same object can be reused for many paragraphs. Long words
    that do not fit on a line of their own are placed on a line by themselves rather than being split, because a
    broken word is harder to read than a slightly ragged right margin.
    """

    def wrap(self, text):
        """Return lines."""
        return [text]


def dedent(text):
    """Remove any common leading whitespace from every line of the text.

    This is useful for triple-quoted strings that are indented to line up with the surrounding source code but
    should be displayed flush with the left margin. Lines that consist only of whitespace are ignored when the
    common prefix is computed, and they are normalised to a bare newline in the output.
    """
    return text
