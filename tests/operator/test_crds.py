"""Offline checks of the CRD files: structural, described, and shipped in the chart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CRDS = sorted((REPO / "crds").glob("*.yaml"))
CHART_CRDS = REPO / "charts" / "scrm-operator" / "crds"


def schemas(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from schemas(child, f"{path}.{name}")
    if "items" in node:
        yield from schemas(node["items"], f"{path}[]")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from schemas(extra, f"{path}{{}}")


@pytest.mark.parametrize("path", CRDS, ids=lambda p: p.name)
def test_crd_is_structural_and_every_field_is_described(path: Path) -> None:
    crd = yaml.safe_load(path.read_text())
    (version,) = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    root = version["schema"]["openAPIV3Schema"]
    undescribed = []
    for where, node in schemas(root, "root"):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), where
        if where != "root.metadata" and "description" not in node and not where.endswith("{}"):
            undescribed.append(where)
    assert undescribed == []
    status = root["properties"]["status"]
    assert status["x-kubernetes-preserve-unknown-fields"] is True  # kopf keeps its progress
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Ready", "Age"} <= columns


def test_chart_ships_the_same_crds() -> None:
    shipped = {
        p.name: p.read_text() for p in CHART_CRDS.glob("*.yaml") if p.name in {c.name for c in CRDS}
    }
    assert shipped == {p.name: p.read_text() for p in CRDS}
