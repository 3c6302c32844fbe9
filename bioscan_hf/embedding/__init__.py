"""The embedding layer: every encoder — BarcodeBERT, CLIBD (per tower), any transformers DNA or vision
model, timm image models, k-mer profiles — behind one interface (`Encoder.embed_dna`,
`Encoder.embed_images`), picked by one spec string (`load_encoder`, through the registry of encoder
families, `ENCODER_FAMILIES`); how an encoder embeds is `EncoderSettings`. Evaluation, indexing and the
Space use it; it uses no evaluation code. Names are imported from their modules when first used
(`core.lazy`), so settings and specs cost no model import."""

from bioscan_hf.core.lazy import lazy_exports

__all__ = [
    "ENCODER_FAMILIES",
    "Encoder",
    "EncoderError",
    "EncoderFamily",
    "EncoderSettings",
    "ModelSpec",
    "SPEC_HELP",
    "load_encoder",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ENCODER_FAMILIES": "registry",
        "EncoderFamily": "registry",
        "load_encoder": "registry",
        "Encoder": "base",
        "EncoderError": "base",
        "EncoderSettings": "settings",
    },
)
from bioscan_hf.core.specs import SPEC_HELP, ModelSpec  # noqa: E402  (light: the spec parser alone)
