"""Each paper folder runs on its own: it imports common/ and data_prep/, never another paper.

Checked statically (every import statement of every module in the folder, relative
imports resolved) so that the check is fast and covers code paths a run would not touch,
plus each folder's run.sh and command-line entry point exist.
"""

import ast
from pathlib import Path

import pytest

from common.paper import get_paper, paper_names

REPO_ROOT = Path(__file__).resolve().parent.parent
PAPERS_DIR = REPO_ROOT / "papers"
PAPERS = paper_names()


def _imported_modules(path, package):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield ".".join(parts + ([node.module] if node.module else []))
            else:
                yield node.module


@pytest.mark.parametrize("paper", PAPERS)
def test_paper_imports_no_other_paper(paper):
    folder = PAPERS_DIR / paper
    offending = []
    for path in sorted(folder.rglob("*.py")):
        for module in _imported_modules(path, f"papers.{paper}"):
            if module and module.startswith("papers.") and module.split(".")[1] != paper:
                offending.append(f"{path.relative_to(PAPERS_DIR)} imports {module}")
    assert not offending, offending


@pytest.mark.parametrize("paper", PAPERS)
def test_paper_has_entry_points(paper):
    folder = PAPERS_DIR / paper
    for name in ("__main__.py", "paper.py", "model.py", "config.py", "published.json", "README.md", "run.sh"):
        assert (folder / name).is_file(), f"papers/{paper}/{name} is missing"
    assert f"papers.{paper}" in (folder / "run.sh").read_text()


def test_the_registry_holds_the_five_papers_and_their_profiles():
    assert {"drcnn_sam", "ms_ssfnet", "pix2pix_hs", "rdab_coordconv", "unet_ms"} <= set(PAPERS)
    for name in PAPERS:
        paper = get_paper(name)
        assert paper.name == name and paper.task in ("rgb2hs", "sr", "fusion")
        assert {"paper", "quick", "smoke"} <= set(paper.profiles)
        for profile in paper.profiles:
            config = paper.config(profile)
            assert {"model", "data", "train", "eval"} <= set(config), (name, profile)  # one shape


@pytest.mark.parametrize("package", ["common", "data_prep"])
def test_shared_code_imports_no_paper(package):
    """``common`` and ``data_prep`` reach the papers only through the registry."""
    offending = []
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        for module in _imported_modules(path, f"{package}.{path.stem}"):
            if module and (module == "papers" or module.startswith("papers.")):
                offending.append(f"{path.relative_to(REPO_ROOT)} imports {module}")
    assert not offending, offending


def test_the_check_catches_a_cross_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from papers.unet_ms.model import build\nfrom ..drcnn_sam import model\n")
    found = list(_imported_modules(module, "papers.rdab_coordconv"))
    assert found == ["papers.unet_ms.model", "papers.drcnn_sam"]
