"""The README's quick start runs as written, on every backend."""

import ast
import re

import keras

from tests.helpers.processes import ROOT
from tests.helpers.readme import README, quick_start

README_TEXT = README.read_text()


def test_quick_start_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # it saves model.keras where it runs
    exec(compile(quick_start(), "README.md", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.rstrip().endswith("(2, 10)")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert type(restored.loss).__name__ == "WSoftmax" and restored.loss.alpha == 0.2


def test_every_example_header_gives_the_readme_command_and_a_measured_time():
    rows = re.findall(
        r"^\| \[(\w+)\.py\]\(examples/\1\.py\) \| .* \| `(.+)` \|$", README_TEXT, re.M
    )
    assert {name for name, _ in rows} == {p.stem for p in (ROOT / "examples").glob("*.py")}
    for name, command in rows:
        header = ast.get_docstring(ast.parse((ROOT / "examples" / f"{name}.py").read_text()))
        assert command in header, (name, command)
        took = r"The first command( \([^)]*\))? took \d+ (s|min)"
        assert re.search(took, " ".join(header.split())), name


def test_the_package_description_is_the_readme_without_relative_links():
    """The wheel's long description (DESCRIPTION.md) works outside the repository."""
    description = (ROOT / "DESCRIPTION.md").read_text()
    assert description.startswith(README_TEXT[: README_TEXT.index("Until the first release")])
    assert f"```python\n{quick_start()}```" in description
    links = re.findall(r"\]\(([^)]+)\)", description)
    assert links and all(link.startswith("https://") for link in links), links
