"""``deploy/k8s/``: the manifests with placeholder figures, valid and up to date."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.validate import load, validate
from wsharness.report import k8s

DEPLOY = Path(__file__).parents[2] / "deploy" / "k8s"


@pytest.mark.parametrize("path", sorted(k8s.FILES))
def test_each_placeholder_manifest_is_valid_offline(path: str) -> None:
    validate(load(DEPLOY / path))


@pytest.mark.parametrize("path", sorted(k8s.FILES))
def test_each_placeholder_manifest_is_what_emit_k8s_writes(path: str) -> None:
    plan = k8s.EXAMPLE_PLAN
    expected = k8s.render(path, k8s.manifests(plan)[path], plan)
    assert (DEPLOY / path).read_text() == expected, (
        f"deploy/k8s/{path} is stale: python -m wsharness.report.k8s deploy/k8s"
    )


def test_no_other_file_in_deploy_k8s_is_left_behind() -> None:
    found = {str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("*.yaml")}
    assert found == set(k8s.FILES)
