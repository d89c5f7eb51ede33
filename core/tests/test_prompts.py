"""The general prompt loader: every file format, the shared public sets, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finerewards.errors import UsageError
from finerewards.prompts import load_prompts

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared/data not present")


def test_text_file_mixed_line_endings_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_bytes(b"a red circle\r\n\r\n  two blue squares  \nthe end")
    assert load_prompts(str(path)) == ["a red circle", "two blue squares", "the end"]


def test_duplicates_are_kept_in_order(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("b\na\nb\n")
    assert load_prompts(str(path)) == ["b", "a", "b"]


def test_jsonl_prompt_or_caption(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    rows = [{"prompt": "one", "x": 1}, {"caption": "two"}, "three"]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert load_prompts(str(path)) == ["one", "two", "three"]


def test_jsonl_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "ok"}\n{"nope": 1}\n')
    with pytest.raises(UsageError, match=r"p\.jsonl:2"):
        load_prompts(str(path))


def test_json_list(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(["a", {"prompt": "b"}]))
    assert load_prompts(str(path)) == ["a", "b"]


def test_csv_column_choice_and_quoting(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('id,caption\n1,"a cat, sitting"\n2,"say ""hi"""\n')
    assert load_prompts(str(path)) == ["a cat, sitting", 'say "hi"']


def test_csv_without_prompt_column(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,label\n1,x\n")
    with pytest.raises(UsageError, match="no prompt column.*id, label"):
        load_prompts(str(path))


def test_tsv_unquoted_literal_quote_and_quoted_field(tmp_path: Path) -> None:
    path = tmp_path / "p.tsv"
    path.write_text('Prompt\tNote\n"G I G G L E" painted on a wall\tx\n"a ""quoted"" word"\ty\n')
    assert load_prompts(str(path)) == ['"G I G G L E" painted on a wall', 'a "quoted" word']


@pytest.mark.parametrize(
    "content, message",
    [(b"", "holds no prompts"), (b"\n  \r\n", "holds no prompts"), (b"\xff\xfe\xfa", "cannot read")],
)
def test_empty_or_unreadable_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "p.txt"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=message):
        load_prompts(str(path))


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_prompts(str(tmp_path / "nope.txt"))
    with pytest.raises(UsageError, match="not a file"):
        load_prompts(str(tmp_path))
    with pytest.raises(UsageError, match="empty prompt source"):
        load_prompts("  ")


def test_toy_sets() -> None:
    train, test = load_prompts("toy:train"), load_prompts("toy:test")
    assert len(train) > 100 and len(test) > 100
    assert all(p == p.strip() and p for p in train + test)
    with pytest.raises(UsageError, match="unknown toy prompt set"):
        load_prompts("toy:valid")


def test_hub_source_without_datasets_or_bad_form() -> None:
    with pytest.raises(UsageError, match="DATASET"):
        load_prompts("hf:")
    try:
        import datasets  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match="pip install datasets"):
            load_prompts("hf:nlphuji/flickr30k:test:caption")


@needs_data
def test_partiprompts_keeps_the_literal_leading_quote() -> None:
    prompts = load_prompts(str(DATA / "partiprompts" / "PartiPrompts.tsv"))
    assert len(prompts) == 1632
    assert prompts[0] == "bond"
    giggle = [p for p in prompts if "G I G G L E" in p]
    assert len(giggle) == 1 and giggle[0].startswith('"G I G G L E" painted')
    assert sum('"' in p for p in prompts) >= 5


@needs_data
def test_coco_captions_are_unquoted() -> None:
    prompts = load_prompts(str(DATA / "coco-captions" / "captions_source.tsv"))
    assert len(prompts) == 5000
    assert prompts[0] == "A city at night with people walking around."
    cheese = [p for p in prompts if "Cheese Shop" in p]
    assert cheese == [
        'A man in glasses sitting next to a woman and holding up a red frisbee that says "Cheese Shop" on it.'
    ]
    assert not any(p.startswith('"') or '""' in p for p in prompts)


@needs_data
def test_geneval_jsonl_and_txt_agree() -> None:
    from_jsonl = load_prompts(str(DATA / "geneval" / "evaluation_metadata.jsonl"))
    from_txt = load_prompts(str(DATA / "geneval" / "generation_prompts.txt"))
    assert len(from_jsonl) == 553
    assert from_jsonl == from_txt


@needs_data
def test_t2i_compbench_crlf_files() -> None:
    folder = DATA / "t2i-compbench"
    files = sorted(p for p in folder.glob("*.txt") if p.name not in {"LICENSE.txt"})
    assert len(files) >= 30
    for path in files:
        prompts = load_prompts(str(path))
        assert prompts, path
        assert not any("\r" in p or p != p.strip() for p in prompts), path
    assert len(load_prompts(str(folder / "color_val.txt"))) == 300
