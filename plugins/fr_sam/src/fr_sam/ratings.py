"""Ratings: how likely each label is in the prompt's scene, read from a causal LM's probabilities.

The question is finerewards.rubric's (the paper's rubric: 3 certain, 2 may appear, 1 unlikely).
The rating is the expected answer under the model's next-token probabilities of "1", "2", "3",
renormalised over the three: no sampling and no parsing of free text (the research code sampled
at temperature 0.7, which made the reward random). All (prompt, label) pairs of a batch go
through ONE forward pass, left-padded with explicit position ids so that a row's result does not
depend on its batch companions; ratings are cached by (prompt, label, model).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finerewards.errors import RewardError
from finerewards.rubric import ANSWERS, rating_question

if TYPE_CHECKING:
    import torch

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
"""Vicuna v1.1+ conversation template (FastChat "vicuna_v1.1"): SYSTEM USER: ... ASSISTANT:"""


@dataclass(frozen=True)
class Rating:
    expected: float
    """1 * p1 + 2 * p2 + 3 * p3, the probabilities renormalised over the three answers."""
    probs: tuple[float, float, float]
    prompt_truncated: bool = False
    """The question was too long for the LM's context and asked about the prompt's first words."""


class Rater:
    """A causal LM and its tokenizer, asked the rubric question in one batched forward pass."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        fmt: str,
        answer_prefix: str,
        key: str,
        cache: dict[tuple[str, str, str], Rating] | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.key = key
        self.format = fmt
        if fmt == "auto":
            self.format = "chat" if getattr(tokenizer, "chat_template", None) else "vicuna"
        self.answer_prefix = answer_prefix
        self.cache: dict[tuple[str, str, str], Rating] = {} if cache is None else cache
        self.forward_passes = 0
        self.prefix_ids, self.answer_ids = self._answer_tokens()
        params = inspect.signature(model.forward).parameters
        self._keep_last = "logits_to_keep" in params
        self._positions = "position_ids" in params
        self.max_tokens: int | None = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        """The LM's context: a longer question is asked about the prompt's first words (`_row`)."""

    @classmethod
    def load(
        cls,
        ref: str,
        key: str,
        fmt: str,
        answer_prefix: str,
        dtype: torch.dtype,
        trust: bool = False,
        cache: dict[tuple[str, str, str], Rating] | None = None,
    ) -> Rater:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(ref, trust_remote_code=trust)
        model = AutoModelForCausalLM.from_pretrained(ref, dtype=dtype, trust_remote_code=trust)
        return cls(model, tokenizer, fmt, answer_prefix, key, cache)

    # text -----------------------------------------------------------------------------------

    def text(self, prompt: str, label: str) -> str:
        """The question in the model's format (chat template, Vicuna's, or plain)."""
        question = rating_question(prompt, label)
        if self.format == "plain":
            return question
        if self.format == "chat":
            messages = [{"role": "user", "content": question}]
            return str(
                self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            )
        return f"{VICUNA_SYSTEM} USER: {question} ASSISTANT:"

    def _ids(self, text: str) -> list[int]:
        """Token ids of a question; special tokens added only in front (BOS), and only when the
        text is not a chat template's output (which writes its own)."""
        plain = list(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])
        if self.format == "chat":
            return plain
        full = list(self.tokenizer(text, verbose=False)["input_ids"])
        if plain and full[-len(plain) :] == plain:
            return full
        bos = self.tokenizer.bos_token_id
        return ([bos] if bos is not None else []) + plain

    def _row(self, prompt: str, label: str) -> tuple[list[int], bool]:
        """The token ids the LM reads for one pair, and whether the prompt had to be shortened.

        A question longer than the LM's context (toy:lm reads 96 tokens; Vicuna 4,096) is asked
        about the longest run of the prompt's first words that fits, as CLIP-based rewards cut a
        prompt at 77 tokens: a rating of the scene's beginning, not an error mid-run."""

        def ids(words: str) -> list[int]:
            return self._ids(self.text(words, label)) + self.prefix_ids

        row = ids(prompt)
        if self.max_tokens is None or len(row) <= self.max_tokens:
            return row, False
        words = prompt.split()
        low, high = 0, len(words) - 1  # the most words that fit lie in [low, high]
        while low < high:
            middle = (low + high + 1) // 2
            if len(ids(" ".join(words[:middle]))) <= self.max_tokens:
                low = middle
            else:
                high = middle - 1
        row = ids(" ".join(words[:low]))
        if len(row) > self.max_tokens:
            raise RewardError(
                f"the rating question about label {label!r} alone is longer than the LM's "
                f"context ({len(row)} tokens, at most {self.max_tokens})"
            )
        return row, True

    def _answer_tokens(self) -> tuple[list[int], list[int]]:
        """Tokens between the question and the answers (e.g. Llama's lone "▁" before a digit),
        and the one token of each answer; found by tokenizing question + prefix + answer."""
        probe = self.text("a dog on a sofa", "cat")
        base = list(self.tokenizer(probe, add_special_tokens=False)["input_ids"])
        tails = []
        for answer in ANSWERS:
            full = list(
                self.tokenizer(probe + self.answer_prefix + answer, add_special_tokens=False)["input_ids"]
            )
            if full[: len(base)] != base or len(full) == len(base):
                raise RewardError(f"the LM tokenizer merges the answer {answer!r} into the question")
            tails.append(full[len(base) :])
        prefix = tails[0][:-1]
        lasts = [tail[-1] for tail in tails]
        if any(tail[:-1] != prefix for tail in tails) or len(set(lasts)) != len(ANSWERS):
            raise RewardError(f"the answers {ANSWERS} are not single distinct tokens for this LM: {tails}")
        return prefix, lasts

    # rating ---------------------------------------------------------------------------------

    def rate(self, pairs: Sequence[tuple[str, str]]) -> list[Rating]:
        """Ratings of (prompt, label) pairs; uncached distinct pairs in one forward pass."""
        todo = [p for p in dict.fromkeys(pairs) if (p[0], p[1], self.key) not in self.cache]
        if todo:
            for pair, rating in zip(todo, self._forward(todo)):
                self.cache[(pair[0], pair[1], self.key)] = rating
        return [self.cache[(p, label, self.key)] for p, label in pairs]

    def _forward(self, pairs: Sequence[tuple[str, str]]) -> list[Rating]:
        import torch

        rows, truncated = zip(*(self._row(p, label) for p, label in pairs))
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else (self.tokenizer.eos_token_id or 0)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):  # left padding: every row's last position is its answer
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
        device = next(self.model.parameters()).device
        kwargs: dict[str, Any] = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
        if self._positions:
            kwargs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0).to(device)
        if self._keep_last:
            kwargs["logits_to_keep"] = 1
        with torch.inference_mode():
            logits = self.model(**kwargs).logits[:, -1, :].float().cpu()
        self.forward_passes += 1
        probs = logits[:, self.answer_ids].softmax(dim=-1)
        expected = probs @ torch.tensor([1.0, 2.0, 3.0])
        return [
            Rating(float(e), tuple(float(x) for x in p), cut)  # type: ignore[arg-type]
            for e, p, cut in zip(expected, probs, truncated)
        ]
