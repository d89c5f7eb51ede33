"""Train `toy:lm`: a tiny transformers `LlamaForCausalLM` that rates scene likelihood.

The SAM reward asks a language model `rubric.rating_question(prompt, label)` for each part of an
image and reads the probabilities of the answers "1", "2", "3" after "Answer:". This model
learns those answers from the toy world's rule (`rating`), together with plain toy-world text
(prompts and canonical captions), on the prompts of `toy:train` only; the `color_attr` and
`position` prompts of `toy:test` are never seen and measure generalisation.

Tokenizer: word level (`tokenizers` WordLevel + Whitespace pre-tokenizer), vocabulary = the
question template plus every word of the toy grammar; a BOS token starts every text, padding is
on the left with `<pad>` so that `logits[:, -1]` of a padded batch is every row's next token.
The answers are the single tokens "1", "2", "3" (" 3" and "3" encode the same id).

Rebuild with `fr toyworld train-models --only lm` (or `python -m finerewards.toyworld.train_lm`).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finerewards.rubric import ANSWERS, RATING_QUESTION, rating_question
from finerewards.toyworld.prompts import all_prompts, load_prompt_rows, parse
from finerewards.toyworld.trainkit import lr_factor, write_model_card
from finerewards.toyworld.world import CATEGORIES, COLORS, SHAPES

MODEL_DIR = Path(__file__).resolve().parent / "models" / "lm"
SEED = 7
BACKGROUND = "background"
LABELS: tuple[str, ...] = tuple(f"{c} {s}" for c in COLORS for s in SHAPES) + SHAPES + (BACKGROUND,)
"""Labels the model is taught: every "{colour} {shape}", the bare shapes, and "background"."""
SPECIAL = {"pad": "<pad>", "bos": "<s>", "eos": "</s>", "unk": "<unk>"}


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 1500
    batch: int = 64
    text_share: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 100
    hidden: int = 96
    layers: int = 3
    heads: int = 4
    init_std: float = 0.1
    """Weight init scale: with transformers' default (0.02) the answer position barely sees the
    label and prompt, and training sits on the answer prior for hundreds of steps."""
    seed: int = SEED


def rating(prompt: str, label: str) -> int:
    """The ground-truth answer: 3 when the label is an object the prompt asks for (shape equal,
    colour equal or left free by the prompt; a bare shape when that shape is asked for; the
    background, always present); 2 when the shape is asked for but in another colour;
    1 otherwise."""
    if label == BACKGROUND:
        return 3
    words = label.split()
    shape, color = words[-1], (words[0] if len(words) == 2 else None)
    specs = parse(prompt).objects
    if any(spec.shape == shape and (color is None or spec.matches(shape, color)) for spec in specs):
        return 3
    if any(spec.shape == shape for spec in specs):
        return 2
    return 1


# --- data ------------------------------------------------------------------------------------


def train_prompts() -> list[str]:
    """The prompts of `toy:train`, with its repeats: every category has >= 400 lines, so the
    few short prompts are seen as often as the many two-object ones (held-out test prompts
    never appear)."""
    return [prompt for prompt, _ in load_prompt_rows("train")]


def held_out_prompts() -> list[str]:
    """`toy:test` prompts that `toy:train` lacks: its color_attr and position prompts."""
    seen = set(train_prompts())
    return [prompt for prompt, _ in load_prompt_rows("test") if prompt not in seen]


def qa_text(prompt: str, label: str) -> str:
    return f"{rating_question(prompt, label)} {rating(prompt, label)}"


def sample_qa(prompt: str, rng: random.Random, confusable_share: float = 0.5) -> str:
    """A question about `prompt`, its answer class drawn uniformly among those it can have.

    With `confusable_share` the label is one whose colour the prompt names for another shape
    ("a red triangle and a yellow circle" / "red circle" -> 2): binding colours to shapes is
    the hard part of the rule, and such labels are otherwise rare.
    """
    by_answer: dict[int, list[str]] = {}
    for label in LABELS:
        by_answer.setdefault(rating(prompt, label), []).append(label)
    answer = rng.choice(sorted(by_answer))
    labels = by_answer[answer]
    named = set(prompt.split())
    confusable = [label for label in labels if label.split()[0] in named and " " in label]
    if confusable and rng.random() < confusable_share:
        labels = confusable
    return qa_text(prompt, rng.choice(labels))


def sample_text(prompts: Sequence[str], rng: random.Random) -> str:
    """Plain toy-world text: a prompt, or the canonical caption of one of its renders."""
    from finerewards.toyworld.captions import caption
    from finerewards.toyworld.render import layout

    prompt = rng.choice(prompts)
    if rng.random() < 0.5:
        return prompt
    return caption(layout(prompt, rng.randrange(10**6)))


def sample_example(prompts: Sequence[str], text_share: float, rng: random.Random) -> tuple[str, bool]:
    """One training text and whether it is a rating question (else plain toy-world text)."""
    if rng.random() < text_share:
        return sample_text(prompts, rng), False
    return sample_qa(rng.choice(prompts), rng), True


def batch_loss(model: Any, tokenizer: Any, examples: Sequence[tuple[str, bool]]) -> Any:
    """Mean next-token loss of the plain texts plus mean loss of the questions' answer tokens.

    A question is supervised on its answer only: the template is fixed and its prompt words
    are already taught by the plain texts, so the gradient goes to the rating itself.
    """
    import torch
    import torch.nn.functional as F

    texts = [f"{text} {tokenizer.eos_token}" for text, _ in examples]
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    logits = model(**enc).logits[:, :-1]
    labels = enc.input_ids[:, 1:].masked_fill(enc.attention_mask[:, 1:] == 0, -100)
    is_qa = torch.tensor([qa for _, qa in examples])
    text_labels = labels.masked_fill(is_qa[:, None], -100)
    answer_labels = torch.full_like(labels, -100)
    answer_labels[is_qa, -2] = labels[is_qa, -2]  # left padding: "... Answer : 3 </s>"
    loss = logits.new_zeros(())
    for target in (text_labels, answer_labels):
        if (target != -100).any():
            loss = loss + F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=-100)
    return loss


def probe_accuracy(model: Any, tokenizer: Any, prompts: Sequence[str]) -> float:
    """Share of (prompt, label) pairs whose most likely answer follows the rule."""
    pairs = [(p, label) for p in prompts for label in LABELS]
    probs = answer_probs(model, tokenizer, pairs)
    truth = np.array([rating(p, label) for p, label in pairs])
    return float((probs.argmax(1) + 1 == truth).mean())


def pre_tokenizer() -> Any:
    """Words and punctuation, with each "{colour} {shape}" (or its plural) kept as ONE token.

    Binding colours to shapes is then the tokenizer's job: "a red triangle and a yellow circle"
    reads [a, red triangle, and, a, yellow circle], and the label "red circle" is one token
    that appears in the prompt or not. A tiny model trained on a few minutes of CPU did not
    learn binding from separate colour and shape words (95% of pairs right, the misses being
    exactly the cross-bound labels, on training prompts as well as held-out ones).
    """
    from tokenizers import Regex, pre_tokenizers

    pairs = f"(?:{'|'.join(COLORS)}) (?:{'|'.join(SHAPES)})s?"
    return pre_tokenizers.Split(Regex(rf"{pairs}|\w+|[^\w\s]+"), behavior="removed", invert=True)


def vocabulary() -> list[str]:
    """Special tokens, then every token of the question template and of the toy grammar."""
    texts = [RATING_QUESTION.format(prompt="", label=""), " ".join(ANSWERS), " ".join(LABELS)]
    texts += [p for category in CATEGORIES for p in all_prompts(category)]
    texts += [f"{c} {s}s" for c in COLORS for s in SHAPES]
    texts += [" ".join(COLORS), " ".join(f"{s}s" for s in SHAPES)]
    words: dict[str, None] = {}
    split = pre_tokenizer().pre_tokenize_str
    for text in texts:
        for word, _ in split(text):
            words.setdefault(word, None)
    return list(SPECIAL.values()) + sorted(words)


def build_tokenizer(max_length: int = 96) -> Any:
    """The word-level tokenizer as a transformers fast tokenizer (left padding, BOS prefix).

    Runs of whitespace are normalised to one space first, so "red  circle" is still one token.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=SPECIAL["unk"]))
    tok.normalizer = normalizers.Replace(Regex(r"\s+"), " ")
    tok.pre_tokenizer = pre_tokenizer()
    tok.decoder = decoders.WordPiece()
    bos = SPECIAL["bos"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, vocab[bos])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=SPECIAL["eos"],
        unk_token=SPECIAL["unk"],
        pad_token=SPECIAL["pad"],
        padding_side="left",
        model_max_length=max_length,
    )


def build_model(tokenizer: Any, cfg: TrainSettings) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden,
        intermediate_size=cfg.hidden * 3,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        max_position_embeddings=tokenizer.model_max_length,
        tie_word_embeddings=True,
        initializer_range=cfg.init_std,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config)


# --- training --------------------------------------------------------------------------------


def train(
    out_dir: str | Path = MODEL_DIR, settings: TrainSettings | None = None, log_every: int = 200
) -> Path:
    """Train from scratch with a fixed seed and save model + tokenizer into `out_dir`."""
    import torch

    cfg = settings or TrainSettings()
    out_dir = Path(out_dir)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, cfg).train()
    prompts = train_prompts()
    probe = sorted(set(prompts))[::40]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg.warmup, cfg.steps))
    start, cpu_start = time.time(), time.process_time()
    for step in range(1, cfg.steps + 1):
        examples = [sample_example(prompts, cfg.text_share, rng) for _ in range(cfg.batch)]
        loss = batch_loss(model, tokenizer, examples)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == 1:
            accuracy = probe_accuracy(model.eval(), tokenizer, probe)
            model.train()
            elapsed = time.time() - start
            print(f"step {step} loss {loss.item():.4f} probe {accuracy:.3f} {elapsed:.0f}s", flush=True)
    seconds, cpu_seconds = time.time() - start, time.process_time() - cpu_start
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    write_model_card(out_dir, _card(), "finerewards.toyworld.train_lm:train", cfg, seconds, cpu_seconds)
    return out_dir


def _card() -> dict[str, Any]:
    """What `fr_model.json` says of the model besides its training record."""
    return {
        "library": "transformers",
        "class": "LlamaForCausalLM",
        "description": (
            "Tiny Llama causal LM with a word-level tokenizer, trained on toy-world prompts, "
            "captions and rubric.rating_question answers (the scene-likelihood rating of the SAM "
            "reward). Answers are the single tokens '1', '2', '3'; padding is left."
        ),
        "answers": list(ANSWERS),
        "labels": list(LABELS),
        "padding_side": "left",
    }


# --- scoring and evaluation ------------------------------------------------------------------


def load(folder: str | Path = MODEL_DIR) -> tuple[Any, Any]:
    """(model, tokenizer) through transformers' Auto classes (offline, local folder)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    return model, tokenizer


def answer_probs(
    model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], batch: int = 256
) -> np.ndarray:
    """(N, 3) probabilities of the answers "1", "2", "3" (renormalised over the three) after
    each (prompt, label) question: one left-padded forward pass per batch, last position."""
    import torch

    ids = tokenizer.convert_tokens_to_ids(list(ANSWERS))
    out = []
    with torch.no_grad():
        for i in range(0, len(pairs), batch):
            questions = [rating_question(p, label) for p, label in pairs[i : i + batch]]
            enc = tokenizer(questions, padding=True, return_tensors="pt")
            logits = model(**enc).logits[:, -1, ids]
            out.append(logits.float().softmax(-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 3))


def evaluate(folder: str | Path = MODEL_DIR, prompts: Sequence[str] | None = None) -> dict[str, Any]:
    """Rating figures on (prompt, label) pairs, every label for each prompt (default: the
    held-out prompts). A pair passes when the expected rating is within 0.5 of the rule's
    answer (>= 2.5 for asked-for labels, <= 1.5 for absent ones); argmax is the top answer."""
    model, tokenizer = load(folder)
    chosen = list(prompts) if prompts is not None else held_out_prompts()
    pairs = [(p, label) for p in chosen for label in LABELS]
    probs = answer_probs(model, tokenizer, pairs)
    expected = probs @ np.array([1.0, 2.0, 3.0])
    truth = np.array([rating(p, label) for p, label in pairs])
    ok = np.abs(expected - truth) <= 0.5
    figures: dict[str, Any] = {
        "prompts": len(chosen),
        "pairs": len(pairs),
        "expected_ok": float(ok.mean()),
        "argmax_ok": float((probs.argmax(1) + 1 == truth).mean()),
    }
    for answer in (1, 2, 3):
        sel = truth == answer
        figures[f"expected_ok_rule{answer}"] = float(ok[sel].mean()) if sel.any() else None
    figures["min_expected_rule3"] = float(expected[truth == 3].min())
    figures["max_expected_rule1"] = float(expected[truth == 1].max())
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train toy:lm from scratch (seeded).")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--steps", type=int, default=TrainSettings.steps)
    parser.add_argument("--evaluate", action="store_true", help="only measure the model in --out")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 is faster on busy cores)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.evaluate:
        from finerewards.toyworld.prompts import load_prompt_set

        print(json.dumps({"held_out": evaluate(args.out)}))
        print(json.dumps({"toy_test_all": evaluate(args.out, sorted(set(load_prompt_set("test"))))}))
        return
    train(args.out, TrainSettings(steps=args.steps))


if __name__ == "__main__":
    main()
