"""Word-level vocabularies for the toy models' tokenizers, built offline from the grammar.

No hub tokenizer is reachable, and a 49k-token CLIP vocabulary would outweigh a toy model. The
toy grammar has a few dozen words: each becomes one token. The CLIP tokenizer keeps CLIP's
byte-level BPE format (vocab.json + merges.txt, every byte in the alphabet, so any text still
tokenizes); the captioner's BERT tokenizer is a plain WordPiece vocab.txt.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def bpe_vocabulary(
    words: Iterable[str], alphabet: Iterable[str]
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A CLIP-format BPE vocabulary and merges in which each of `words` is a single token.

    Plain BPE on the words: the most frequent adjacent pair first, ties broken alphabetically,
    so the result never varies (the `tokenizers` BpeTrainer breaks ties by hash order, and its
    token ids change from run to run). Every `alphabet` symbol, alone and word-final (`</w>`),
    is in the vocabulary too, so any other word still encodes symbol by symbol.
    """
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for symbol in alphabet:
        vocab.setdefault(symbol, len(vocab))
        vocab.setdefault(symbol + "</w>", len(vocab))
    pieces = [[*w[:-1], w[-1] + "</w>"] for w in dict.fromkeys(words)]
    merges: list[tuple[str, str]] = []
    while any(len(w) > 1 for w in pieces):
        counts: dict[tuple[str, str], int] = {}
        for w in pieces:
            for pair in zip(w, w[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        vocab.setdefault(best[0] + best[1], len(vocab))
        for w in pieces:
            i = 0
            while i < len(w) - 1:
                if (w[i], w[i + 1]) == best:
                    w[i : i + 2] = [w[i] + w[i + 1]]
                i += 1
    return vocab, merges


def build_clip_tokenizer(max_length: int = 32) -> CLIPTokenizer:
    """A `CLIPTokenizer` whose BPE merges turn every grammar word into one token; its alphabet
    is every byte of CLIP's byte-level encoding, so any text tokenizes."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    words = grammar_words()
    vocab, merges = bpe_vocabulary(words, sorted(pre_tokenizers.ByteLevel.alphabet()))
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
