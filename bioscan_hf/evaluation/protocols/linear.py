"""The linear-probe protocol (SPEC §3): a linear classifier on frozen `train` embeddings, scored on `test`
(or `val`) species (`bioscan_hf.evaluation.probes` for the solvers)."""

from __future__ import annotations

from bioscan_hf.data.prepared import rank_values
from bioscan_hf.evaluation.probes import linear_probe
from bioscan_hf.evaluation.protocols.base import PROBE_SPLITS, Context, Protocol, embedder_of, split_of


def run(context: Context) -> dict[str, float]:
    data = context.data
    train_split, test_split = PROBE_SPLITS[context.settings.split]["linear"]
    train, test = split_of(data, train_split), split_of(data, test_split)
    embed = embedder_of(context.embedder)
    result = linear_probe(
        embed.dna(data, train_split),
        rank_values(train, "species"),
        embed.dna(data, test_split),
        rank_values(test, "species"),
        method=context.settings.probe,
    )
    return {"linear_species_micro": result["micro"], "linear_species_macro": result["macro"]}


PROTOCOL = Protocol(
    "linear",
    "linear probe, species, train → test",
    run,
    table4=lambda m: {None: {"linear probe": m["linear_species_micro"]}} if "linear_species_micro" in m else {},
)
