"""The evaluation protocols, registered: `bioscan-hf evaluate NAME` runs `PROTOCOLS[NAME]` (`all`: every
one), and `bioscan-hf tables` lays out the cells each adds to Table 4. Adding a protocol: its module here
(a `Protocol`: name, summary, run, table cells) and one line in `PROTOCOLS`. (CLIBD retrieval, which
scores a model of another kind on other splits, is `bioscan_hf.evaluation.retrieval`.)"""

from __future__ import annotations

from bioscan_hf.evaluation.protocols import baselines, cluster, knn, linear
from bioscan_hf.evaluation.protocols.base import Context, Protocol

#: name → protocol, in the order `evaluate all` runs them.
PROTOCOLS: dict[str, Protocol] = {
    p.name: p for p in (knn.PROTOCOL, linear.PROTOCOL, cluster.PROTOCOL, baselines.PROTOCOL)
}

__all__ = ["PROTOCOLS", "Context", "Protocol"]
