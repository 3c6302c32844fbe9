"""Errors shared by several parts: each names what is wrong and where, and says what to do."""

from __future__ import annotations


class InputError(ValueError):
    """A record or file that cannot be used; the message names file, line and record."""


class EvaluationError(ValueError):
    """Inputs to a probe or a search are unusable (NaN, empty, mismatched lengths, missing labels)."""
