"""Moved to `bioscan_hf.hub.cards` (this path is removed in bioscan-hf 0.3.0)."""

from bioscan_hf.core.moved import moved

moved(globals(), "bioscan_hf.hub.cards")
