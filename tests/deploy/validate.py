"""Offline validation of Kubernetes manifests against the Kubernetes JSON schemas.

Core kinds (Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler,
ConfigMap) go through ``kubernetes-validate`` in strict mode (unknown fields refused),
with the schemas it ships (no network).  KEDA's ScaledObject is a custom resource
whose schema ``kubernetes-validate`` does not carry: it is checked against
``keda_scaledobject.schema.json`` beside this file (KEDA's field types, required
fields and closed property sets for what we emit), whose ``metadata`` and HPA
``behavior`` refer to the same Kubernetes definitions ``kubernetes-validate`` uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

KUBERNETES_VERSION = "1.30.0"  # the oldest version the manifests must work on
KEDA_SCHEMA = Path(__file__).with_name("keda_scaledobject.schema.json")


def load(path: Path) -> dict[str, Any]:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert len(documents) == 1, f"{path}: one manifest per file"
    return documents[0]


def _definitions() -> Resource[Any]:
    folder = f"kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict"
    return Resource.from_contents(
        schema_contents(f"{folder}/_definitions.json", KUBERNETES_VERSION)
    )


def validate_scaled_object(manifest: dict[str, Any]) -> None:
    schema = json.loads(KEDA_SCHEMA.read_text())
    registry: Registry[Any] = _definitions() @ Registry()
    jsonschema.Draft202012Validator(schema, registry=registry).validate(manifest)


def validate(manifest: dict[str, Any]) -> str:
    """Raise if ``manifest`` breaks its schema; return which schema judged it."""
    if manifest.get("apiVersion", "").startswith("keda.sh/"):
        validate_scaled_object(manifest)
        return "KEDA ScaledObject schema (tests/deploy)"
    version = kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    return f"Kubernetes {version} (strict)"
