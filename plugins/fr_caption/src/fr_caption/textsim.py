"""Caption-prompt similarity without a model: count-aware n-gram overlap.

Why: the cosine of pooled text embeddings is close to a bag of words, blind to which colour goes
with which shape ("a red circle and a blue square" vs "a blue circle and a red square") and to
counts. N-gram overlap keeps word order (attribute binding: the bigram "red circle"), and
expanding counted noun phrases ("two red dogs" -> "red dog red dog") lets a count in the prompt
meet an enumeration in the caption. Plain English rules only, nothing toy-specific.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
"""Words that count the noun phrase they open (digits count as well)."""
MAX_MODIFIERS = 3
"""A counted phrase is the number, up to this many modifiers, then a plural noun."""
MAX_REPEAT = 10
STOPWORDS = frozenset({"a", "an", "the", "of", "to", "is", "are", "there", "in", "on", "with", "and"})
"""Function words dropped after count expansion: they carry no object or attribute."""
_WORD = re.compile(r"[a-z0-9]+")
CONVERSES = {
    "to the left of": "to the right of",
    "to the right of": "to the left of",
    "left of": "right of",
    "right of": "left of",
    "above": "below",
    "below": "above",
    "over": "under",
    "under": "over",
    "in front of": "behind",
    "behind": "in front of",
}
"""Spatial relations and their converses: "A left of B" says the same as "B right of A"."""
_RELATION = re.compile(r"\b(" + "|".join(sorted(CONVERSES, key=len, reverse=True)) + r")\b")


def singular(word: str) -> str:
    """A crude English singular ("circles" -> "circle", "glass" stays): the same on both sides."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _count(word: str) -> int | None:
    if word.isdigit():
        return min(int(word), MAX_REPEAT)
    return NUMBER_WORDS.get(word)


def content_words(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """Lower-case words with counted plural phrases expanded, nouns singular, stopwords out."""
    words = _WORD.findall(text.lower())
    out: list[str] = []
    i = 0
    while i < len(words):
        n = _count(words[i])
        if n is not None and n > 1:
            span = _plural_span(words, i + 1)
            if span is not None:
                phrase = [singular(w) for w in words[i + 1 : span + 1]]
                out.extend(phrase * n)
                i = span + 1
                continue
        out.append(singular(words[i]))
        i += 1
    return [w for w in out if w not in stopwords and w not in NUMBER_WORDS]


def _plural_span(words: Sequence[str], start: int) -> int | None:
    """Index of the plural noun that closes a counted phrase starting at `start`, or None."""
    for j in range(start, min(start + MAX_MODIFIERS + 1, len(words))):
        if words[j] in STOPWORDS or _count(words[j]) is not None:
            return None
        if singular(words[j]) != words[j]:
            return j
    return None


def ngrams(words: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def f_beta(overlap: int, n_caption: int, n_prompt: int, beta: float) -> float:
    if overlap == 0:
        return 0.0
    precision, recall = overlap / n_caption, overlap / n_prompt
    b2 = beta * beta
    return (1 + b2) * precision * recall / (b2 * precision + recall)


def converse(text: str) -> str | None:
    """The text with its first spatial relation stated the other way round, or None.

    "a red circle to the left of a blue square" -> "a blue square to the right of a red circle".
    """
    match = _RELATION.search(text.lower())
    if match is None:
        return None
    before, after = text[: match.start()].strip(), text[match.end() :].strip()
    if not before or not after:
        return None
    return f"{after} {CONVERSES[match.group(1)]} {before}"


def ngram_similarity(caption: str, prompt: str, max_n: int = 2, beta: float = 1.0) -> float:
    """Count-aware n-gram F-beta of caption and prompt, the better of the caption's two readings.

    A caption may state a relation either way round ("B right of A" for "A left of B"): both
    readings are scored and the higher counts.
    """
    score = _ngram_f(caption, prompt, max_n, beta)
    other = converse(caption)
    if other is not None:
        score = max(score, _ngram_f(other, prompt, max_n, beta))
    return score


def _ngram_f(caption: str, prompt: str, max_n: int, beta: float) -> float:
    """Mean over n = 1..max_n of the F-beta of clipped n-gram overlap, in [0, 1].

    An order n that the prompt is too short for is skipped; beta > 1 weighs recall (the caption
    covers the prompt) above precision (the caption says nothing else).
    """
    cap, pro = content_words(caption), content_words(prompt)
    values = []
    for n in range(1, max_n + 1):
        want = ngrams(pro, n)
        if not want:
            break
        got = ngrams(cap, n)
        overlap = sum((want & got).values())
        values.append(f_beta(overlap, max(1, sum(got.values())), sum(want.values()), beta))
    if not values:
        return 1.0 if cap == pro else 0.0
    return sum(values) / len(values)
