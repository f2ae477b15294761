"""A small kustomize renderer for tests (there is no kustomize binary on this machine).

It supports exactly what deploy/k8s uses: resources (files and directories), namespace,
labels, images, configMapGenerator (files and literals, with kustomize's content-hash name
suffix and the references to it rewritten), and patches (strategic-merge files, or JSON 6902
operations with a target of kind and optional name). Any other kustomization key is an
error, so the tests never silently ignore part of a manifest.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]
KNOWN = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "configMapGenerator",
    "generatorOptions",
    "patches",
}
CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "PriorityClass",
    "StorageClass",
}
MERGE_KEYS = ("name", "mountPath", "containerPort")


class KustomizeError(ValueError):
    """The kustomization uses something this renderer (or kustomize) rejects."""


def render(root: Path) -> list[Doc]:
    """Render the kustomization in `root` into a list of resources."""
    kust = _load_kustomization(root)
    docs: list[Doc] = []
    for ref in kust.get("resources", []):
        docs.extend(_resource(root, ref))
    hashed = kust.get("generatorOptions", {}).get("disableNameSuffixHash") is not True
    renames = {}
    for gen in kust.get("configMapGenerator", []):
        cm, old = _configmap(root, gen, hashed)
        docs.append(cm)
        renames[old] = cm["metadata"]["name"]
    for patch in kust.get("patches", []):
        _patch(root, docs, patch)
    for doc in docs:
        _rename_configmap_refs(doc, renames)
        _namespace(doc, kust.get("namespace"))
        for entry in kust.get("labels", []):
            _labels(doc, entry)
        _images(doc, kust.get("images", []))
    return docs


def _load_kustomization(root: Path) -> Doc:
    path = root / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{root} has no kustomization.yaml")
    kust = yaml.safe_load(path.read_text()) or {}
    unknown = set(kust) - KNOWN
    if unknown:
        raise KustomizeError(f"{path}: unsupported keys {sorted(unknown)}")
    return dict(kust)


def _inside(root: Path, ref: str) -> Path:
    """kustomize's default load restrictor: files must stay under the kustomization root."""
    path = (root / ref).resolve()
    if not path.is_relative_to(root.resolve()):
        raise KustomizeError(f"{ref} is outside {root} (kustomize refuses to load it)")
    return path


def _resource(root: Path, ref: str) -> list[Doc]:
    path = (root / ref).resolve()
    if path.is_dir():
        return render(path)
    path = _inside(root, ref)
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _configmap(root: Path, gen: Doc, hashed: bool) -> tuple[Doc, str]:
    if set(gen) - {"name", "files", "literals"}:
        raise KustomizeError(f"configMapGenerator {gen.get('name')}: unsupported keys")
    data: dict[str, str] = {}
    for spec in gen.get("files", []):
        key, _, ref = spec.partition("=") if "=" in spec else ("", "", spec)
        data[key or Path(ref).name] = _inside(root, ref).read_text()
    for literal in gen.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    name = gen["name"]
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]
    full = f"{name}-{digest}" if hashed else name
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": full}, "data": data}, name


def _patch(root: Path, docs: list[Doc], patch: Doc) -> None:
    body = yaml.safe_load(_inside(root, patch["path"]).read_text())
    target = patch.get("target")
    if isinstance(body, list):
        if not target:
            raise KustomizeError(f"{patch['path']}: a JSON 6902 patch needs a target")
        hits = [d for d in docs if _matches(d, target)]
        for doc in hits:
            for op in body:
                _json6902(doc, op)
    else:
        target = target or {"kind": body["kind"], "name": body["metadata"]["name"]}
        hits = [d for d in docs if _matches(d, target)]
        for doc in hits:
            merged = strategic_merge(doc, {k: v for k, v in body.items() if k != "metadata"})
            doc.clear()
            doc.update(merged)
    if not hits:
        raise KustomizeError(f"patch {patch['path']} matches no resource ({target})")


def _matches(doc: Doc, target: Doc) -> bool:
    if set(target) - {"kind", "name"}:
        raise KustomizeError(f"unsupported patch target {target}")
    if "kind" in target and doc["kind"] != target["kind"]:
        return False
    return "name" not in target or re.fullmatch(target["name"], doc["metadata"]["name"]) is not None


def strategic_merge(base: Any, patch: Any) -> Any:
    """Maps merge recursively; lists of maps merge by their `name`-like key; the rest replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            out[key] = strategic_merge(out[key], value) if key in out else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and _keyed(base + patch):
        key = next(k for k in MERGE_KEYS if all(k in item for item in base + patch))
        items = copy.deepcopy(base)
        for item in patch:
            idx = next((i for i, b in enumerate(items) if b[key] == item[key]), None)
            if idx is None:
                items.append(copy.deepcopy(item))
            else:
                items[idx] = strategic_merge(items[idx], item)
        return items
    return copy.deepcopy(patch)


def _keyed(items: list[Any]) -> bool:
    return (
        bool(items)
        and all(isinstance(i, dict) for i in items)
        and any(all(k in i for i in items) for k in MERGE_KEYS)
    )


def _json6902(doc: Doc, op: Doc) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    parent: Any = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    if op["op"] in ("add", "replace"):
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op["op"] == "add":
                parent.insert(index, op["value"])
            else:
                parent[index] = op["value"]
        else:
            if op["op"] == "replace" and last not in parent:
                raise KustomizeError(f"replace of missing {op['path']} in {doc['metadata']}")
            parent[last] = op["value"]
    elif op["op"] == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    else:
        raise KustomizeError(f"unsupported JSON patch op {op['op']}")


def _rename_configmap_refs(doc: Doc, renames: dict[str, str]) -> None:
    spec = doc.get("spec", {}).get("template", {}).get("spec")
    if not spec or not renames:
        return
    for vol in spec.get("volumes", []):
        if "configMap" in vol:
            vol["configMap"]["name"] = renames.get(
                vol["configMap"]["name"], vol["configMap"]["name"]
            )
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        for src in container.get("envFrom", []):
            if "configMapRef" in src:
                ref = src["configMapRef"]
                ref["name"] = renames.get(ref["name"], ref["name"])


def _namespace(doc: Doc, namespace: str | None) -> None:
    if namespace and doc["kind"] not in CLUSTER_SCOPED:
        doc["metadata"]["namespace"] = namespace


def _labels(doc: Doc, entry: Doc) -> None:
    if set(entry) - {"pairs", "includeSelectors", "includeTemplates"} or entry.get(
        "includeSelectors"
    ):
        raise KustomizeError("labels: only pairs and includeTemplates are supported")
    doc["metadata"].setdefault("labels", {}).update(entry["pairs"])
    template = doc.get("spec", {}).get("template")
    if entry.get("includeTemplates") and template is not None:
        template.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])


def _images(doc: Doc, images: list[Doc]) -> None:
    spec = doc.get("spec", {}).get("template", {}).get("spec")
    if not spec:
        return
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        name, _, tag = container["image"].partition(":")
        for image in images:
            if image["name"] == name:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
