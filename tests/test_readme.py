"""The README's dataset catalogue is generated from the registry: it may not drift from the code."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pipelines.sources.catalog import markdown_table
from pipelines.sources.registry import DATASETS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_catalog_matches_the_registry():
    text = README.read_text()
    start = text.index("<!-- catalog:start -->") + len("<!-- catalog:start -->")
    end = text.index("<!-- catalog:end -->")
    expected = markdown_table(DATASETS, dt.date(2025, 11, 20))
    assert text[start:end].strip() == expected, "regenerate with: .venv/bin/python -m pipelines.sources.catalog"


ROOT = README.parent


def test_make_help_lists_every_target_and_the_readme_names_no_file_a_clone_lacks():
    import re
    import subprocess

    makefile = (ROOT / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY: (.*)$", makefile, re.M).group(1).split()) - {"help"}
    shown = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = {m.group(1) for m in re.finditer(r"^make ([a-z-]+)", shown, re.M)}
    assert phony == listed, (sorted(phony - listed), sorted(listed - phony))
    text = README.read_text()
    # ../shared exists beside the workplace's checkout only: the README may say where tests look for the recorded
    # bodies, but must not send a reader there for documentation.
    assert "../shared/docs" not in text
    for target in re.findall(r"`make ([a-z-]+)", text):
        assert target in phony | {"help"}, f"the README names `make {target}`, which the Makefile lacks"
