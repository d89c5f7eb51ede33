"""Plugin loading: temporary plugins, broken plugins, duplicates, misspelled hooks, disabling."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
import sample_rewards
from fakes import make_dist, run_fr

from finerewards import RewardSpec, hookimpl
from finerewards.errors import UsageError
from finerewards.plugins import PluginHost
from finerewards.registry import Registry, get_registry


def test_temporary_plugin_registers_and_unregisters() -> None:
    host = PluginHost().load(entry_points=False)
    host.register(sample_rewards, "samples")
    assert "redshare" in Registry.from_host(host).rewards
    host.unregister("samples")
    registry = Registry.from_host(host)
    assert "redshare" not in registry.rewards
    assert {"zscore", "rank"} <= set(registry.normalizers)
    assert "rank-sum" in registry.aggregators


def test_builtins_register_through_the_same_hooks() -> None:
    host = PluginHost().load(entry_points=False)
    registry = Registry.from_host(host)
    assert registry.normalizers["zscore"].plugin.name == "normalizers"
    assert registry.aggregators["pareto"].plugin.builtin


def _plugin(name: str, hooks: dict[str, object]) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in hooks.items():
        setattr(module, key, value)
    return module


def test_hook_that_raises_keeps_nothing_and_is_named_on_lookup() -> None:
    @hookimpl
    def register_rewards(register):  # type: ignore[no-untyped-def]
        register(RewardSpec(name="half", description="d", factory="x:y"))
        raise RuntimeError("weights not found")

    host = PluginHost().load(entry_points=False)
    info = host.register(_plugin("halfplugin", {"register_rewards": register_rewards}), "half")
    host.register(sample_rewards, "samples")
    registry = Registry.from_host(host)
    assert "half" not in registry.rewards
    assert "redshare" in registry.rewards  # the other plugin is unaffected
    assert info.errors == ["register_rewards raised RuntimeError: weights not found"]
    with pytest.raises(UsageError, match="plugin 'half'.*weights not found"):
        registry.reward("half")


def test_duplicate_names_stay_with_first_owner() -> None:
    @hookimpl
    def register_rewards(register):  # type: ignore[no-untyped-def]
        register(RewardSpec(name="redshare", description="impostor", factory="x:y"))

    host = PluginHost().load(entry_points=False)
    host.register(sample_rewards, "samples")
    late = host.register(_plugin("dup", {"register_rewards": register_rewards}), "dup")
    registry = Registry.from_host(host)
    assert registry.reward("redshare").description.startswith("share of red")
    assert late.errors and "already owned by plugin 'samples'" in late.errors[0]


def test_misspelled_hook_is_reported_not_loaded() -> None:
    @hookimpl
    def register_reward(register):  # type: ignore[no-untyped-def]  # missing "s"
        raise AssertionError("must never be called")

    host = PluginHost().load(entry_points=False)
    info = host.register(_plugin("typo", {"register_reward": register_reward}), "typo")
    assert info.errors and "unknown hook 'register_reward'" in info.errors[0]
    assert not host.pm.has_plugin("typo")
    Registry.from_host(host)  # other hooks still run


def test_unknown_reward_suggests_closest_name() -> None:
    host = PluginHost().load(entry_points=False)
    host.register(sample_rewards, "samples")
    with pytest.raises(UsageError, match="did you mean 'redshare'.*available: .*promptlen"):
        Registry.from_host(host).reward("redshar")


BROKEN_IMPORT = """
raise ImportError("no module named 'secret_sauce'")
"""
RAISING_HOOK = """
from finerewards import RewardSpec, hookimpl

@hookimpl
def register_rewards(register):
    register(RewardSpec(name="flaky", description="d", factory="x:y"))
    raise RuntimeError("config file missing")
"""
DUPLICATE = """
from finerewards import NormalizerSpec, hookimpl

@hookimpl
def register_normalizers(register):
    register(NormalizerSpec("zscore", lambda v: list(v), "impostor"))
"""
TYPO = """
from finerewards import hookimpl

@hookimpl
def register_rewardz(register):
    pass
"""
GOOD = """
from sample_rewards import register_rewards  # noqa: F401
"""
HEAVY = """
import torch  # noqa: F401  (what an entry-point module must not do)
from finerewards import hookimpl

@hookimpl
def register_rewards(register):
    pass
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    make_dist(root, "fr-broken", {"fr_broken": BROKEN_IMPORT}, {"broken": "fr_broken"})
    make_dist(root, "fr-flaky", {"fr_flaky": RAISING_HOOK}, {"flaky": "fr_flaky"})
    make_dist(root, "fr-dup", {"fr_dup": DUPLICATE}, {"dup": "fr_dup"})
    make_dist(root, "fr-typo", {"fr_typo": TYPO}, {"typo": "fr_typo"})
    make_dist(root, "fr-good", {"fr_good": GOOD}, {"good": "fr_good"})
    return root


def test_broken_plugins_leave_cli_working(site: Path) -> None:
    assert run_fr("--help", path=site).returncode == 0
    rewards = run_fr("rewards", "--json", path=site)
    assert rewards.returncode == 0, rewards.stderr
    names = {row["name"] for row in json.loads(rewards.stdout)}
    assert {"redshare", "promptlen"} <= names and "flaky" not in names

    listing = run_fr("plugins", "--json", path=site)
    assert listing.returncode == 0, listing.stderr
    by_name = {row["name"]: row for row in json.loads(listing.stdout)}
    broken = by_name["broken"]
    assert (broken["distribution"], broken["version"], broken["ok"]) == ("fr-broken", "1.2.3", False)
    assert "ImportError: no module named 'secret_sauce'" in broken["errors"][0]
    assert "config file missing" in by_name["flaky"]["errors"][0]
    assert "already owned by plugin 'normalizers'" in by_name["dup"]["errors"][0]
    assert "unknown hook 'register_rewardz'" in by_name["typo"]["errors"][0]
    assert by_name["good"]["ok"] and by_name["good"]["provides"]["rewards"] == [
        "redshare",
        "promptlen",
        "nanreward",
        "offline",
    ]
    text = run_fr("plugins", path=site).stdout
    assert "FAILED" in text and "fr-broken 1.2.3" in text


def test_asking_for_a_broken_plugins_reward_names_it(site: Path, tmp_path: Path) -> None:
    result = run_fr("score", "--reward", "flaky", "--prompt", "x", str(tmp_path / "a.png"), path=site)
    assert result.returncode == 2
    assert result.stderr.startswith("error: reward 'flaky' comes from plugin 'flaky' (fr-flaky 1.2.3)")
    assert "Traceback" not in result.stderr
    unknown = run_fr("score", "--reward", "nosuchreward", "--prompt", "x", "a.png", path=site)
    assert "broken plugins: plugin 'broken' (fr-broken 1.2.3): import failed" in unknown.stderr


def test_disable_plugins_by_name_or_distribution(site: Path) -> None:
    result = run_fr("plugins", "--json", path=site, env={"FR_DISABLE_PLUGINS": "broken, fr-good"})
    names = {row["name"] for row in json.loads(result.stdout)}
    assert "broken" not in names and "good" not in names and "flaky" in names
    text = run_fr("plugins", path=site, env={"FR_DISABLE_PLUGINS": "broken, fr-good"}).stdout
    assert "skipped by FR_DISABLE_PLUGINS: broken, fr-good" in text
    asked = run_fr(
        "score", "-r", "redshare", "--prompt", "x", "a.png", path=site, env={"FR_DISABLE_PLUGINS": "fr-good"}
    )
    assert asked.returncode == 2 and "plugins skipped by FR_DISABLE_PLUGINS: fr-good" in asked.stderr


def test_a_plugin_importing_torch_works_with_a_warning(tmp_path: Path) -> None:
    site = make_dist(tmp_path / "site", "fr-heavy", {"fr_heavy": HEAVY}, {"heavy": "fr_heavy"})
    listing = run_fr("plugins", "--json", path=site)
    heavy = {row["name"]: row for row in json.loads(listing.stdout)}["heavy"]
    assert heavy["ok"] and heavy["warnings"] == [
        "importing fr_heavy imports torch, which slows every `fr` command: import them in the"
        " reward's factory module instead"
    ]
    assert "warning: importing fr_heavy imports torch" in run_fr("plugins", path=site).stdout
    quiet = {row["name"]: row for row in json.loads(run_fr("plugins", "--json").stdout)}
    assert not any(row["warnings"] for row in quiet.values())  # the shipped plugins import none


def test_listing_commands_import_no_heavy_library(site: Path) -> None:
    code = (
        "import sys\n"
        "HEAVY = ('torch', 'transformers', 'diffusers', 'segment_anything', 'peft', 'accelerate')\n"
        "from finerewards.cli import main\n"
        "for argv in (['--help'], ['plugins'], ['rewards', '--json'], ['toyworld', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in HEAVY if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(Path(__file__).parent)])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "HEAVY=\n" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]


def test_process_registry_loads_builtins() -> None:
    registry = get_registry()
    assert "rank-sum" in registry.aggregators
