"""Evaluation protocols of the BIOSCAN-5M paper: embeddings, probes, clustering."""
