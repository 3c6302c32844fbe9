"""The embedding layer: every encoder — BarcodeBERT, CLIBD (per tower), any transformers DNA or vision
model, timm image models, k-mer profiles — behind one interface (`Encoder.embed_dna`,
`Encoder.embed_images`), picked by one spec string (`load_encoder`, through the registry of encoder
families, `ENCODER_FAMILIES`). Evaluation, indexing and the Space use it; it uses no evaluation code."""

from bioscan_hf.core.specs import SPEC_HELP, ModelSpec
from bioscan_hf.embedding.base import Encoder, EncoderError
from bioscan_hf.embedding.registry import ENCODER_FAMILIES, EncoderFamily, load_encoder

__all__ = ["ENCODER_FAMILIES", "Encoder", "EncoderError", "EncoderFamily", "ModelSpec", "SPEC_HELP", "load_encoder"]
