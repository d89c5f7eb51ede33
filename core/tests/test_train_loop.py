"""The trainer end to end, in process, on a tiny random pipeline with test rewards.

One module-wide run (2 rounds, 2 rewards, one depending on the prompt) backs the contract checks:
the run folder, the samples against the images and prompts they name, the LoRA in plain
diffusers, the report, and resuming an interrupted round.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from train_support import (
    PROMPTS,
    TINY,
    RedOptions,
    RedPlusLength,
    RedShare,
    lora_tensors,
    max_lora_diff,
    one_thread,
    red_registry,
    tiny_pipeline,
    write_prompts,
)

from finerewards.errors import FRError, RewardError, UsageError
from finerewards.train import loop
from finerewards.train.config import TrainConfig, resolve_config, tomllib, validate

K = 3


def tiny_config(
    prompts: Path, *extra: str, rewards: tuple[str, ...] = ("redshare",), **flags: Any
) -> TrainConfig:
    values = {
        "rewards": list(rewards),
        "model": str(tiny_pipeline()),
        "prompts": str(prompts),
        "rounds": 2,
        "images_per_prompt": K,
        "device": "cpu",
        "cache": False,
        **flags,
    }
    return resolve_config(flags=values, set_items=[*TINY, *extra])


@pytest.fixture(autouse=True)
def _threads_and_rewards() -> Iterator[None]:
    with one_thread(), red_registry():
        yield


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-round run with two rewards; the folder is shared read-only by the tests."""
    root = tmp_path_factory.mktemp("run")
    RedPlusLength.batches.clear()
    with one_thread(), red_registry():
        config = tiny_config(write_prompts(root / "prompts.txt"), rewards=("redshare", "redlen"))
        loop.train(config, root / "out", progress=False, echo=None)
    (root / "batches.json").write_text(json.dumps(RedPlusLength.batches))
    return root / "out"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_run_folder_layout(run: Path) -> None:
    config = validate(tomllib.loads((run / "run.toml").read_text()))
    assert config.rewards == ["redshare", "redlen"] and config.rounds == 2
    for index in range(2):
        folder = run / "rounds" / f"{index:03d}"
        assert (folder / "lora" / "pytorch_lora_weights.safetensors").is_file()
        assert len(read_jsonl(folder / "samples.jsonl")) == len(PROMPTS) * K
    assert (run / "lora" / "pytorch_lora_weights.safetensors").is_file()  # the rounds' mean: below
    assert not list(run.rglob("*.tmp"))


def test_samples_score_the_image_against_its_own_prompt(run: Path) -> None:
    from PIL import Image

    scorer = RedPlusLength(RedOptions())
    for index in range(2):
        folder = run / "rounds" / f"{index:03d}"
        rows = read_jsonl(folder / "samples.jsonl")
        assert {r["prompt"] for r in rows} == set(PROMPTS)
        images = [Image.open(folder / r["image"]) for r in rows]
        again = scorer.score(images, [r["prompt"] for r in rows]).scores
        assert again == pytest.approx([r["scores"]["redlen"] for r in rows])
        seeds = [r["seed"] for r in rows]
        assert len(set(seeds)) == len(seeds)
        for prompt_index in {r["prompt_index"] for r in rows}:
            group = [r for r in rows if r["prompt_index"] == prompt_index]
            assert [r["k"] for r in group] == list(range(K))
            assert sum(r["selected"] for r in group) == 1
            best = max(group, key=lambda r: r["aggregate"])
            assert best["selected"] and best["best"]
            assert set(best["normalized"]) == {"redshare", "redlen"}


def test_each_round_is_scored_in_batches(run: Path) -> None:
    # redlen's spec asks for batches of 5: 12 images a round are 5 + 5 + 2, never one by one.
    assert json.loads((run.parent / "batches.json").read_text()) == [5, 5, 2, 5, 5, 2]


def test_metrics_match_the_samples(run: Path) -> None:
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["round"] for r in rows] == [0, 1]
    for row in rows:
        samples = read_jsonl(run / "rounds" / f"{row['round']:03d}" / "samples.jsonl")
        kept = [s for s in samples if s["selected"]]
        assert row["kept"] == len(kept) == len(PROMPTS)
        for name in ("redshare", "redlen"):
            assert row["reward_mean"][name] == pytest.approx(np.mean([s["scores"][name] for s in samples]))
            assert row["reward_mean_kept"][name] == pytest.approx(np.mean([s["scores"][name] for s in kept]))
        assert math.isfinite(row["train_loss"]) and row["train_loss"] > 0
        assert set(row["seconds"]) == {"generate", "score", "train"}
        assert "peak_memory_gib" not in row  # a CPU run: torch keeps no such count


def test_each_phase_records_its_peak_accelerator_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On CUDA every phase starts its own peak count and the round records the three peaks
    (faked here: the count is the number of resets so far, so each phase shows its own)."""
    resets: list[str] = []
    monkeypatch.setattr(loop, "reset_peak_memory", lambda device: resets.append(device))
    monkeypatch.setattr(loop, "peak_memory_gib", lambda device: float(len(resets)))
    config = tiny_config(write_prompts(tmp_path / "p.txt"), rounds=1)
    summary = loop.train(config, tmp_path / "out", progress=False, echo=None)
    assert resets == ["cpu"] * 3
    assert summary["metrics"][0]["peak_memory_gib"] == {"generate": 1.0, "score": 2.0, "train": 3.0}
    assert "train peak GiB" in (tmp_path / "out" / "report.html").read_text()


def test_peak_memory_is_none_off_cuda() -> None:
    from finerewards.device import peak_memory_gib, reset_peak_memory

    reset_peak_memory("cpu")
    assert peak_memory_gib("cpu") is None


def test_report_is_self_contained(run: Path) -> None:
    page = (run / "report.html").read_text()
    assert "data:image/png;base64," in page
    assert "Round 000" in page and "Round 001" in page
    sources = [part.split("'")[0] for part in page.split("<img src='")[1:]]
    assert sources and all((run / src).is_file() for src in sources)
    assert "cand kept" in page


@pytest.mark.parametrize("target", ["latents", "images"])
def test_dpo_rounds_train_on_winner_and_loser_pairs(tmp_path: Path, target: str) -> None:
    """With `objective = dpo` each kept winner is paired with its prompt's worst candidate: the
    samples mark both, the metrics count them, the report shows them, and the adapter moves."""
    config = tiny_config(
        write_prompts(tmp_path / "p.txt"), "training.objective=dpo", f"training.target={target}"
    )
    summary = loop.train(config, tmp_path / "out", progress=False, echo=None)
    run = tmp_path / "out"
    for row in summary["metrics"]:
        samples = read_jsonl(run / "rounds" / f"{row['round']:03d}" / "samples.jsonl")
        kept = [s for s in samples if s["selected"]]
        rejected = [s for s in samples if s["rejected"]]
        assert row["kept"] == row["rejected"] == len(kept) == len(rejected) == len(PROMPTS)
        for winner in kept:
            loser = next(s for s in rejected if s["prompt_index"] == winner["prompt_index"])
            group = [s for s in samples if s["prompt_index"] == winner["prompt_index"]]
            assert loser["aggregate"] == min(s["aggregate"] for s in group) < winner["aggregate"]
        assert math.isfinite(row["train_loss"]) and 0 < row["train_loss"]
    assert "cand rejected" in (run / "report.html").read_text()
    ups = [t for key, t in lora_tensors(run / "lora").items() if ".lora.up." in key]
    assert ups and max(float(t.abs().max()) for t in ups) > 0  # up-projections start at zero


@pytest.mark.parametrize("target", ["latents", "images"])
def test_lower_pairs_and_replay_train_on_the_earlier_rounds_pairs_too(
    tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pairs = lower` pairs each winner with every lower candidate; `replay_rounds = 1` trains
    round 1 on its own pairs and then round 0's, read back from the run folder, exactly as
    round 0 trained on them."""
    from finerewards.train import finetune

    seen: list[tuple[Any, Any]] = []
    real = finetune.train_round

    def spy(pipe: Any, params: Any, data: Any, *args: Any, **kwargs: Any) -> float:
        rejected = args[-1] if args else kwargs.get("rejected")
        seen.append((data, rejected))
        return real(pipe, params, data, *args, **kwargs)

    monkeypatch.setattr(finetune, "train_round", spy)
    config = tiny_config(
        write_prompts(tmp_path / "p.txt"),
        "training.objective=dpo",
        "training.pairs=lower",
        "training.pair_margin=0",  # every lower candidate, however close (the toy preset filters)
        "training.replay_rounds=1",
        f"training.target={target}",
    )
    summary = loop.train(config, tmp_path / "out", progress=False, echo=None)
    pairs = [row["pairs"] for row in summary["metrics"]]
    for row in summary["metrics"]:
        samples = read_jsonl(tmp_path / "out" / "rounds" / f"{row['round']:03d}" / "samples.jsonl")
        expected = 0
        for winner in (s for s in samples if s["selected"]):
            group = [s for s in samples if s["prompt_index"] == winner["prompt_index"]]
            lower = [s for s in group if s["aggregate"] < winner["aggregate"]]
            assert lower and all(s["rejected"] for s in lower)
            expected += len(lower)
        assert row["pairs"] == expected and row["kept"] == len(PROMPTS)
    assert pairs[0] > len(PROMPTS)  # several pairs per prompt
    (first, first_rej), (second, second_rej) = seen
    assert second.latent_mean.shape[0] == pairs[1] + pairs[0]
    assert torch_equal(second.latent_mean[pairs[1] :], first.latent_mean)
    assert torch_equal(second_rej.latent_mean[pairs[1] :], first_rej.latent_mean)
    assert torch_equal(second.embeddings[pairs[1] :], first.embeddings)


def test_pair_margin_keeps_only_clearly_separated_pairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pair_margin` drops the pairs whose winner beats its loser by no more than that many
    standard deviations of the reward over the round; a round whose pairs all fall short trains
    nothing, says so, and the run goes on."""
    import statistics

    prompts = write_prompts(tmp_path / "p.txt")
    config = tiny_config(prompts, "training.objective=dpo", "training.pair_margin=0.5", rounds=1)
    summary = loop.train(config, tmp_path / "out", progress=False, echo=None)
    samples = read_jsonl(tmp_path / "out" / "rounds" / "000" / "samples.jsonl")
    sd = statistics.pstdev([s["scores"]["redshare"] for s in samples])
    kept = [s for s in samples if s["selected"]]
    assert summary["metrics"][0]["pairs"] == len(kept) >= 1
    outcomes: list[bool] = []
    for group in ([s for s in samples if s["prompt_index"] == p] for p in range(len(PROMPTS))):
        winner = next(s for s in group if s["best"])
        loser = next((s for s in group if s["worst"]), None)
        separated = (
            loser is not None and winner["scores"]["redshare"] - loser["scores"]["redshare"] > 0.5 * sd
        )
        assert winner["selected"] == separated
        assert loser is None or loser["rejected"] == separated
        outcomes.append(separated)
    assert True in outcomes and False in outcomes  # some pairs kept, some dropped
    strict = tiny_config(prompts, "training.objective=dpo", "training.pair_margin=100", rounds=2)
    capsys.readouterr()
    summary = loop.train(strict, tmp_path / "strict", progress=False, echo=None)
    warned = capsys.readouterr().err
    for index in ("000", "001"):
        assert (
            f"warning: round {index}: no pair's winner beats its loser by more than"
            " training.pair_margin = 100 standard deviations on any reward: no preference pair,"
            " the adapter is unchanged"
        ) in warned
    assert [(m["pairs"], m["kept"], m["train_loss"]) for m in summary["metrics"]] == [(0, 0, None)] * 2
    tensors = lora_tensors(tmp_path / "strict" / "lora")
    ups = [t for name, t in tensors.items() if "lora_B" in name or "lora.up" in name]
    assert ups and not any(bool(t.any()) for t in ups)  # as initialised: the adapter does nothing
    assert "&ndash;" in (tmp_path / "strict" / "report.html").read_text()


def test_candidate_steps_sample_the_candidates_and_leave_generate_at_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`generation.candidate_steps` is the loop's sampler steps; the run keeps `steps` (3 in
    TINY) for `fr generate` on its LoRA."""
    from finerewards.train import generate
    from finerewards.train.settings import generation_settings

    steps: list[int] = []
    real = generate.generate_with_latents

    def spy(pipe: Any, prompts: Any, seeds: Any, settings: Any) -> Any:
        steps.append(settings.steps)
        return real(pipe, prompts, seeds, settings)

    monkeypatch.setattr(generate, "generate_with_latents", spy)
    config = tiny_config(write_prompts(tmp_path / "p.txt"), "generation.candidate_steps=2", rounds=1)
    loop.train(config, tmp_path / "out", progress=False, echo=None)
    assert steps and set(steps) == {2}
    _, settings, _ = generation_settings(
        model=None, lora=tmp_path / "out", preset=None, flags={}, set_items=[]
    )
    assert (settings.steps, settings.candidate_steps) == (3, 2)
    assert tiny_config(tmp_path / "p.txt").generation.for_candidates().steps == 3  # 0: `steps`


def torch_equal(a: Any, b: Any) -> bool:
    import torch

    return a.shape == b.shape and bool(torch.equal(a, b))


def test_lora_loads_in_plain_diffusers_and_reproduces_the_samples(run: Path) -> None:
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(tiny_pipeline()))
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, clip_sample=False)
    pipe.set_progress_bar_config(disable=True)

    def regenerate(index: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        from PIL import Image

        folder = run / "rounds" / f"{index:03d}"
        group = [r for r in read_jsonl(folder / "samples.jsonl") if r["prompt_index"] == 1]
        out = pipe(
            [group[0]["prompt"]] * K,
            num_inference_steps=3,
            guidance_scale=3.0,
            height=16,
            width=16,
            generator=[torch.Generator().manual_seed(r["seed"]) for r in group],
        ).images
        return [np.asarray(im, dtype=int) for im in out], [
            np.asarray(Image.open(folder / r["image"]), dtype=int) for r in group
        ]

    fresh, saved = regenerate(0)  # round 0 samples come from the base model
    assert all(np.array_equal(a, b) for a, b in zip(fresh, saved))
    without_lora, _ = regenerate(1)
    pipe.load_lora_weights(str(run / "rounds" / "000" / "lora"))
    fresh, saved = regenerate(1)  # round 1 samples come from the LoRA after round 0
    assert all(np.abs(a - b).max() <= 1 for a, b in zip(fresh, saved))
    assert any(np.abs(a - b).max() > 0 for a, b in zip(without_lora, saved))


def test_resume_after_an_interrupted_round_ends_with_the_same_lora(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    # As if killed during round 1: its metrics line is missing, its folder half written.
    lines = (copy / "metrics.jsonl").read_text().splitlines()
    (copy / "metrics.jsonl").write_text(lines[0] + "\n")
    shutil.rmtree(copy / "rounds" / "001" / "lora")
    (copy / "rounds" / "001" / "samples.jsonl").unlink()
    (copy / "rounds" / "001" / ".samples.jsonl.abc.tmp").write_text("partial")
    (copy / "lora" / "pytorch_lora_weights.safetensors").write_bytes(b"garbage from a crash")
    summary = loop.resume(copy, progress=False, echo=None)
    assert summary["resumed_from"] == 1 and summary["finished"] == 2
    assert max_lora_diff(copy / "lora", run / "lora") <= 1e-6
    assert (copy / "rounds" / "001" / "samples.jsonl").read_text() == (
        run / "rounds" / "001" / "samples.jsonl"
    ).read_text()
    assert not list(copy.rglob("*.tmp"))


def test_resume_of_a_finished_run_changes_nothing_but_can_extend_it(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    before = (copy / "lora" / "pytorch_lora_weights.safetensors").read_bytes()
    summary = loop.resume(copy, progress=False, echo=None)
    assert summary["finished"] == 2
    assert (copy / "lora" / "pytorch_lora_weights.safetensors").read_bytes() == before
    with pytest.raises(UsageError, match="already finished 2"):
        loop.resume(copy, rounds=1, progress=False, echo=None)
    extended = loop.resume(copy, rounds=3, progress=False, echo=None)
    assert extended["finished"] == 3 and [m["round"] for m in extended["metrics"]] == [0, 1, 2]
    assert validate(tomllib.loads((copy / "run.toml").read_text())).rounds == 3
    assert (copy / "rounds" / "000" / "samples.jsonl").read_bytes() == (
        run / "rounds" / "000" / "samples.jsonl"
    ).read_bytes()


def test_the_runs_lora_is_the_mean_of_the_last_rounds_adapters(run: Path, tmp_path: Path) -> None:
    """The toy preset's `training.average_rounds = 2`: the run's `lora/` is the mean of the last
    two rounds' adapters, also after a resume; with 1 it is the last round's, and the rounds
    train exactly alike either way."""
    from finerewards.train.lora import WEIGHT_NAME, average_lora

    def mean_of(folder: Path, *rounds: int) -> bytes:
        average_lora([folder / "rounds" / f"{i:03d}" / "lora" for i in rounds], tmp_path / "mean")
        return (tmp_path / "mean" / WEIGHT_NAME).read_bytes()

    assert (run / "lora" / WEIGHT_NAME).read_bytes() == mean_of(run, 0, 1)
    last = tiny_config(
        write_prompts(tmp_path / "p.txt"), "training.average_rounds=1", rewards=("redshare", "redlen")
    )
    loop.train(last, tmp_path / "last", progress=False, echo=None)
    for index in (0, 1):
        name = f"rounds/{index:03d}/lora/{WEIGHT_NAME}"
        assert (tmp_path / "last" / name).read_bytes() == (run / name).read_bytes()
    final = tmp_path / "last" / "lora" / WEIGHT_NAME
    assert final.read_bytes() == (run / "rounds" / "001" / "lora" / WEIGHT_NAME).read_bytes()
    assert final.read_bytes() != (run / "lora" / WEIGHT_NAME).read_bytes()
    assert final.stat().st_mode & 0o777 == (run / "lora" / WEIGHT_NAME).stat().st_mode & 0o777
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    loop.resume(copy, rounds=3, progress=False, echo=None)
    assert (copy / "lora" / WEIGHT_NAME).read_bytes() == mean_of(copy, 1, 2)


def test_nan_reward_stops_the_round_naming_reward_and_sample(tmp_path: Path) -> None:
    config = tiny_config(write_prompts(tmp_path / "p.txt"), rewards=("nanshare",))
    with pytest.raises(
        RewardError, match=r"'nanshare'.*nan.*rounds/000/images/p00000_k02\.png.*a red circle"
    ):
        loop.train(config, tmp_path / "out", progress=False, echo=None)
    assert not (tmp_path / "out" / "metrics.jsonl").exists()
    with pytest.raises(UsageError, match="finished no round.*--resume.*or remove the folder"):
        loop.train(config, tmp_path / "out", progress=False, echo=None)


@pytest.fixture
def no_heavy_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the model means validation came too late."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a model was loaded before the input was validated")

    monkeypatch.setattr("finerewards.train.pipeline.load_pipeline", refuse)


@pytest.mark.usefixtures("no_heavy_work")
@pytest.mark.parametrize(
    "change, message",
    [
        ({"rewards": ["redshar"]}, "unknown reward 'redshar'; did you mean 'redshare'"),
        ({"images_per_prompt": 1}, "too few for the rank-based aggregator 'rank-sum'"),
        ({"aggregate": "nope"}, "unknown aggregator 'nope'"),
        ({"normalize": "nope"}, "unknown normaliser 'nope'"),
        ({"weights": {"other": 2.0}}, "--weight other"),
        ({"model": "/no/such/model"}, "model path '/no/such/model' does not exist"),
        ({"prompts": "EMPTY"}, "holds no prompts"),
        ({"prompts": "/no/such/prompts.txt"}, "does not exist"),
        ({"reward_options": {"redshare": {"margin": "x"}}}, "redshare.margin"),
        ({"rewards": ["oracle"], "prompts": "CAT"}, "reward 'oracle': prompt 'a cat' is outside the"),
    ],
)
def test_bad_input_fails_before_any_model_is_loaded(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    if change.get("prompts") == "EMPTY":
        (tmp_path / "empty.txt").write_text("\n\n")
        change = {"prompts": str(tmp_path / "empty.txt")}
    if change.get("prompts") == "CAT":
        (tmp_path / "cat.txt").write_text("a red circle\na cat\n")
        change = {**change, "prompts": str(tmp_path / "cat.txt")}
    config = tiny_config(write_prompts(tmp_path / "p.txt")).model_copy(update=change)
    with pytest.raises(UsageError, match=message):
        loop.train(config, tmp_path / "out", progress=False, echo=None)
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("no_heavy_work")
def test_model_folder_must_be_a_pipeline(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    config = tiny_config(write_prompts(tmp_path / "p.txt"), model=str(tmp_path / "model"))
    with pytest.raises(UsageError, match="not a diffusers pipeline folder"):
        loop.train(config, tmp_path / "out", progress=False, echo=None)


def test_a_model_that_cannot_load_leaves_no_run_folder(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model_index.json").write_text(
        '{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}'
    )
    config = tiny_config(write_prompts(tmp_path / "p.txt"), model=str(model))
    with pytest.raises(FRError, match="cannot load model"):
        loop.train(config, tmp_path / "out", progress=False, echo=None)
    assert not (tmp_path / "out").exists()  # the same command, mended, can be given again


@pytest.mark.usefixtures("no_heavy_work")
def test_out_holding_a_run_or_anything_is_refused(run: Path, tmp_path: Path) -> None:
    config = tiny_config(write_prompts(tmp_path / "p.txt"))
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(UsageError, match="already holds a run.*--resume"):
        loop.train(config, run, progress=False, echo=None)
    assert sorted(p.name for p in run.iterdir()) == before
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="is not empty"):
        loop.train(config, tmp_path / "busy", progress=False, echo=None)
    with pytest.raises(UsageError, match="not a FineRewards run"):
        loop.resume(tmp_path / "busy", progress=False, echo=None)


LEARN_PROMPTS = [f"prompt number {i}" for i in range(16)]
LEARN = [
    # The paper's loss: its drift on a model's own samples is what the control run below measures.
    "training.objective=raft",
    "generation.guidance_scale=1.0",
    "generation.steps=4",
    "training.steps_per_round=30",
    "training.batch_size=16",
    "training.learning_rate=5e-4",
    # The tiny random VAE is no autoencoder: re-encoding its images (the toy preset's
    # `target = images`) would not carry what the reward selected, so learn the latents.
    "training.target=latents",
    "training.snr_gamma=0",
]


def _fresh_red_share(lora: Path | None, out: Path) -> float:
    """Mean red share of 128 fresh samples (fixed seeds, not the training ones) with a LoRA."""
    from PIL import Image

    from finerewards.train.config import GenerationConfig
    from finerewards.train.generate import GenerateRequest, run_generate

    settings = GenerationConfig(steps=4, height=16, width=16, guidance_scale=1.0)
    request = GenerateRequest(
        str(tiny_pipeline()), LEARN_PROMPTS, out, lora, 8, 12345, settings, device="cpu", progress=False
    )
    rows = run_generate(request)
    images = [Image.open(out / str(r["image"])) for r in rows]
    return float(np.mean(RedShare(RedOptions()).score(images, [str(r["prompt"]) for r in rows]).scores))


@pytest.mark.slow
def test_the_loop_learns_what_the_reward_selects(tmp_path: Path) -> None:
    """Fresh samples get redder round by round when red is rewarded, less red when it is penalised.

    Fine-tuning a tiny random model on any of its own samples also moves it (it learns to
    denoise at all); the run that keeps the least red samples is the control that tells
    learning what the reward selects from that drift. Fresh samples use seeds never trained on.
    """
    prompts = write_prompts(tmp_path / "p.txt", LEARN_PROMPTS)
    base = _fresh_red_share(None, tmp_path / "eval-base")
    curves: dict[str, list[float]] = {}
    for reward in ("redshare", "redshare-low"):
        config = tiny_config(prompts, *LEARN, rewards=(reward,), rounds=4, images_per_prompt=8)
        summary = loop.train(config, tmp_path / reward, progress=False, echo=None)
        for row in summary["metrics"]:  # what is kept is what the reward prefers
            gap = row["reward_mean_kept"][reward] - row["reward_mean"][reward]
            assert gap > 0.05 if reward == "redshare" else gap < -0.05
        curves[reward] = [
            _fresh_red_share(
                tmp_path / reward / "rounds" / f"{r:03d}" / "lora", tmp_path / f"eval-{reward}-{r}"
            )
            for r in range(4)
        ]
    high, low = curves["redshare"], curves["redshare-low"]
    print(f"fresh red share: base {base:.4f}; rewarded {high}; penalised {low}")
    assert high[-1] > base + 0.015 and high[-1] > high[0]
    assert low[-1] < base - 0.015 and low[-1] < low[0]
    assert min(h - lo for h, lo in zip(high[1:], low[1:])) > 0


def test_learning_rate_falls_within_and_across_rounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lr_round_decay = 0.5` trains round 1 at half round 0's rate, and `lr_schedule = linear`
    lowers the optimiser's rate step by step inside each round (the rates the optimiser held)."""
    import torch

    from finerewards.train import finetune

    rounds: list[float] = []
    steps: list[float] = []
    real_step = torch.optim.AdamW.step
    real = finetune.train_round

    def spy(pipe: Any, params: Any, data: Any, settings: Any, *args: Any, **kwargs: Any) -> float:
        rounds.append(settings.learning_rate)
        return real(pipe, params, data, settings, *args, **kwargs)

    def step(self: torch.optim.AdamW, *args: Any, **kwargs: Any) -> Any:
        steps.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(finetune, "train_round", spy)
    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    config = tiny_config(
        write_prompts(tmp_path / "p.txt"), "training.lr_round_decay=0.5", "training.lr_schedule=linear"
    )
    loop.train(config, tmp_path / "out", progress=False, echo=None)
    assert rounds == pytest.approx([1e-3, 5e-4])
    assert steps == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4, 5e-4, 3.75e-4, 2.5e-4, 1.25e-4])
