"""Build transformer models of the production architectures on the spot, with no download.

An XLM-R sequence classifier (the sentiment architecture) and a BERT sentence encoder (the
multilingual MiniLM architecture), both using a SentencePiece-style Unigram tokenizer trained
here on multilingual text, saved with `save_pretrained` into a folder that [models] can name.
The benchmark uses the same builders with the real, full-size configurations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R's ids 0..3, mask last
LABELS = ("negative", "neutral", "positive")
EXTRA_TEXT = [
    "Great news! We are proud and happy 😀🎉", "A terrible, sad day. We condemn this attack.",
    "Merci à tous, quelle belle journée !", "¡Gracias! Un día increíble.", "Danke für den Besuch.",
    "شكرا جزيلا على الزيارة", "Спасибо за визит!", "感谢您的访问！", "Obrigado pela visita!",
    "ありがとうございます", "감사합니다", "Grazie mille", "https://example.org #diplomacy @embassy",
]  # fmt: skip


def corpus() -> list[str]:
    """Multilingual training text: the shipped taxonomy's sentences and a few more."""
    from models.taxonomy import load_taxonomy

    texts = list(EXTRA_TEXT)
    for topic in load_taxonomy().topics:  # not the keywords: 27 scripts are too many characters
        texts += topic.prototypes()
    return texts


def train_tokenizer(texts: Iterable[str], vocab_size: int, max_length: int) -> Any:
    """A Unigram (SentencePiece-style) tokenizer with XLM-R's special tokens."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, unk_token="<unk>")
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        mask_token="<mask>", cls_token="<s>", sep_token="</s>", model_max_length=max_length,
    )  # fmt: skip


def save_sentiment(
    folder: Path, tokenizer: Any, *, seed: int = 0, labels: Sequence[str] = LABELS, **config: Any
) -> Path:
    """A randomly initialised XLM-R sequence classifier with the given labels."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    sizes = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
             "max_position_embeddings": tokenizer.model_max_length + 2, "type_vocab_size": 1}  # fmt: skip
    sizes.update(config)
    sizes.setdefault("vocab_size", len(tokenizer))
    cfg = XLMRobertaConfig(
        pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)}, **sizes,
    )  # fmt: skip
    torch.manual_seed(seed)
    XLMRobertaForSequenceClassification(cfg).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_encoder(folder: Path, tokenizer: Any, *, seed: int = 0, **config: Any) -> Path:
    """A randomly initialised BERT encoder (the multilingual MiniLM architecture)."""
    import torch
    from transformers import BertConfig, BertModel

    sizes = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
             "max_position_embeddings": tokenizer.model_max_length}  # fmt: skip
    sizes.update(config)
    sizes.setdefault("vocab_size", len(tokenizer))
    torch.manual_seed(seed + 1)
    BertModel(BertConfig(pad_token_id=1, **sizes)).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_models(folder: str | Path, *, seed: int = 0, labels: Sequence[str] = LABELS) -> dict[str, str]:
    """Tiny sentiment and embedding models in `folder`: the [models] values naming them."""
    folder = Path(folder)
    tokenizer = train_tokenizer(corpus(), vocab_size=1200, max_length=64)
    sentiment = save_sentiment(folder / "sentiment", tokenizer, seed=seed, labels=labels)
    embedding = save_encoder(folder / "embedding", tokenizer, seed=seed)
    return {"sentiment": str(sentiment), "embedding": str(embedding)}
