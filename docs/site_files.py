"""A hook of mkdocs (`mkdocs.yml`): the site's files are the repository's, at their repository paths.

The README, `docs/`, `reports/`, the examples and the changelog link to each
other by relative paths that work in the repository. Serving each file at
its repository path keeps every such link working on the site too, and lets
``mkdocs build --strict`` fail on one that does not resolve.
"""

from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
PATTERNS = [
    "README.md",
    "CHANGELOG.md",
    "CONTRIBUTING.md",
    "LICENSE",
    "docs/*.md",
    "examples/*",
    "reports/**/*",
]


def on_files(files, config):
    """The theme's files, and the repository's files of `PATTERNS` in place of `docs_dir`'s."""
    docs_dir = Path(config["docs_dir"]).resolve()
    kept = [
        f for f in files if f.abs_src_path is None or docs_dir not in Path(f.abs_src_path).parents
    ]
    paths = sorted({p for pattern in PATTERNS for p in ROOT.glob(pattern) if p.is_file()})
    ours = [
        File(
            p.relative_to(ROOT).as_posix(),
            str(ROOT),
            config["site_dir"],
            config["use_directory_urls"],
        )
        for p in paths
        if "__pycache__" not in p.parts
    ]
    return Files(kept + ours)
