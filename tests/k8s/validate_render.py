#!/usr/bin/env python
"""Validate a render.yml output tree offline.

Built-in kinds: kubernetes-validate --strict for the pinned Kubernetes
version. Custom resources: the openAPIV3Schema of their CRD, taken from the
rendered tree itself or from the upstream mirror. Prints one line per
problem and exits non-zero when there is any.

Usage: validate_render.py RENDER_DIR [--kubernetes-version 1.36.0] [--crds DIR]
"""
import argparse
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

HERE = Path(__file__).resolve()
DEFAULT_CRDS = HERE.parents[2].parent / "shared" / "upstream-manifests"


def load_docs(paths):
    for path in paths:
        with open(path) as fh:
            for doc in yaml.load_all(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                if isinstance(doc, dict) and doc.get("kind"):
                    yield path, doc


def crd_schemas(docs):
    """Map (group/version, kind) -> openAPIV3Schema for every CRD version."""
    out = {}
    for dummy, doc in docs:
        if doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for ver in spec.get("versions", []):
            schema = (ver.get("schema") or {}).get("openAPIV3Schema")
            if schema:
                out[("%s/%s" % (spec["group"], ver["name"]), spec["names"]["kind"])] = schema
    return out


def _int_or_string(schema):
    """Turn x-kubernetes-int-or-string into a JSON-schema type union."""
    if isinstance(schema, dict):
        schema = {k: _int_or_string(v) for k, v in schema.items()}
        if schema.pop("x-kubernetes-int-or-string", False):
            schema.pop("type", None)
            schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return schema
    if isinstance(schema, list):
        return [_int_or_string(s) for s in schema]
    return schema


def _is_custom(api_version):
    group = api_version.split("/")[0] if "/" in api_version else ""
    return "." in group and not group.endswith(".k8s.io")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("render_dir")
    ap.add_argument("--kubernetes-version", default="1.36.0")
    ap.add_argument("--crds", default=str(DEFAULT_CRDS))
    args = ap.parse_args(argv)
    files = sorted(p for p in Path(args.render_dir).rglob("*.yaml") if p.name != "kustomization.yaml")
    docs = list(load_docs(files))
    schemas = crd_schemas(docs)
    custom = {(d.get("apiVersion"), d["kind"]) for dummy, d in docs if _is_custom(d.get("apiVersion", ""))}
    if custom - set(schemas) and Path(args.crds).is_dir():
        # CRDs the render does not carry itself (e.g. a Certificate when
        # cert-manager is not rendered): take them from the mirror.
        mirror = crd_schemas(load_docs(sorted(Path(args.crds).rglob("*.y*ml"))))
        mirror.update(schemas)
        schemas = mirror
    problems, checked = [], 0
    for path, doc in docs:
        api, kind = doc.get("apiVersion", ""), doc["kind"]
        name = "%s %s/%s (%s)" % (kind, doc.get("metadata", {}).get("namespace", "-"),
                                  doc.get("metadata", {}).get("name"), path.relative_to(args.render_dir))
        if api.startswith("argoproj.io/") or api.startswith("kustomize.config.k8s.io/"):
            continue  # ArgoCD Applications: no CRD installed in the stack
        checked += 1
        if (api, kind) in schemas:
            try:
                jsonschema.validate(doc, _int_or_string(schemas[(api, kind)]))
            except jsonschema.ValidationError as exc:
                problems.append("%s: %s at %s" % (name, exc.message, "/".join(map(str, exc.absolute_path))))
            continue
        try:
            kubernetes_validate.validate(doc, args.kubernetes_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append("%s: no schema for %s %s (unknown kind or CRD)" % (name, api, kind))
        except kubernetes_validate.ValidationError as exc:
            problems.append("%s: %s" % (name, exc.message))
    for line in problems:
        print(line)
    print("%d objects checked, %d problems" % (checked, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
