"""Do a run's preference pairs agree with the oracle? For every (winner, loser) pair that
`fr train` trained on (DPO), whether the oracle (`../shared/TOYWORLD.md`) says the winner
satisfies its prompt and the loser does not (right), the reverse (wrong), or neither tells them
apart (tie); and the same by the oracle's partial-credit score.

    python benchmarks/pair_agreement.py RUN_DIR [RUN_DIR ...]

Prints one JSON line. It tells whether the reward (wrong pairs) or the loop (right pairs that
do not lift accuracy) limits a run; figures in docs/benchmarks.md (section `toy-preset-probes`).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from PIL import Image

from finerewards.toyworld.oracle import judge
from finerewards.train.run_dir import RunDir
from finerewards.train.select import Candidate, groups


def verdict(winner: float, loser: float) -> str:
    return "right" if winner > loser else "wrong" if loser > winner else "tie"


def agreement(folders: list[str]) -> dict[str, dict[str, int]]:
    """Right / wrong / tie counts of the runs' pairs, by `satisfies` and by partial credit."""
    by_satisfies: Counter[str] = Counter()
    by_score: Counter[str] = Counter()
    for folder in folders:
        run = RunDir(Path(folder))
        for index in range(len(run.metrics())):
            cands = [Candidate.from_json(row) for row in run.samples(index)]
            for group in groups(cands).values():
                verdicts = {}  # each candidate judged once, however many pairs it is in
                for cand in group:
                    if cand.selected or cand.rejected:
                        verdicts[cand.k] = judge(cand.prompt, Image.open(run.round_dir(index) / cand.image))
                for winner in (c for c in group if c.selected):
                    for loser in (c for c in group if c.rejected):
                        w, lo = verdicts[winner.k], verdicts[loser.k]
                        by_satisfies[verdict(float(w["satisfied"]), float(lo["satisfied"]))] += 1
                        by_score[verdict(w["score"], lo["score"])] += 1
    return {"satisfies": dict(by_satisfies), "score": dict(by_score)}


def main() -> None:
    print(json.dumps({"runs": sys.argv[1:], **agreement(sys.argv[1:])}))


if __name__ == "__main__":
    main()
