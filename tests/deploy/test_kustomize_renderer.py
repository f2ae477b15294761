"""The test renderer refuses what it does not implement, so no manifest is silently skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from .kustomize import KustomizeError, render, strategic_merge

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_an_unsupported_kustomization_key_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"kustomization.yaml": "resources: [cm.yaml]\nhelmCharts: []\n", "cm.yaml": CM})
    with pytest.raises(KustomizeError, match="helmCharts"):
        render(tmp_path)


def test_a_file_outside_the_kustomization_folder_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"outside.yaml": CM, "k/kustomization.yaml": "resources: [../outside.yaml]\n"})
    with pytest.raises(KustomizeError, match="outside"):
        render(tmp_path / "k")


def test_a_patch_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "kustomization.yaml": "resources: [cm.yaml]\npatches:\n"
            "  - {path: p.yaml, target: {kind: Deployment}}\n",
            "cm.yaml": CM,
            "p.yaml": "- {op: replace, path: /spec/replicas, value: 1}\n",
        },
    )
    with pytest.raises(KustomizeError, match="matches no resource"):
        render(tmp_path)


def test_strategic_merge_merges_named_list_items_and_replaces_scalars() -> None:
    base = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], "n": 1}
    patch = {"env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}], "n": 2}
    assert strategic_merge(base, patch) == {
        "env": [
            {"name": "A", "value": "1"},
            {"name": "B", "value": "3"},
            {"name": "C", "value": "4"},
        ],
        "n": 2,
    }
