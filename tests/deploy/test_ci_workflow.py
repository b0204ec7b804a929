"""``docs/ci/release-gate.yml``: a valid GitHub Actions workflow whose commands exist.

Offline: the workflow is checked against SchemaStore's GitHub workflow schema as
vendored by ``check-jsonschema``; each ``run:`` script passes ``bash -n``; the
``locust`` and ``wsharness report`` command lines are parsed by the real parsers
(Locust's with the suite's options, in a subprocess so that gevent stays out of
pytest), and every ``--slo`` objective parses.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from wsharness.cli import build_parser
from wsharness.loadclient.slo import parse_objective

REPO = Path(__file__).parents[2]
WORKFLOW = REPO / "docs" / "ci" / "release-gate.yml"
GATE_FLAGS = "--fail-on slo --baseline $BASELINE --fail-on regression"  # "${gate[@]}"
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
VALUES = {  # what the shell variables hold when the scripts run
    "RUN_DIR": "results/run",
    "STAGING_WS_URL": "wss://staging.example.com",
    "SHAPE_USERS": "4000",
    "BASELINE": "baseline/run",
}


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "check_jsonschema"]
    command += ["--builtin-schema", "vendor.github-workflows", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def scripts() -> list[str]:
    return [step["run"] for step in steps() if "run" in step]


def command_line(program: str) -> list[str]:
    """The words of the one ``program ...`` command in the scripts, variables filled."""
    for script in scripts():
        joined = script.replace("\\\n", " ")
        for line in joined.splitlines():
            if line.strip().startswith(program + " "):
                line = line.split("||")[0]
                line = line.replace('"${gate[@]}"', GATE_FLAGS)
                for name, value in VALUES.items():
                    line = line.replace(f'"${name}', f'"{value}').replace(f"${name}", value)
                return shlex.split(line)[len(program.split()) :]
    raise AssertionError(f"no {program} command in {WORKFLOW}")


def test_the_workflow_is_valid_against_the_github_workflow_schema() -> None:
    result = check_schema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_refuses_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "run-on:"))
    assert check_schema(broken).returncode != 0


@pytest.mark.parametrize("index", range(len(scripts())))
def test_each_step_script_is_valid_bash(index: int) -> None:
    script = EXPRESSION.sub("x", scripts()[index])
    result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_locust_run_gates_on_the_objectives_of_the_issue() -> None:
    words = command_line("locust")
    objectives = [words[i + 1] for i, word in enumerate(words) if word == "--slo"]
    assert objectives == [
        "deliver:p99<250ms",
        "connect:p95<500ms",
        "errors<0.1%",
        "completeness>99.9%",
    ]
    for objective in objectives:
        parse_objective(objective)
    check = (
        "import sys, wsharness.loadclient.suite\n"
        "from locust.argument_parser import parse_options\n"
        "options = parse_options(sys.argv[1:])\n"
        "print(options.slo, options.csv_prefix)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check, *words],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "results/run/run" in result.stdout


def test_the_report_compares_with_the_last_release_and_attaches_the_report() -> None:
    args = build_parser().parse_args(["report", *command_line("wsharness report")])
    assert args.fail_on == ["slo", "regression"]
    assert args.baseline == Path("baseline/run")
    assert args.emit_k8s == Path("results/run/k8s")
    uploads = [
        step for step in steps() if step.get("uses", "").startswith("actions/upload-")
    ]
    assert uploads and uploads[0]["with"]["path"] == "${{ env.RUN_DIR }}"
    assert uploads[0]["if"] == "always()"
    gate = next(step for step in steps() if step.get("name") == "Gate")
    assert 'exit "$status"' in gate["run"]
