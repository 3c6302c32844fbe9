"""BarcodeBERT: a BERT encoder over DNA k-mers, built from transformers' BERT modules (SDPA attention).

The embedding of a barcode is the mean of the last hidden layer over its real tokens (attention mask
1); it is the `pooler_output` of `BarcodeBertModel` and what `get_dna_embeddings` returns. Module names
follow `BertModel` ("bert.embeddings…", "cls.predictions…"), so BERT checkpoints map one to one.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import BaseModelOutputWithPooling, MaskedLMOutput, SequenceClassifierOutput
from transformers.models.bert.modeling_bert import (
    BertEmbeddings,
    BertEncoder,
    BertOnlyMLMHead,
    BertPreTrainedModel,
)
from transformers.utils.generic import can_return_tuple
from transformers.utils.output_capturing import capture_outputs

from .configuration_barcodebert import BarcodeBertConfig


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over the sequence axis of `hidden` [B, T, H], counting only positions where `mask` [B, T] is 1."""
    if mask is None:
        return hidden.mean(dim=1)
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class BarcodeBertPreTrainedModel(BertPreTrainedModel):
    """Weights initialisation and loading shared by the BarcodeBERT models."""

    config_class = BarcodeBertConfig
    config: BarcodeBertConfig
    base_model_prefix = "bert"
    _no_split_modules = ["BertEmbeddings", "BertLayer"]
    # The MLM head of a pre-training checkpoint is expected to go unused when it loads as the encoder or a
    # classifier (the usual fine-tuning path): not worth a load report.
    _keys_to_ignore_on_load_unexpected = [r"^cls\."]

    def get_dna_embeddings(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Barcode embeddings [B, hidden]: the mean of the encoder's last hidden layer over real tokens
        (differentiable: wrap the call in `torch.no_grad()` for inference)."""
        return self.base_model(input_ids=input_ids, attention_mask=attention_mask).pooler_output


class BarcodeBertModel(BarcodeBertPreTrainedModel):
    """The encoder; returns the last hidden states and the masked-mean barcode embedding."""

    def __init__(self, config: BarcodeBertConfig) -> None:
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

    @capture_outputs
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        if attention_mask is None and input_ids is not None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        if self.config.legacy_attend_to_padding:
            attention_mask = None  # the original code's behaviour: padding attended to and averaged
        embeddings = self.embeddings(
            input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds
        )
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=embeddings, attention_mask=attention_mask)
        hidden = self.encoder(embeddings, attention_mask=mask, position_ids=position_ids, **kwargs).last_hidden_state
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=masked_mean(hidden, attention_mask))


class BarcodeBertForMaskedLM(BarcodeBertPreTrainedModel):
    """BarcodeBERT with the masked-language-modelling head used for pre-training."""

    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def __init__(self, config: BarcodeBertConfig) -> None:
        super().__init__(config)
        self.bert = BarcodeBertModel(config)
        self.cls = BertOnlyMLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> MaskedLMOutput:
        outputs = self.bert(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        hidden = outputs.last_hidden_state
        loss = None
        if labels is not None and self.config.sparse_prediction:
            scored = labels.reshape(-1) != -100  # only masked positions reach the vocabulary-wide head
            logits = self.cls(hidden.reshape(-1, hidden.size(-1))[scored])
            loss = nn.functional.cross_entropy(logits, labels.reshape(-1)[scored])
        else:
            logits = self.cls(hidden)
            if labels is not None:
                loss = nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1))
        return MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class BarcodeBertForSequenceClassification(BarcodeBertPreTrainedModel):
    """A linear classifier on the barcode embedding (species classification in the paper)."""

    def __init__(self, config: BarcodeBertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BarcodeBertModel(config)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        outputs = self.bert(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
