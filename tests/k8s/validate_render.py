#!/usr/bin/env python
"""Validate a render.yml output tree offline.

Built-in kinds: kubernetes-validate --strict for the pinned Kubernetes
version. Custom resources: the openAPIV3Schema of their CRD, taken from the
rendered tree itself, from the upstream mirror, or (HTTPRoutes, Gateways)
from the Gateway API CRDs the tests install (tools/testbins/gateway-api).
Prints one line per problem and exits non-zero when there is any.

Usage: validate_render.py RENDER_DIR [--kubernetes-version 1.36.0] [--crds DIR ...]
"""
import argparse
import os
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve()
DEFAULT_CRDS = [HERE.parents[2].parent / "shared" / "upstream-manifests",
                Path(os.environ.get("MLOPS_CACHE") or Path.home() / ".cache" / "mlops-stack") / "bin" / "gateway-api-crds"]
sys.path.insert(0, str(HERE.parents[2] / "build" / "collections"))

from ansible_collections.mlops.stack.plugins.module_utils.schema_check import (  # noqa: E402
    crd_schemas,
    validate_objects,
)


def load_docs(paths):
    for path in paths:
        with open(path) as fh:
            for doc in yaml.load_all(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                if isinstance(doc, dict) and doc.get("kind"):
                    yield path, doc


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("render_dir")
    ap.add_argument("--kubernetes-version", default="1.36.0")
    ap.add_argument("--crds", action="append", default=None)
    args = ap.parse_args(argv)
    files = sorted(p for p in Path(args.render_dir).rglob("*.yaml") if p.name != "kustomization.yaml")
    docs = list(load_docs(files))
    schemas = crd_schemas(d for dummy, d in docs)
    for crds in args.crds or [str(p) for p in DEFAULT_CRDS]:
        crds = Path(crds).resolve()
        if crds.is_dir():
            # CRDs the render does not carry itself (e.g. a Certificate when
            # cert-manager is not rendered, the cluster's Gateway API).
            mirror = crd_schemas(d for dummy, d in load_docs(sorted(crds.rglob("*.y*ml"))))
            mirror.update(schemas)
            schemas = mirror
    problems, checked = [], 0
    for path, doc in docs:
        api = doc.get("apiVersion", "")
        if api.startswith("argoproj.io/") or api.startswith("kustomize.config.k8s.io/"):
            continue  # ArgoCD Applications: no CRD installed in the stack
        checked += 1
        problems.extend("%s (%s)" % (line, path.relative_to(args.render_dir))
                        for line in validate_objects([doc], schemas, args.kubernetes_version))
    for line in problems:
        print(line)
    print("%d objects checked, %d problems" % (checked, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
