"""A small rule-based noun-phrase chunker for prompts (no tagger model, no download).

The SAM reward labels each image part against the nouns and noun phrases of its prompt (plus a
general vocabulary), so that the language model is asked about the objects the prompt names in
the prompt's own words. A phrase is a maximal run of content words between function words
(determiners, numbers, prepositions, conjunctions, pronouns, common verbs); its last word is the
head noun, singularised, and the determiner or number before it gives the count the prompt asks
for ("a" -> 1, "three" -> 3, none -> unknown). Pure Python, cheap to import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

NUMBER_WORDS: dict[str, int] = {
    "a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "pair": 2,
}  # fmt: skip
"""Words that state how many objects the following phrase names ("a pair of" counts 2)."""
PLURAL_DETERMINERS = frozenset({"some", "many", "several", "few", "multiple", "various", "lots", "both"})
DETERMINERS = frozenset(
    {"the", "this", "that", "these", "those", "any", "each", "every", "its", "his", "her", "their",
     "my", "our", "your", "no", "another", "other", "such", "all", "of"}
)  # fmt: skip
PREPOSITIONS = frozenset(
    {"in", "on", "at", "to", "with", "without", "by", "from", "into", "onto", "over", "under",
     "above", "below", "behind", "beside", "besides", "between", "near", "next", "inside",
     "outside", "across", "along", "around", "through", "toward", "towards", "against", "among",
     "for", "like", "upon", "underneath", "beneath", "atop", "within", "off", "up", "down", "out",
     "left", "right", "top", "bottom", "front", "middle", "center", "centre", "side", "far",
     "close", "while", "during", "after", "before", "than", "as", "via", "per", "about"}
)  # fmt: skip
"""Prepositions and the spatial words of relations ("to the left of" names no object)."""
CONJUNCTIONS = frozenset({"and", "or", "but", "nor", "so", "yet", "then", "where", "which", "who", "whose"})
PRONOUNS = frozenset(
    {"it", "they", "he", "she", "we", "you", "i", "them", "him", "us", "there", "here", "itself",
     "themselves", "one's", "what"}
)  # fmt: skip
VERBS = frozenset(
    {"is", "are", "was", "were", "be", "being", "been", "am", "has", "have", "had", "do", "does",
     "did", "can", "could", "will", "would", "shall", "should", "may", "might", "must", "sits",
     "sit", "stands", "stand", "holds", "hold", "wears", "wear", "eats", "eat", "runs", "run",
     "lies", "lie", "lays", "flies", "fly", "rides", "ride", "plays", "play", "looks", "look",
     "jumps", "jump", "walks", "walk", "swims", "swim", "made", "shows", "show", "appears",
     "contains", "contain", "rests", "rest", "hangs", "hang", "floats", "float", "grows", "grow",
     "stays", "waits", "drinks", "reads", "watches", "carries", "carry", "chases", "covers",
     "leans", "faces", "very", "not", "too", "also", "just", "only", "each", "other"}
)  # fmt: skip
META_NOUNS = frozenset(
    {"photo", "photograph", "picture", "image", "illustration", "drawing", "rendering", "render",
     "painting", "view", "shot", "close-up", "closeup", "scene", "portrait", "sketch", "artwork"}
)  # fmt: skip
"""Nouns that describe the picture, not an object in it, when followed by "of"."""
ING_NOUNS = frozenset(
    {"building", "painting", "ceiling", "clothing", "ring", "king", "wing", "string", "thing",
     "spring", "swing", "pudding", "wedding", "icing", "railing", "awning", "evening", "morning",
     "ping", "sibling", "stocking", "dumpling", "earring", "seedling", "frosting", "sling",
     "dressing", "sing", "lightning", "bedding", "duckling", "sapling", "topping", "crossing",
     "parking", "landing", "fencing", "housing", "lighting"}
)  # fmt: skip
"""-ing words that are nouns ("a red building"), not participles ("a cat sitting on")."""
IRREGULAR_PLURALS = {
    "people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse",
    "feet": "foot", "teeth": "tooth", "geese": "goose", "knives": "knife", "leaves": "leaf",
    "wolves": "wolf", "shelves": "shelf", "loaves": "loaf", "halves": "half", "lives": "life",
    "wives": "wife", "calves": "calf", "scarves": "scarf", "oxen": "ox", "dice": "die",
    "cacti": "cactus", "fungi": "fungus", "shoes": "shoe", "toes": "toe", "canoes": "canoe",
    "horses": "horse", "houses": "house", "vases": "vase", "glasses": "glasses", "pants": "pants",
    "jeans": "jeans", "scissors": "scissors", "skis": "ski", "sheep": "sheep", "fish": "fish",
    "deer": "deer", "series": "series", "species": "species", "buses": "bus", "boxes": "box",
}  # fmt: skip
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_FUNCTION_WORDS = DETERMINERS | PREPOSITIONS | CONJUNCTIONS | PRONOUNS | VERBS | PLURAL_DETERMINERS


@dataclass(frozen=True)
class NounPhrase:
    """One object the prompt names: `text` ("red circle"), its singular head noun ("circle"),
    the words before the head (`modifiers`), and `count`, the number asked for (None: unknown)."""

    text: str
    head: str
    modifiers: tuple[str, ...]
    count: int | None

    def matches(self, label: str) -> bool:
        """Whether a vocabulary label names this phrase's object: same head noun, and every
        modifier of the phrase present in the label ("red circle" matches "circle")."""
        words = label.lower().split()
        if not words or singular(words[-1]) != self.head:
            return False
        return set(self.modifiers) <= set(words[:-1])


def singular(word: str) -> str:
    """A plural noun's singular by common English rules (good enough for object names)."""
    if word in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[word]
    if len(word) <= 3 or word.endswith(("ss", "us", "is", "ous")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "zes", "sses")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def _is_participle(word: str, previous: str | None) -> bool:
    """-ing/-ed words right after a content word read as verbs ("a cat sitting", "a bowl filled")."""
    if previous is None or previous in _FUNCTION_WORDS or previous in NUMBER_WORDS:
        return False
    if word in ING_NOUNS:
        return False
    return (word.endswith("ing") and len(word) > 4) or (word.endswith("ed") and len(word) > 4)


def _count(word: str | None) -> int | None:
    if word is None:
        return None
    if word in NUMBER_WORDS:
        return NUMBER_WORDS[word]
    if word.isdigit():
        return int(word)
    return None


@lru_cache(maxsize=4096)
def noun_phrases(prompt: str) -> tuple[NounPhrase, ...]:
    """The noun phrases of a prompt, in order, without duplicates ("a cat and two dogs on a
    red sofa" -> cat (1), dog (2), red sofa (1)). Number words are dropped, heads singularised."""
    runs: list[tuple[list[str], int | None]] = []
    current: list[str] = []
    pending: int | None = None  # the count stated by the words before the current run
    last: str | None = None
    for word in _WORD.findall(prompt.lower()):
        count = _count(word)
        if count is not None or word in _FUNCTION_WORDS or word.endswith("ly") or _is_participle(word, last):
            if current:
                runs.append((current, pending))
                current, pending = [], None
            if word == "of" and runs and runs[-1][0][-1] in META_NOUNS:
                runs.pop()  # "a photo of ..." names the picture, not an object in it
            if count is not None:
                pending = count if word != "pair" else 2  # "a pair of shoes" asks for two
            elif word != "of":
                pending = None
        else:
            current.append(word)
        last = word
    if current:
        runs.append((current, pending))
    phrases: dict[str, NounPhrase] = {}
    for run, count in runs:
        head = singular(run[-1])
        modifiers = tuple(run[:-1])
        text = " ".join((*modifiers, head))
        old = phrases.get(text)
        if old is not None:  # named twice ("a cat ... a cat"): the counts add up
            count = None if old.count is None or count is None else old.count + count
        phrases[text] = NounPhrase(text, head, modifiers, count)
    return tuple(phrases.values())
