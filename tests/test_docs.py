"""The documents stay true to the tree: every relative link resolves (and its #anchor names a
heading there), every `scripts/...` path, `make` target and `python -m` module they name exists,
the README stays a guide, and the model facts its example shows are the served model file's."""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest

from export.shared_data import SHARED_DATA
from function.inference import GenderClassifier
from function.schemas import FACES_EXAMPLE, ModelInfo
from function.settings import DEFAULT_MODEL_PATH, MAX_BODY_BYTES, MAX_PIXELS
from test_openapi import readme_response_example
from test_template_defaults import not_the_settings_defaults

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCUMENTS = [
    README,
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "frontend" / "README.md",
    ROOT / "MODEL_CARD.md",
    ROOT / "export" / "EXPERIMENTS.md",
    ROOT / "bench" / "RESULTS.md",
    ROOT / "tests" / "fixtures" / "README.md",
]
README_MAX_LINES = 200

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`([^`\n]+)`")
SCRIPT = re.compile(r"\bscripts/[\w./-]*\w")
MAKE = re.compile(r"(?:^|[\s;&|(])make\s+([A-Za-z][\w-]*)", re.M)
PYTHON_MODULE = re.compile(r"\bpython[\d.]*\s+-m\s+([A-Za-z_][\w.]*\w)")
MAKEFILE_TARGET = re.compile(r"^([A-Za-z][\w-]*)\s*:(?!=)", re.M)


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return FENCE.sub("", text)


def code(text: str) -> str:
    """The fenced code blocks and inline code spans: where commands are written."""
    return "\n".join([m.group(0) for m in FENCE.finditer(text)] + INLINE_CODE.findall(prose(text)))


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors for a document's headings: lower case, punctuation dropped, spaces to
    hyphens, a repeated heading numbered -1, -2, ..."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", prose(markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return found


def broken_links(document: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for target in LINK.findall(prose(document.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        if not resolved.is_relative_to(root) and not resolved.is_relative_to(SHARED_DATA.parent):
            broken.append(f"{target}: outside the repository and ../shared")
        elif resolved.is_relative_to(SHARED_DATA.parent) and not SHARED_DATA.is_dir():
            continue  # ../shared is not beside this checkout
        elif not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text()):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    return broken


def makefile_targets() -> set[str]:
    return set(MAKEFILE_TARGET.findall((ROOT / "Makefile").read_text()))


def module_exists(name: str) -> bool:
    as_path = ROOT.joinpath(*name.split("."))
    if as_path.with_suffix(".py").is_file() or (as_path / "__init__.py").is_file():
        return True
    if (ROOT / name.split(".")[0]).is_dir():
        return False  # one of ours, and not there
    return importlib.util.find_spec(name.split(".")[0]) is not None


@pytest.mark.parametrize("document", DOCUMENTS, ids=ids(DOCUMENTS))
def test_every_relative_link_resolves(document):
    assert document.is_file()
    assert broken_links(document) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=ids(DOCUMENTS))
def test_every_script_make_target_and_module_named_exists(document):
    text = document.read_text()
    commands = code(text)
    missing = [p for p in SCRIPT.findall(text) if not (ROOT / p).exists()]
    missing += [f"make {t}" for t in MAKE.findall(commands) if t not in makefile_targets()]
    missing += [f"python -m {m}" for m in PYTHON_MODULE.findall(commands) if not module_exists(m)]
    assert missing == []


def test_the_checks_catch_what_has_gone_stale(tmp_path):
    stale = tmp_path / "docs" / "stale.md"
    stale.parent.mkdir()
    stale.write_text("# Title\n\n[gone](gone.md), [here](#title), [no such part](#nowhere)\n")
    assert broken_links(stale, root=tmp_path) == ["gone.md: no such file", "#nowhere: no heading #nowhere in stale.md"]
    assert anchors("# A `b` (c): d\n## A `b` (c): d\n```\n# not a heading\n```\n") == {"a-b-c-d", "a-b-c-d-1"}
    assert sorted(MAKE.findall(code("run `make local-api`; to make it\n```\nmake gone EVENT=x\n```\n"))) == ["gone", "local-api"]
    assert "gone" not in makefile_targets() and "local-invoke" in makefile_targets()
    assert PYTHON_MODULE.findall("`.venv/bin/python -m export.train --x` and `python3.12 -m function.invoke`") == [
        "export.train",
        "function.invoke",
    ]
    assert module_exists("export.train") and module_exists("uvicorn")
    assert not module_exists("export.no_such_module") and not module_exists("function.gone")


def test_the_readme_is_a_guide_that_links_every_other_document():
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in LINK.findall(prose(text))}
    assert set(DOCUMENTS[1:]) <= linked
    assert "scripts/serve.sh" in text and "scripts/test.sh" in text


def readme_settings() -> dict[str, str]:
    """{FACES_X: its default} from the README's settings table."""
    rows = re.findall(r"^\| `(FACES_[A-Z_]+)` \| ([^|]+) \|", README.read_text(), re.M)
    return {name: default.strip().strip("`") for name, default in rows}


def test_the_readme_lists_every_setting_with_its_default(monkeypatch):
    documented = readme_settings()
    read = set(re.findall(r"[\"'](FACES_[A-Z_]+)[\"']", "".join(p.read_text() for p in (ROOT / "function").rglob("*.py"))))
    assert set(documented) == read
    assert (ROOT / documented["FACES_MODEL_PATH"]).resolve() == DEFAULT_MODEL_PATH.resolve()
    literal = {name: value for name, value in documented.items() if re.fullmatch(r"\d+|\*", value)}
    assert {"FACES_MAX_BODY_BYTES", "FACES_MAX_PIXELS", "FACES_UPSAMPLE", "FACES_MAX_SIDE"} <= set(literal)
    assert not_the_settings_defaults(literal, monkeypatch) == []


@pytest.fixture(scope="module")
def served_model() -> GenderClassifier:
    return GenderClassifier(DEFAULT_MODEL_PATH)


def test_the_readme_example_shows_the_served_model(served_model):
    example, info = readme_response_example(), served_model.info
    assert example["model"] == {"name": info["name"], "version": info["version"]}
    assert example["min_confidence"] == info["min_confidence"]


def test_the_openapi_examples_show_the_served_model(served_model):
    info = served_model.info
    assert FACES_EXAMPLE["model"] == {"name": info["name"], "version": info["version"]}
    assert FACES_EXAMPLE["min_confidence"] == info["min_confidence"]
    [example] = ModelInfo.model_config["json_schema_extra"]["examples"]
    for key in ("name", "version", "min_confidence"):
        assert example[key] == info[key], key
    for key in ("onnx_sha256", "source_checkpoint_sha256"):  # shortened
        assert info[key].startswith(example[key].removesuffix("…")), key
    *shown, temperature = example["input"].values()
    assert json.loads(json.dumps(asdict(served_model.spec))) == dict(zip(example["input"], shown))
    assert temperature == pytest.approx(served_model.temperature, abs=5e-5)
    validation = info["metrics"]["validation"]["all"]
    assert example["metrics"]["validation"]["all"].items() <= validation.items()


def test_the_readme_gives_the_size_limits_in_force():
    limits = [line for line in README.read_text().splitlines() if line.startswith("| 413 |")]
    assert limits == [f"| 413 | `body_too_large` (body over {MAX_BODY_BYTES / 2**20:g} MiB), `too_many_pixels` (image over "
                      f"{MAX_PIXELS / 1e6:g} megapixels) |"]
