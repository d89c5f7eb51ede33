"""Word-level vocabularies for the toy models' tokenizers, built offline from the grammar.

No hub tokenizer is reachable, and a 49k-token CLIP vocabulary would outweigh a toy model. The
toy grammar has a few dozen words: each becomes one token. The CLIP tokenizer keeps CLIP's
byte-level BPE format (vocab.json + merges.txt, every byte in the alphabet, so any text still
tokenizes); the captioner's BERT tokenizer is a plain WordPiece vocab.txt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from finerewards.toyworld.world import COLORS, NUMBERS, RELATIONS, SHAPES

if TYPE_CHECKING:
    from transformers import BertTokenizer, CLIPTokenizer

EXTRA_WORDS = ("one", "an", "image", "photo", "picture", "with", "object", "objects", "unknown")
"""Words outside the grammar that a user or a template may write (harmless when unused)."""


def grammar_words() -> list[str]:
    """Every word of the prompt and caption grammars, plus EXTRA_WORDS, in a fixed order."""
    words = ["a", "and", *COLORS, *SHAPES, *(s + "s" for s in SHAPES), *NUMBERS]
    for relation in RELATIONS:
        words += relation.split()
    words += EXTRA_WORDS
    return list(dict.fromkeys(words))


def build_clip_tokenizer(max_length: int = 32) -> CLIPTokenizer:
    """A `CLIPTokenizer` whose BPE merges turn every grammar word into one token."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    specials = ["<|startoftext|>", "<|endoftext|>"]
    words = grammar_words()
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=100_000,
        min_frequency=0,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    bpe.train_from_iterator(words, trainer=trainer)
    data = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = dict(data["vocab"])
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in data["merges"]]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    for char in sorted(alphabet):  # every byte also word-final, as in CLIP's vocabulary
        vocab.setdefault(char + "</w>", len(vocab))
    # transformers' hint says list[str]; its tokenizers backend wants (left, right) pairs
    tokenizer = CLIPTokenizer(vocab=vocab, merges=cast(Any, merges), model_max_length=max_length)
    for word in words:
        ids = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise RuntimeError(f"toy CLIP vocabulary splits {word!r} into {len(ids)} tokens")
    return tokenizer


def build_bert_tokenizer(max_length: int = 32) -> BertTokenizer:
    """A `BertTokenizer` with [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 and one id per word."""
    from transformers import BertTokenizer

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *grammar_words()]
    vocab = {token: i for i, token in enumerate(tokens)}
    return BertTokenizer(vocab=vocab, model_max_length=max_length)
