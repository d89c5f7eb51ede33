"""The RAFT / assemble reward-ranked learning loop: generate, score, rank, keep, fine-tune.

`prepare` checks everything that can be wrong with the input (rewards, options, aggregator,
prompts, model, output folder) before any model is loaded. `Trainer.run` then executes the
rounds; each round is a pure function of the LoRA before it (see `seeds`), so a run killed at
any moment resumes from its last finished round and ends with the same LoRA.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finerewards.device import peak_memory_gib, reset_peak_memory
from finerewards.errors import FRError, UsageError
from finerewards.train.config import TrainConfig
from finerewards.train.run_dir import RunDir
from finerewards.train.seeds import derive_seed, image_seed, round_prompt_indices
from finerewards.train.select import Candidate, rank_candidates, reject, select

if TYPE_CHECKING:
    from PIL.Image import Image

    from finerewards.scoring import Scorer
    from finerewards.types import Normalizer


@dataclass
class Plan:
    """A validated run: the configuration and everything resolved from it, no model loaded."""

    config: TrainConfig
    prompts: list[str]
    scorer: Scorer
    higher_is_better: dict[str, bool]
    normalizers: dict[str, Normalizer]
    aggregator: Callable[..., list[float]]
    weights: dict[str, float] = field(default_factory=dict)


def prepare(config: TrainConfig, *, progress: bool = True) -> Plan:
    """Validate a configuration against the registry, the prompt source and the model."""
    from finerewards.cache import ScoreCache
    from finerewards.prompts import load_prompts
    from finerewards.registry import get_registry
    from finerewards.scoring import Scorer
    from finerewards.train.pipeline import check_model

    if not config.rewards:
        raise UsageError("no reward given: add --reward NAME (`fr rewards` lists them)")
    registry = get_registry()
    for name in config.weights:
        if name not in config.rewards:
            raise UsageError(
                f"--weight {name}: {name!r} is not among the rewards ({', '.join(config.rewards)})"
            )
    aggregator = registry.aggregator(config.aggregate)
    if aggregator.rank_based and config.images_per_prompt < 2:
        raise UsageError(
            f"--images-per-prompt {config.images_per_prompt} is too few for the rank-based "
            f"aggregator {config.aggregate!r}: ranking needs at least 2 candidates per prompt"
        )
    scorer = Scorer(
        list(config.rewards),
        preset=config.preset,
        options=config.reward_options,
        device=config.device,
        dtype=config.dtype,
        cache=ScoreCache() if config.cache else None,
        progress=progress,
        keep_loaded=config.keep_resident,
    )
    prepared = scorer.prepare()
    normalizers = {}
    for name in config.rewards:
        chosen = prepared[name].spec.default_normalizer if config.normalize == "default" else config.normalize
        normalizers[name] = registry.normalizer(chosen).function
    check_model(config.model)
    prompts = load_prompts(config.prompts)
    scorer.check_prompts(prompts)
    return Plan(
        config,
        prompts,
        scorer,
        {name: prepared[name].spec.higher_is_better for name in config.rewards},
        normalizers,
        aggregator.function,
        {name: float(w) for name, w in config.weights.items()},
    )


class LazyImages(Sequence["Image"]):
    """Images read from disk on access, so a round's candidates need not all sit in memory."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: Any) -> Any:
        from finerewards.manifest import load_image

        if isinstance(index, slice):
            return [load_image(p) for p in self.paths[index]]
        return load_image(self.paths[index])

    def __iter__(self) -> Iterator[Image]:
        for i in range(len(self)):
            yield self[i]


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _figure(value: float | None) -> str:
    """A round's figure for the log line; "-" where there is none (no pair, nothing kept)."""
    return "-" if value is None else f"{value:.4f}"


class Trainer:
    """Runs the rounds of one run directory (in one process or in each of several)."""

    def __init__(
        self,
        plan: Plan,
        run: RunDir,
        *,
        progress: bool = True,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        from finerewards.train.distributed import Dist

        self.plan = plan
        self.config = plan.config
        self.run_dir = run
        self.dist = Dist(self.config.device)
        self.device = self.dist.device
        self.progress = progress and self.dist.is_main
        self.plan.scorer.progress = self.progress
        self.plan.scorer.device = self.device
        self._echo = echo if self.dist.is_main else None
        self.pipe: Any = None
        self._latents: dict[tuple[int, int, int], Any] = {}  # (round, prompt, k)

    def echo(self, text: str) -> None:
        if self._echo is not None:
            self._echo(text)

    # setup ------------------------------------------------------------------------------
    def load_model(self, finished: int) -> None:
        """The pipeline with a fresh LoRA, or the LoRA of round `finished - 1` on resume."""
        from diffusers import DDPMScheduler

        from finerewards.device import resolve_dtype
        from finerewards.train.lora import add_lora, load_lora_into
        from finerewards.train.pipeline import load_pipeline, set_sampler

        cfg = self.config
        self.pipe = load_pipeline(cfg.model, resolve_dtype(cfg.dtype, self.device))
        base = self.pipe.scheduler.config
        self.noise_scheduler = DDPMScheduler.from_config(base)
        set_sampler(self.pipe, cfg.generation.scheduler, base)
        self.params = add_lora(self.pipe.unet, cfg.lora, derive_seed(cfg.seed, "lora-init"))
        if finished > 0:
            load_lora_into(self.pipe.unet, self.run_dir.round_lora_dir(finished - 1))
            if self.dist.is_main:
                self.publish_lora(finished - 1)
        self.pipe.unet.eval()

    def publish_lora(self, index: int) -> None:
        """Write the run's `lora/` after round `index`: that round's adapter, or the mean of the
        last `training.average_rounds` rounds' adapters (a tail average evens out how far the
        last round's steps happened to move it)."""
        from finerewards.train.lora import average_lora

        first = max(0, index - max(1, self.config.training.average_rounds) + 1)
        sources = [self.run_dir.round_lora_dir(i) for i in range(first, index + 1)]
        average_lora(sources, self.run_dir.lora_dir)

    def run(self) -> list[dict[str, Any]]:
        """Do the remaining rounds; returns the metrics of every finished round."""
        from finerewards.train.report import write_report

        run, dist = self.run_dir, self.dist
        if dist.is_main:
            run.lock()
        try:
            finished = run.finished_rounds()
            dist.barrier()
            if dist.is_main:
                run.clean_after(finished)
            dist.barrier()
            if finished >= self.config.rounds:
                self.echo(f"run {run.root} already finished its {self.config.rounds} round(s)")
            else:
                if finished:
                    self.echo(f"resuming {run.root} after round {finished - 1:03d}")
                if self.pipe is None:
                    self.load_model(finished)
                for index in range(finished, self.config.rounds):
                    self.round(index)
            if dist.is_main:
                write_report(run, self.config)
            return run.metrics()
        finally:
            self.plan.scorer.close()
            if dist.is_main:
                run.unlock()

    # one round -----------------------------------------------------------------------------
    def _phase(self, *modules: str) -> None:
        """Put only the named pipeline modules on the accelerator (all with keep_resident)."""
        from finerewards.train.pipeline import release_memory

        if self.device == "cpu":
            return
        for name in ("unet", "vae", "text_encoder"):
            wanted = name in modules or self.config.keep_resident
            getattr(self.pipe, name).to(self.device if wanted else "cpu")
        release_memory(self.device)

    def _generate(self, index: int, mine: list[int]) -> list[Candidate]:
        from tqdm.auto import tqdm

        from finerewards.fsutil import atomic_save_image
        from finerewards.train.generate import generate_with_latents

        cfg = self.config
        folder = self.run_dir.round_dir(index)
        self._phase("unet", "vae", "text_encoder")
        cands: list[Candidate] = []
        jobs = [(p, k) for p in mine for k in range(cfg.images_per_prompt)]
        per_call = cfg.generation.batch_size or cfg.images_per_prompt
        settings = cfg.generation.for_candidates()
        with tqdm(
            total=len(jobs),
            desc=f"round {index:03d} generating",
            unit="image",
            disable=not self.progress or None,
            leave=False,
        ) as bar:
            for start in range(0, len(jobs), per_call):
                chunk = jobs[start : start + per_call]
                seeds = [image_seed(cfg.seed, index, p, k) for p, k in chunk]
                texts = [self.plan.prompts[p] for p, _ in chunk]
                images, latents = generate_with_latents(self.pipe, texts, seeds, settings)
                for (p, k), seed, image, latent in zip(chunk, seeds, images, latents):
                    name = f"images/p{p:05d}_k{k:02d}.png"
                    atomic_save_image(folder / name, image)
                    cands.append(Candidate(p, self.plan.prompts[p], k, seed, name))
                    self._latents[(index, p, k)] = latent
                bar.update(len(chunk))
        return cands

    def _latent_path(self, index: int, cand: Candidate) -> Path:
        name = f"p{cand.prompt_index:05d}_k{cand.k:02d}.safetensors"
        return self.run_dir.round_dir(index) / "latents" / name

    def _share_latents(self, index: int, kept: list[Candidate]) -> list[Any]:
        """Each process writes the kept latents it generated; then every process reads them all."""
        from safetensors.torch import load_file, save_file

        from finerewards.fsutil import atomic_path

        for cand in kept:
            latent = self._latents.get((index, cand.prompt_index, cand.k))
            if latent is not None:
                with atomic_path(self._latent_path(index, cand)) as tmp:
                    save_file({"latent": latent.contiguous()}, str(tmp))
        self.dist.barrier()
        return [load_file(str(self._latent_path(index, cand)))["latent"] for cand in kept]

    def _score(self, index: int, cands: list[Candidate]) -> None:
        self._phase()
        folder = self.run_dir.round_dir(index)
        images = LazyImages([folder / c.image for c in cands])
        labels = [f"rounds/{index:03d}/{c.image} (prompt {c.prompt!r}, seed {c.seed})" for c in cands]
        results = self.plan.scorer.score(images, [c.prompt for c in cands], labels)
        for i, cand in enumerate(cands):
            cand.scores = {name: results[name].scores[i] for name in self.config.rewards}

    def _round_data(self, index: int, cands: list[Candidate]) -> Any:
        """The candidates encoded for training: their latents, or their re-encoded images.

        Each distinct candidate is encoded once; one that heads several pairs is repeated."""
        from finerewards.train.finetune import embed_round, encode_round

        cfg = self.config
        distinct = list({(c.prompt_index, c.k): c for c in cands}.values())  # first-seen order
        prompts = [c.prompt for c in distinct]
        chunk = cfg.training.batch_size
        if cfg.training.target == "latents":
            latents = self._share_latents(index, distinct)
            self._phase("unet", "text_encoder")
            data = embed_round(self.pipe, latents, prompts, self.device, chunk)
        else:
            images = LazyImages([self.run_dir.round_dir(index) / c.image for c in distinct])
            self._phase("unet", "vae", "text_encoder")
            data = encode_round(self.pipe, list(images), prompts, self.device, chunk)
        if len(distinct) == len(cands):
            return data
        position = {(c.prompt_index, c.k): j for j, c in enumerate(distinct)}
        return data.take([position[(c.prompt_index, c.k)] for c in cands])

    def _kept_of(self, index: int) -> tuple[list[Candidate], list[Candidate]]:
        """An earlier round's kept samples (and losers, aligned, for DPO) as its samples file
        records them, for replay."""
        cands = [Candidate.from_json(row) for row in self.run_dir.samples(index)]
        kept = [c for c in cands if c.selected]
        if self.config.training.objective != "dpo":
            return kept, []
        return self._pairs(cands, kept)

    def _pairs(
        self, cands: list[Candidate], kept: list[Candidate]
    ) -> tuple[list[Candidate], list[Candidate]]:
        """The round's DPO pairs (winners, losers) from its ranked candidates and kept winners."""
        training = self.config.training
        return reject(cands, kept, training.pairs, training.pair_margin, self.plan.higher_is_better)

    def _train(self, index: int, kept: list[Candidate], losers: list[Candidate]) -> float:
        from tqdm.auto import tqdm

        from finerewards.train.finetune import concat_rounds, round_training, train_round

        cfg = self.config
        parts = [(self._round_data(index, kept), self._round_data(index, losers) if losers else None)]
        for earlier in range(max(0, index - cfg.training.replay_rounds), index):
            old_kept, old_losers = self._kept_of(earlier)
            if old_kept:
                old_rejected = self._round_data(earlier, old_losers) if old_losers else None
                parts.append((self._round_data(earlier, old_kept), old_rejected))
        data = concat_rounds([d for d, _ in parts])
        rejected = concat_rounds([r for _, r in parts if r is not None]) if losers else None
        self._latents.clear()
        self._phase("unet")
        bar = tqdm(
            total=cfg.training.steps_per_round,
            desc=f"round {index:03d} training",
            unit="step",
            disable=not self.progress or None,
            leave=False,
        )

        def tick(step: int, loss: float) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")

        try:
            return train_round(
                self.pipe,
                self.params,
                data,
                round_training(cfg.training, index),
                self.noise_scheduler,
                derive_seed(cfg.seed, index, "train"),
                self.dist,
                self.device,
                tick,
                rejected,
            )
        finally:
            bar.close()

    def round(self, index: int) -> dict[str, Any]:
        from finerewards.fsutil import atomic_write_jsonl
        from finerewards.train.lora import save_lora
        from finerewards.train.report import write_report

        cfg, run, dist = self.config, self.run_dir, self.dist
        indices = round_prompt_indices(cfg.seed, index, len(self.plan.prompts), cfg.prompts_per_round)
        error: FRError | None = None
        local: list[Candidate] = []
        peaks: dict[str, float | None] = {}
        t0 = time.perf_counter()
        t_gen = t_score = 0.0
        try:
            reset_peak_memory(self.device)
            local = self._generate(index, dist.shard(indices))
            t_gen = time.perf_counter() - t0
            peaks["generate"] = peak_memory_gib(self.device)
            reset_peak_memory(self.device)
            self._score(index, local)
            t_score = time.perf_counter() - t0 - t_gen
            peaks["score"] = peak_memory_gib(self.device)
        except FRError as exc:
            error = exc
        dist.check(error)
        gathered = [
            Candidate.from_json(row) for part in dist.gather([c.as_json() for c in local]) for row in part
        ]
        cands = sorted(gathered, key=lambda c: (c.prompt_index, c.k))
        # ranked on the whole round, in every process alike (the tie tolerance is round-wide)
        rank_candidates(
            cands,
            cfg.rewards,
            self.plan.higher_is_better,
            self.plan.normalizers,
            self.plan.aggregator,
            self.plan.weights,
            cfg.tie_tolerance,
        )
        kept = select(cands, cfg.keep_fraction, self.plan.weights)
        losers: list[Candidate] = []
        if cfg.training.objective == "dpo":
            kept, losers = self._pairs(cands, kept)
            if not kept:
                # `worst` marks the groups whose candidates differ: only then did the margin drop them
                why = (
                    f"no pair's winner beats its loser by more than training.pair_margin ="
                    f" {cfg.training.pair_margin:g} standard deviations on any reward"
                    if cfg.training.pair_margin > 0 and any(c.worst for c in cands)
                    else "every prompt's candidates tie on the rewards"
                )
                if dist.is_main:  # a warning, shown even with --quiet
                    stderr_echo(
                        f"warning: round {index:03d}: {why}: no preference pair, the adapter is unchanged"
                    )
        if dist.is_main:
            atomic_write_jsonl(run.samples_path(index), [c.as_json() for c in cands])
        dist.barrier()
        t1 = time.perf_counter()
        reset_peak_memory(self.device)
        loss = self._train(index, kept, losers) if kept else None
        winners = [c for c in cands if c.selected]  # each once, also where it heads several pairs
        t_train = time.perf_counter() - t1
        peaks["train"] = peak_memory_gib(self.device)
        if dist.is_main:
            save_lora(self.pipe.unet, run.round_lora_dir(index))
            self.publish_lora(index)
        row: dict[str, Any] = {
            "round": index,
            "prompts": len(indices),
            "images": len(cands),
            "kept": len(winners),
            "rejected": sum(c.rejected for c in cands),
            "pairs": len(losers),
            "reward_mean": {n: _mean([c.scores[n] for c in cands]) for n in cfg.rewards},
            "reward_mean_kept": {n: _mean([c.scores[n] for c in winners]) for n in cfg.rewards},
            "train_loss": loss,
            "seconds": {"generate": round(t_gen, 3), "score": round(t_score, 3), "train": round(t_train, 3)},
        }
        measured = any(v is not None for v in peaks.values())
        if measured:  # this process's peak tensor memory (CUDA)
            row["peak_memory_gib"] = peaks
        if dist.is_main:
            run.append_metrics(row)
            write_report(run, cfg)
        dist.barrier()
        means = ", ".join(
            f"{n} {row['reward_mean'][n]:.4f} (kept {_figure(row['reward_mean_kept'][n])})"
            for n in cfg.rewards
        )
        self.echo(
            f"round {index:03d}: {len(indices)} prompts, {len(cands)} images, kept {len(winners)}"
            f"{f' ({len(losers)} pairs)' if cfg.training.objective == 'dpo' else ''}; "
            f"{means}; loss {_figure(loss)}; {t_gen:.1f}s gen, {t_score:.1f}s score, {t_train:.1f}s train"
            + (f"; peak {max(v for v in peaks.values() if v is not None):.2f} GiB" if measured else "")
        )
        return row


def stderr_echo(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def default_out() -> Path:
    return Path("runs") / time.strftime("train-%Y%m%d-%H%M%S")


def _summary(
    run: RunDir, config: TrainConfig, metrics: list[dict[str, Any]], resumed_from: int
) -> dict[str, Any]:
    from finerewards.train.lora import WEIGHT_NAME

    return {
        "out": str(run.root),
        "rounds": config.rounds,
        "finished": len(metrics),
        "resumed_from": resumed_from,
        "lora": str(run.lora_dir / WEIGHT_NAME),
        "report": str(run.report_path),
        "metrics": metrics,
    }


def train(
    config: TrainConfig,
    out: Path | None,
    *,
    progress: bool = True,
    echo: Callable[[str], None] | None = stderr_echo,
) -> dict[str, Any]:
    """Start a new run in `out` (which must be new or empty); returns a summary."""
    plan = prepare(config, progress=progress)
    if out is not None:
        RunDir.check_new(out)
    trainer = Trainer(plan, RunDir(out or default_out()), progress=progress, echo=echo)
    dist = trainer.dist
    if out is None:
        trainer.run_dir = RunDir(dist.gather(str(trainer.run_dir.root))[0])
        RunDir.check_new(trainer.run_dir.root)
    trainer.load_model(0)  # before the folder exists: a model that cannot load leaves no run behind
    dist.barrier()
    if dist.is_main:
        trainer.run_dir.create(config)
        trainer.echo(f"run folder: {trainer.run_dir.root}")
    dist.barrier()
    metrics = trainer.run()
    return _summary(trainer.run_dir, config, metrics, 0)


def resume(
    out: Path,
    *,
    rounds: int | None = None,
    device: str | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = stderr_echo,
) -> dict[str, Any]:
    """Continue the run in `out` from its last finished round (optionally to more rounds)."""
    run = RunDir.open(out)
    config = run.load_config()
    finished = run.finished_rounds()
    changed = False
    if rounds is not None and rounds != config.rounds:
        if rounds < finished:
            raise UsageError(f"--rounds {rounds}: the run already finished {finished} round(s)")
        config.rounds = rounds
        changed = True
    if device is not None:
        config.device = device
    plan = prepare(config, progress=progress)
    trainer = Trainer(plan, run, progress=progress, echo=echo)
    if trainer.dist.is_main:
        run.lock()
        if changed:
            run.write_config(config)
    trainer.dist.barrier()
    metrics = trainer.run()
    return _summary(run, config, metrics, finished)
