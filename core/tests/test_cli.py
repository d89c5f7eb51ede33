"""`fr score`, `fr rewards` and every CLI error: one line on stderr, exit 2 or 1, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import make_dist, run_fr
from PIL import Image

GOOD = "from sample_rewards import register_rewards  # noqa: F401\n"
NEEDS_EXTRA = """
from finerewards import RewardSpec, hookimpl

@hookimpl
def register_rewards(register):
    register(RewardSpec(name="fancy", description="needs a missing library",
        factory="fr_fancy_model:Fancy", requires=("surely_missing_module_xyz",),
        install="pip install 'fr-fancy[gpu]'"))
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    make_dist(root, "fr-good", {"fr_good": GOOD}, {"good": "fr_good"})
    make_dist(root, "fr-fancy", {"fr_fancy": NEEDS_EXTRA}, {"fancy": "fr_fancy"})
    return root


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name, colour, red_rows in [
        ("red.png", (220, 40, 40), 64),
        ("half.png", (220, 40, 40), 32),
        ("white.png", (255, 255, 255), 0),
    ]:
        image = Image.new("RGB", (64, 64), (255, 255, 255))
        for y in range(red_rows):
            for x in range(64):
                image.putpixel((x, y), colour)
        image.save(folder / name)
    rows = [
        {"image": "red.png", "prompt": "a red square"},
        {"image": "half.png", "prompt": "half red please"},
        {"image": "white.png", "prompt": "nothing"},
    ]
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _error(result) -> str:  # type: ignore[no-untyped-def]
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_score_manifest_json_in_input_order(site: Path, images: Path) -> None:
    result = run_fr(
        "score",
        "--reward",
        "redshare",
        "--reward",
        "promptlen",
        "--manifest",
        str(images / "manifest.jsonl"),
        "--json",
        path=site,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["image"] for r in rows] == ["red.png", "half.png", "white.png"]
    assert [r["scores"]["redshare"] for r in rows] == [1.0, 0.5, 0.0]
    assert [r["scores"]["promptlen"] for r in rows] == [3.0, 3.0, 1.0]
    assert rows[1]["details"]["redshare"] == {"red_pixels": 2048}
    assert rows[0]["prompt"] == "a red square"


def test_score_prompt_and_images_table(site: Path, images: Path) -> None:
    result = run_fr(
        "score",
        "-r",
        "redshare",
        "--prompt",
        "a red square",
        str(images / "red.png"),
        str(images / "white.png"),
        "--no-cache",
        path=site,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "redshare" in lines[0]
    assert lines[1].endswith("1.0000") and lines[2].endswith("0.0000")


def test_score_set_option_and_preset(site: Path, images: Path) -> None:
    args = ["score", "-r", "redshare", "--manifest", str(images / "manifest.jsonl"), "--json"]
    scaled = run_fr(*args, "--set", "redshare.scale=2", path=site)
    assert [json.loads(x)["scores"]["redshare"] for x in scaled.stdout.splitlines()] == [2.0, 1.0, 0.0]
    strict = run_fr(*args, "--preset", "paper", path=site)  # threshold 200 > 220? no: 220 > 200
    assert strict.returncode == 0
    assert json.loads(strict.stdout.splitlines()[0])["scores"]["redshare"] == 1.0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-r", "redshar", "--prompt", "p", "IMG"], 2, "unknown reward 'redshar'; did you mean 'redshare'?"),
        (["-r", "redshare", "--prompt", "p", "missing.png"], 2, "cannot read image"),
        (["-r", "redshare", "--prompt", "p", "notimage.txt"], 2, "not a readable image"),
        (["-r", "redshare", "--manifest", "bad.jsonl"], 2, "bad.jsonl:2: not valid JSON"),
        (["-r", "redshare", "--manifest", "noprompt.jsonl"], 2, "noprompt.jsonl:1: missing 'prompt'"),
        (["-r", "redshare", "--prompt", "p", "IMG", "--set", "redshare.scale"], 2, "--set expects KEY=VALUE"),
        (
            ["-r", "redshare", "--prompt", "p", "IMG", "--set", "redshare.scale=abc"],
            2,
            "redshare.scale: Input should be a valid number",
        ),
        (
            ["-r", "redshare", "--prompt", "p", "IMG", "--set", "redshare.nope=1"],
            2,
            "redshare.nope: Extra inputs are not permitted",
        ),
        (
            ["-r", "redshare", "--prompt", "p", "IMG", "--set", "other.x=1"],
            2,
            "'other' is not among the rewards",
        ),
        (["-r", "fancy", "--prompt", "p", "IMG"], 2, "run: pip install 'fr-fancy[gpu]'"),
        (
            ["-r", "nanreward", "--prompt", "bad prompt", "IMG"],
            1,
            "reward 'nanreward' gave a non-finite score (nan) for",
        ),
        (
            ["-r", "offline", "--prompt", "p", "IMG"],
            1,
            "could not load its model: OSError: We couldn't connect to 'https://huggingface.co'. Check your",
        ),
        (["-r", "redshare"], 2, "nothing to score"),
        (["--prompt", "p", "IMG"], 2, "no reward given"),
        (
            ["-r", "redshare", "--prompt", "p", "IMG", "--set", "redshare.weights=/no/such/file"],
            2,
            "redshare.weights: model path '/no/such/file' does not exist",
        ),
        (
            ["-r", "redshare", "--prompt", "p", "IMG", "--set", "redshare.weights=org/not-cached"],
            2,
            "redshare.weights: model 'org/not-cached' is not in the local Hugging Face cache and"
            " HF_HUB_OFFLINE is set",
        ),
        (
            ["-r", "oracle", "--prompt", "a cat", "IMG"],
            2,
            "reward 'oracle': prompt 'a cat' is outside the toy-world grammar",
        ),
    ],
)
def test_cli_errors_are_one_line(site: Path, images: Path, args: list[str], code: int, message: str) -> None:
    (images / "bad.jsonl").write_text('{"image": "red.png", "prompt": "x"}\n{oops\n')
    (images / "noprompt.jsonl").write_text('{"image": "red.png"}\n')
    (images / "notimage.txt").write_text("hello")
    args = [str(images / "red.png") if a == "IMG" else a for a in args]
    args = [
        str(images / a) if a in {"bad.jsonl", "noprompt.jsonl", "missing.png", "notimage.txt"} else a
        for a in args
    ]
    offline = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(images / "hub")}
    result = run_fr("score", *args, "--no-cache", path=site, env=offline)
    assert result.returncode == code, result.stderr
    line = _error(result)
    assert line.startswith("error: ") and message in line, line


def test_unreachable_hub_fails_at_once(site: Path, images: Path) -> None:
    """A hub model missing from the cache while the hub does not answer: one line, exit 1, before
    any work (huggingface_hub alone retries a refused connection for about a minute)."""
    unreachable = {
        "HF_HUB_OFFLINE": "0",
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HUB_CACHE": str(images / "hub"),
    }
    args = [
        "-r",
        "redshare",
        "--prompt",
        "p",
        str(images / "red.png"),
        "--set",
        "redshare.weights=org/not-cached",
    ]
    result = run_fr("score", *args, "--no-cache", path=site, env=unreachable)
    assert result.returncode == 1, result.stderr
    line = _error(result)
    assert line.startswith("error: redshare.weights: model 'org/not-cached' is not in the local Hugging Face")
    assert "the hub cannot be reached (http://127.0.0.1:9: " in line, line


def test_hub_is_asked_once_per_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from huggingface_hub import utils

    from finerewards import models
    from finerewards.errors import FRError, UsageError

    asked: list[str] = []

    class Refusing:
        def head(self, url: str, timeout: float) -> None:
            asked.append(url)
            raise ConnectionRefusedError("refused")

    monkeypatch.setattr(utils, "get_session", lambda: Refusing())
    monkeypatch.setattr(models, "_HUB_ANSWERS", {})
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    for repo in ("org/a", "org/b"):
        with pytest.raises(FRError, match="the hub cannot be reached .*ConnectionRefusedError: refused"):
            models.check_hub_model(repo)
    assert len(asked) == 1
    (tmp_path / "models--org--cached").mkdir()
    models.check_hub_model("org/cached")  # in the cache: no question, no error
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError, match="HF_HUB_OFFLINE is set"):
        models.check_hub_model("org/a")
    assert len(asked) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "--batch-size", "0", "-r", "redshare"], "Invalid value for '--batch-size'"),
        (["no-such-command"], "No such command 'no-such-command'. (see `fr -h`)"),
        (["score", "--rewards", "redshare"], "No such option: --rewards (Possible options: --reward)"),
        (["score", "-r"], "Option '-r' requires an argument. (see `fr score -h`)"),
        (["toyworld", "render", "--prompts", "toy:test"], "Missing option '--out'. (see `fr toyworld render"),
    ],
)
def test_parser_errors_are_one_line_and_exit_2(site: Path, args: list[str], message: str) -> None:
    result = run_fr(*args, path=site)
    assert result.returncode == 2
    line = _error(result)  # one line: no usage banner, no box
    assert line.startswith("error: ") and message in line, line


def test_no_arguments_show_the_help(site: Path) -> None:
    result = run_fr(path=site)
    assert "Usage: fr" in result.stdout and "error" not in result.stderr


def test_debug_shows_traceback(site: Path, images: Path) -> None:
    args = ["score", "-r", "nanreward", "--prompt", "bad", str(images / "red.png"), "--no-cache"]
    assert "Traceback" in run_fr("--debug", *args, path=site).stderr
    assert "Traceback" in run_fr(*args, path=site, env={"FR_DEBUG": "1"}).stderr


def test_rewards_json_reports_availability(site: Path) -> None:
    rows = {r["name"]: r for r in json.loads(run_fr("rewards", "--json", path=site).stdout)}
    fancy = rows["fancy"]
    assert fancy["available"] is False and fancy["install"] == "pip install 'fr-fancy[gpu]'"
    red = rows["redshare"]
    assert red["available"] and red["plugin"] == "good" and red["range"] == [0.0, 1.0]
    assert red["higher_is_better"] is True and red["description"]
    text = run_fr("rewards", path=site).stdout
    assert "unavailable: pip install 'fr-fancy[gpu]'" in text


def test_version_and_module_entry(site: Path) -> None:
    result = run_fr("--version", path=site)
    assert result.returncode == 0 and result.stdout.startswith("fr (finerewards) ")


def test_a_long_library_message_is_cut_to_a_readable_line() -> None:
    from finerewards.errors import one_line

    long = "ValueError: Unrecognized configuration class " + "SomeConfig, " * 300
    line = one_line(long, 400)
    assert len(line) < 440 and line.endswith("... (cut; --debug shows all)")
    assert one_line(long) == " ".join(long.split())  # our own messages are never cut
    assert one_line("two\nlines", 400) == "two lines"
