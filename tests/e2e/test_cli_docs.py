"""Every example in docs/cli.md runs, in order, against a fresh SQLite store, and its JSON has the
documented shape (every documented key is present, recursively; values may differ)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def examples() -> list[tuple[str, str, int]]:
    """(command line, documented output, expected exit status) in document order."""
    out = []
    for block in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        parts = re.split(r"^\$ ", block, flags=re.M)
        for part in parts[1:]:
            cmd, _, output = part.partition("\n")
            status = 0
            m = re.search(r"\s+# exit (\d+)$", cmd)
            if m:
                status, cmd = int(m.group(1)), cmd[:m.start()]
            out.append((cmd.strip(), output.strip(), status))
    return out


def same_shape(documented, actual, path="$") -> list[str]:
    """Where `actual` lacks something `documented` shows (keys, list items' keys, kinds)."""
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object"]
        probs = []
        for k, v in documented.items():
            if k not in actual:
                probs.append(f"{path}.{k}: missing")
            else:
                probs += same_shape(v, actual[k], f"{path}.{k}")
        return probs
    if isinstance(documented, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list"]
        if documented and actual:
            return same_shape(documented[0], actual[0], f"{path}[0]")
        return []
    if documented is None or actual is None:
        return []
    if isinstance(documented, bool) != isinstance(actual, bool):
        return [f"{path}: expected {type(documented).__name__}"]
    if isinstance(documented, (int, float)) and not isinstance(actual, (int, float)):
        return [f"{path}: expected a number"]
    if isinstance(documented, str) and not isinstance(actual, str):
        return [f"{path}: expected a string"]
    return []


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A fresh folder holding the documented example inputs (docs/examples)."""
    import shutil
    d = tmp_path_factory.mktemp("cli-docs")
    shutil.copytree(DOC.parent / "examples", d / "examples")
    return d


def test_docs_have_examples():
    assert DOC.exists(), "docs/cli.md is missing"
    assert len(examples()) >= 10


def test_every_documented_example_runs_with_its_shape(workdir):
    env = {**os.environ, "CORRIDOR_DATABASE_URL": f"sqlite:///{workdir}/docs.db",
           "CORRIDOR_ADMIN_KEY": "cor_docsadmin_" + "d" * 32, "COLUMNS": "200"}
    corridor = str(Path(sys.executable).with_name("corridor"))
    failures = []
    for cmd, documented, status in examples():
        argv = shlex.split(cmd)
        assert argv[0] == "corridor", cmd
        res = subprocess.run([corridor, *argv[1:]], cwd=workdir, env=env, capture_output=True, text=True,
                             timeout=300)
        if res.returncode != status:
            failures.append(f"{cmd}: exit {res.returncode}, documented {status}: {res.stderr.strip()[-300:]}")
            continue
        if documented.startswith(("{", "[")):
            try:
                actual = json.loads(res.stdout)
            except json.JSONDecodeError:
                failures.append(f"{cmd}: stdout is not one JSON document: {res.stdout[:200]!r}")
                continue
            problems = same_shape(json.loads(documented), actual)
            if problems:
                failures.append(f"{cmd}: " + "; ".join(problems[:5]))
    assert not failures, "\n".join(failures)
