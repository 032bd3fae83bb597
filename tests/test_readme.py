"""The README stays true: its Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_python_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})


def test_readme_commands_name_real_subcommands(cli):
    text = README.read_text(encoding="utf-8")
    for command in sorted(set(re.findall(r"^upscale (\w+)", text, re.M))):
        if command in {"eval", "models", "demo", "train", "bench", "upscale", "export", "zoo", "compare", "weights"}:
            assert cli([command, "--help"]).exit_code == 0, command
