"""The embedding layer: every encoder — BarcodeBERT, CLIBD (per tower), any transformers DNA or vision
model, timm image models, k-mer profiles — behind one interface (`Encoder.embed_dna`,
`Encoder.embed_images`), picked by one spec string (`load_encoder`). Evaluation, indexing and the Space
use it; it uses no evaluation code."""

from bioscan_hf.embedding.base import Encoder, EncoderError
from bioscan_hf.embedding.specs import SPEC_HELP, load_encoder

__all__ = ["Encoder", "EncoderError", "SPEC_HELP", "load_encoder"]
