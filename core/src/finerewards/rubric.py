"""The scene-likelihood question of the SAM reward, shared by the `fr-sam` plugin and the
training of `toy:lm` (the toy language model must be asked exactly what it was taught).

The rating follows the paper's rubric: 3 the object is certainly in the scene, 2 it may
appear, 1 it is unlikely. The reward reads the model's probabilities of the three answers
after the question; it never samples or parses free text.
"""

from __future__ import annotations

RATING_QUESTION = (
    "Scene: {prompt}\n"
    "Object: {label}\n"
    "How likely is this object to appear in the scene? "
    "Answer 3 if certain, 2 if it may appear, 1 if unlikely.\n"
    "Answer:"
)
"""Plain-text form (used as is by `toy:lm`; wrapped in the chat template for chat models)."""

ANSWERS: tuple[str, str, str] = ("1", "2", "3")
"""The answers whose next-token probabilities give the expected rating 1 * p1 + 2 * p2 + 3 * p3."""


def rating_question(prompt: str, label: str) -> str:
    return RATING_QUESTION.format(prompt=prompt, label=label)
