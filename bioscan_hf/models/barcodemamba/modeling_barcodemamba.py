"""BarcodeMamba: hyena-dna's language-model backbone with Mamba-2 mixers, on transformers' `Mamba2Mixer`.

The published model (github.com/bioscan-ml/BarcodeMamba, utils/barcode_mamba.py) is not transformers'
`Mamba2Model` (RMSNorm blocks without an MLP): each block is pre-norm with LayerNorms, a Mamba-2 mixer and
a tanh-GELU MLP, and carries the residual stream separately (`hidden, residual = block(hidden, residual)`).
The mixer is `mamba_ssm.Mamba2`, whose parameters (`in_proj`, `conv1d`, `dt_bias`, `A_log`, `D`,
`norm`, `out_proj`) and computation are those of transformers' `Mamba2Mixer`, which runs on CPU without
the CUDA kernels (and uses them where they are installed). Module names follow the original's, so a
Lightning checkpoint maps by removing its `model.` prefix.

The embedding the authors' probing scripts use (knn_probing.py, linear_probing.py): the last hidden
states (after `ln_f`) averaged over every position of the 660-nt, N-padded input — `get_dna_embeddings`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling, CausalLMOutput, SequenceClassifierOutput
from transformers.models.mamba2.modeling_mamba2 import Mamba2Mixer

from ..barcodebert.modeling_barcodebert import masked_mean
from .configuration_barcodemamba import BarcodeMambaConfig


class BarcodeMambaMLP(nn.Module):
    """fc1 → GELU (tanh approximation) → fc2, d_model → d_inner → d_model."""

    def __init__(self, config: BarcodeMambaConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, config.d_inner)
        self.fc2 = nn.Linear(config.d_inner, config.d_model)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(hidden), approximate="tanh"))


class BarcodeMambaBlock(nn.Module):
    """Dropout → add → LayerNorm → Mamba-2 mixer → dropout → add → LayerNorm → MLP (flash-attn's prenorm
    `Block`): returns the MLP's output and the residual stream, which the next block adds."""

    def __init__(self, config: BarcodeMambaConfig, layer_idx: int) -> None:
        super().__init__()
        self.residual_in_fp32 = config.residual_in_fp32
        self.mixer = Mamba2Mixer(config.mixer_config(), layer_idx=layer_idx)
        self.dropout1 = nn.Dropout(config.embed_dropout if layer_idx == 0 else config.resid_dropout)
        self.norm1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout2 = nn.Dropout(config.resid_dropout)
        self.norm2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.mlp = BarcodeMambaMLP(config)

    def _add(self, hidden: torch.Tensor, residual: torch.Tensor | None, dropout: nn.Dropout, norm: nn.LayerNorm):
        residual = dropout(hidden) if residual is None else dropout(hidden) + residual
        normed = norm(residual.to(dtype=norm.weight.dtype))
        return normed, residual.float() if self.residual_in_fp32 else residual

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, residual = self._add(hidden, residual, self.dropout1, self.norm1)
        hidden = self.mixer(hidden)
        hidden, residual = self._add(hidden, residual, self.dropout2, self.norm2)
        return self.mlp(hidden), residual


class BarcodeMambaPreTrainedModel(PreTrainedModel):
    """Weights initialisation (the original's: normal(0.02) for linear and embedding weights, zero biases;
    the mixers' dt, A and D as `Mamba2Mixer` sets them) and the embedding of barcodes."""

    config_class = BarcodeMambaConfig
    config: BarcodeMambaConfig
    base_model_prefix = "backbone"
    _no_split_modules = ["BarcodeMambaBlock"]
    # the pre-training head goes unused when a converted run loads as the encoder: not worth a load report
    _keys_to_ignore_on_load_unexpected = [r"^head\."]

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, Mamba2Mixer):
            module.init_mamba2_weights()
            nn.init.ones_(module.norm.weight)

    def get_dna_embeddings(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Barcode embeddings [B, d_model]: the last hidden states averaged over the input's positions, the
        N padding included, as the authors' probing did (the tokenizer's mask is all ones)."""
        return self.base_model(input_ids=input_ids, attention_mask=attention_mask).pooler_output


class BarcodeMambaModel(BarcodeMambaPreTrainedModel):
    """The backbone: embeddings → blocks → dropout, add, `ln_f`; returns the last hidden states and their
    mean (`pooler_output`, the barcode embedding)."""

    def __init__(self, config: BarcodeMambaConfig) -> None:
        super().__init__(config)
        # token embeddings only (the published model has none for positions), named as the original's
        self.embeddings = nn.ModuleDict({"word_embeddings": nn.Embedding(config.vocab_size, config.d_model)})
        self.layers = nn.ModuleList(BarcodeMambaBlock(config, i) for i in range(config.n_layer))
        self.drop_f = nn.Dropout(config.resid_dropout)
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings["word_embeddings"]

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings["word_embeddings"] = value

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        return_dict: bool = True,
        **kwargs,
    ) -> BaseModelOutputWithPooling | tuple:
        """`attention_mask` only selects the positions `pooler_output` averages: the model itself reads
        every position, as the original did (it has no notion of padding)."""
        hidden, residual = self.embeddings["word_embeddings"](input_ids), None
        states = [hidden] if output_hidden_states else None
        for block in self.layers:
            hidden, residual = block(hidden, residual)
            if states is not None:
                states.append(hidden)
        residual = self.drop_f(hidden) + residual if residual is not None else self.drop_f(hidden)
        hidden = self.ln_f(residual.to(dtype=self.ln_f.weight.dtype))
        if states is not None:
            states[-1] = hidden
        output = BaseModelOutputWithPooling(
            last_hidden_state=hidden,
            pooler_output=masked_mean(hidden, attention_mask),
            hidden_states=tuple(states) if states is not None else None,
        )
        return output if return_dict else output.to_tuple()


class BarcodeMambaForCausalLM(BarcodeMambaPreTrainedModel):
    """The backbone with the pre-training head (next-token prediction, a bias-free linear layer, not tied
    to the embeddings as in the published runs); `labels` are the inputs, shifted inside."""

    def __init__(self, config: BarcodeMambaConfig) -> None:
        super().__init__(config)
        self.backbone = BarcodeMambaModel(config)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> CausalLMOutput:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = self.head(hidden)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        return CausalLMOutput(loss=loss, logits=logits)


class BarcodeMambaForSequenceClassification(BarcodeMambaPreTrainedModel):
    """The backbone with the fine-tuning head (species classification in the paper); `labels` give the
    cross-entropy loss."""

    def __init__(self, config: BarcodeMambaConfig) -> None:
        super().__init__(config)
        self.backbone = BarcodeMambaModel(config)
        # hyena-dna's SequenceDecoder (mode "pool"): one linear layer over the mean of the positions
        self.head = nn.ModuleDict({"output_transform": nn.Linear(config.d_model, config.num_labels)})
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        pooled = self.backbone(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        logits = self.head["output_transform"](pooled)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)
