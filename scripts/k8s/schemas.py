"""Strict schema validation, offline.

Core resources: the JSON schemas bundled with PyPI `kubernetes-validate` (its
`-strict` variants, where every object has additionalProperties: false), for each
Kubernetes version in KUBERNETES_VERSIONS.

Custom resources: the OpenAPI v3 schemas of the CRDs (from the upstream projects'
Go modules, or generated from Strimzi's Maven artifacts), converted to JSON Schema
with the same strictness (and the CRDs' CEL rules evaluated with PyPI `cel-python`): an object that neither declares
`x-kubernetes-preserve-unknown-fields` nor `additionalProperties` rejects fields it
does not declare, because the API server would silently prune them (or refuse them
under `kubectl apply --validate=strict`). The top-level `metadata` is checked against
the core ObjectMeta schema.
"""

from __future__ import annotations

import copy
import functools
import glob
import hashlib
import json
import os
import re
from typing import Any

import celpy
import celpy.celtypes
import jsonschema
import referencing
import referencing.jsonschema
import kubernetes_validate.utils as kv

from common import CLUSTER_SCOPED_KINDS, Render, Result, load_all, ref

# Oldest supported (the preStop `sleep` action is on by default from 1.30) and the
# newest schema set the pinned kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30", "1.37")


# --------------------------------------------------------------------------- core


@functools.lru_cache(maxsize=None)
def _schema_file(path: str) -> Any:
    return kv.schema_contents(path, path)


@functools.lru_cache(maxsize=None)
def _core_validator(version: str, kind: str, api_version: str):
    """A compiled validator per (version, kind, apiVersion), or None if the bundle has
    no schema for it (= not a core kind). Mirrors kubernetes_validate.validate(), with
    the schema files parsed once instead of per object."""
    full = [v for v in kv.all_versions() if kv.major_minor(v) == version]
    if not full:
        raise kv.VersionNotSupportedError(version)
    schema_dir = f"kubernetes-json-schema/v{full[-1]}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = _schema_file(f"{schema_dir}/{kind.lower()}-{group_version}.json")
    except FileNotFoundError:
        return None
    definitions = _schema_file(f"{schema_dir}/_definitions.json")
    registry = referencing.Resource.from_contents(schema) @ referencing.Registry()
    registry = referencing.Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


@functools.lru_cache(maxsize=None)
def _object_meta_validator(version: str):
    full = [v for v in kv.all_versions() if kv.major_minor(v) == version][-1]
    definitions = _schema_file(f"kubernetes-json-schema/v{full}-local-strict/_definitions.json")
    schema = {"$ref": "https://kubernetes.io/api/_definitions.json#/$defs/"
                      "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    registry = referencing.Resource.from_contents(definitions) @ referencing.Registry()
    return jsonschema.Draft202012Validator(schema, registry=registry)


def is_core(doc: dict[str, Any]) -> bool:
    return _core_validator(KUBERNETES_VERSIONS[-1], doc.get("kind", ""), doc.get("apiVersion", "")) is not None


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "(top level)"


def _best(errors):
    """The most specific error of each failing branch, sorted for stable output."""
    out = []
    for e in errors:
        best = jsonschema.exceptions.best_match([e])
        out.append(f"{_where(best)}: {best.message}")
    return sorted(set(out))


def check_core_schema(render: Render, kinds_seen: dict[str, int]) -> Result:
    result = Result("core-schema", render.name,
                    note=f"kubernetes-validate strict, k8s {' + '.join(KUBERNETES_VERSIONS)}")
    for doc in render.docs:
        if not is_core(doc):
            continue
        result.examined += 1
        kinds_seen[doc["kind"]] = kinds_seen.get(doc["kind"], 0) + 1
        for version in KUBERNETES_VERSIONS:
            validator = _core_validator(version, doc["kind"], doc["apiVersion"])
            if validator is None:
                result.fail(f"{ref(doc)}: {doc['apiVersion']} is not served by Kubernetes {version}")
                continue
            for msg in _best(validator.iter_errors(doc)):
                result.fail(f"{ref(doc)} (k8s {version}): {msg}")
    return result


# ---------------------------------------------------------------------------- CRDs


def _to_json_schema(node: Any, stats: dict[str, int], top: bool = False) -> Any:
    """Structural OpenAPI v3 (CRD dialect) -> JSON Schema draft 2020-12, strict."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {k: _to_json_schema(v, stats) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _to_json_schema(value, stats)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_to_json_schema(v, stats) for v in value]
        elif key == "x-kubernetes-validations":
            stats["cel_rules"] = stats.get("cel_rules", 0) + len(value)
            # Transition rules compare with the stored object (oldSelf): nothing to
            # compare against offline, as on create.
            rules = [v for v in value if "oldSelf" not in v.get("rule", "")]
            stats["cel_transition_rules"] = stats.get("cel_transition_rules", 0) + len(value) - len(rules)
            if rules:
                out["x-cel"] = rules
        elif key.startswith("x-kubernetes-") or key in ("nullable", "default", "example", "externalDocs"):
            continue
        else:
            out[key] = copy.deepcopy(value)

    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = out.get("anyOf") or [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    # Strictness: undeclared fields are an error unless the CRD keeps them.
    is_object = node.get("type") == "object" or "properties" in node
    keeps_unknown = node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-embedded-resource")
    if is_object and not keeps_unknown and "additionalProperties" not in node and not top:
        out["additionalProperties"] = False
    if top:
        # apiVersion/kind/metadata are checked by the caller (metadata against the
        # core ObjectMeta schema); everything else strictly.
        props = out.setdefault("properties", {})
        props["metadata"] = {"type": "object"}
        out["additionalProperties"] = False
    return out


def _load_crds(path: str, cache_dir: str | None) -> list[dict[str, Any]]:
    """The CRDs in a YAML file. Parsed YAML is kept as JSON in cache_dir (keyed by
    path, size and mtime): the Prometheus Operator CRDs alone are ~100k lines."""
    st = os.stat(path)
    key = hashlib.sha256(f"{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:24]
    cached = os.path.join(cache_dir, key + ".json") if cache_dir else None
    if cached and os.path.exists(cached):
        with open(cached, encoding="utf-8") as fh:
            return json.load(fh)
    with open(path, encoding="utf-8") as fh:
        crds = [d for d in load_all(fh) if d.get("kind") == "CustomResourceDefinition"]
    if cached:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = cached + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(crds, fh)
        os.replace(tmp, cached)
    return crds


_CEL_ENV = celpy.Environment()
CEL_STATS = {"evaluated": 0}


@functools.lru_cache(maxsize=None)
def _cel_program(rule: str):
    return _CEL_ENV.program(_CEL_ENV.compile(rule))


def _cel_keyword(validator, rules, instance, schema):
    """`x-kubernetes-validations` (CEL) as a JSON Schema keyword: the API server runs
    each rule with `self` bound to the value at that node, after schema validation."""
    for rule in rules:
        CEL_STATS["evaluated"] += 1
        try:
            result = _cel_program(rule["rule"]).evaluate({"self": celpy.json_to_cel(instance)})
        except Exception as e:  # a rule that does not compile is an error, as on the server
            yield jsonschema.ValidationError(f"CEL rule {rule['rule']!r} failed to run: {e}")
            continue
        if isinstance(result, celpy.CELEvalError) or not isinstance(result, (bool, celpy.celtypes.BoolType)):
            yield jsonschema.ValidationError(f"CEL rule {rule['rule']!r} did not evaluate: {result}")
        elif not result:
            yield jsonschema.ValidationError(rule.get("message") or f"failed CEL rule {rule['rule']!r}")


CrdValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"x-cel": _cel_keyword})


class CrdStore:
    """Every CRD found under the given folders, indexed by (group, version, kind)."""

    def __init__(self, sources: dict[str, str], cache_dir: str | None = None):
        # sources: label -> folder or file, e.g. {"prometheus-operator v0.85.0": "/…/crd"}
        self.schemas: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.served: dict[tuple[str, str, str], bool] = {}
        self.origin: dict[tuple[str, str], str] = {}
        self.stats: dict[str, int] = {}
        for label, path in sources.items():
            files = [path] if os.path.isfile(path) else sorted(
                glob.glob(os.path.join(path, "*.yaml")) + glob.glob(os.path.join(path, "*.yml")))
            if not files:
                raise FileNotFoundError(f"no CRD files at {path} ({label})")
            for f in files:
                for crd in _load_crds(f, cache_dir):
                    self._add(crd, label)

    def _add(self, crd: dict[str, Any], label: str) -> None:
        spec = crd["spec"]
        group, kind = spec["group"], spec["names"]["kind"]
        self.origin[(group, kind)] = label
        for v in spec["versions"]:
            schema = (v.get("schema") or {}).get("openAPIV3Schema")
            if schema is None:
                continue
            key = (group, v["name"], kind)
            self.schemas[key] = _to_json_schema(schema, self.stats, top=True)
            self.served[key] = bool(v.get("served", True))
            self.stats[f"scope:{group}/{kind}"] = 1 if spec.get("scope") == "Cluster" else 0

    @functools.lru_cache(maxsize=None)
    def validator(self, group: str, version: str, kind: str):
        schema = self.schemas.get((group, version, kind))
        return None if schema is None else CrdValidator(schema)

    def kinds(self) -> list[str]:
        return sorted({f"{k}.{g}" for (g, _, k) in self.schemas})


def check_crd_schema(render: Render, store: CrdStore, kinds_seen: dict[str, int]) -> Result:
    result = Result("crd-schema", render.name, note="CRD OpenAPI v3 schemas, strict")
    for doc in render.docs:
        if is_core(doc):
            continue
        result.examined += 1
        kind = doc.get("kind", "")
        api_version = doc.get("apiVersion", "")
        group, _, version = api_version.rpartition("/")
        kinds_seen[kind] = kinds_seen.get(kind, 0) + 1
        if (group, kind) not in store.origin:
            result.fail(f"{ref(doc)}: no CRD known for {kind}.{group or 'core'} {api_version}; "
                        "cannot validate it (add its CRD source to scripts/k8s/crds.sh)")
            continue
        validator = store.validator(group, version, kind)
        if validator is None or not store.served.get((group, version, kind)):
            result.fail(f"{ref(doc)}: {api_version} is not a served version of {kind} "
                        f"in {store.origin[(group, kind)]}")
            continue
        for msg in _best(validator.iter_errors(doc)):
            result.fail(f"{ref(doc)}: {msg}")
        meta = doc.get("metadata") or {}
        for msg in _best(_object_meta_validator(KUBERNETES_VERSIONS[-1]).iter_errors(meta)):
            result.fail(f"{ref(doc)}: metadata.{msg}")
    return result


def crd_is_cluster_scoped(store: CrdStore | None, doc: dict[str, Any]) -> bool:
    kind = doc.get("kind", "")
    if kind in CLUSTER_SCOPED_KINDS:
        return True
    if store is None:
        return False
    group = doc.get("apiVersion", "").rpartition("/")[0]
    return store.stats.get(f"scope:{group}/{kind}", 0) == 1
