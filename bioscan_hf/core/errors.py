"""Errors shared by several parts: each names what is wrong and where, and says what to do.

`UserError` marks the package's own refusals (bad input, an output in the way, a model folder that cannot be
used…): the command line prints them as one line. Anything else is a bug and keeps its traceback."""

from __future__ import annotations


class UserError(Exception):
    """A refusal in the package's own words: what is wrong, where, and what to do (one line on the CLI)."""


class InputError(UserError, ValueError):
    """A record or file that cannot be used; the message names file, line and record."""


class EvaluationError(UserError, ValueError):
    """Inputs to a probe or a search are unusable (NaN, empty, mismatched lengths, missing labels)."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named (or a step before should have written) is not there; says which step
    writes it."""
