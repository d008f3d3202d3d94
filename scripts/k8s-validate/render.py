#!/usr/bin/env python3
"""Renders a kustomization offline, for machines without kubectl/kustomize.

Implements the subset of kustomize that deploy/k8s uses, and refuses
anything else rather than rendering it wrong:
  resources (files and directories with a kustomization.yaml), namespace,
  images (newName/newTag/digest), patches with `path` (strategic merge:
  maps merge, the Kubernetes lists with a merge key merge by it, other
  lists are replaced, null deletes a field).

    render.py DIR > rendered.yaml

scripts/validate_k8s.sh uses `kubectl kustomize` when it exists and then
checks that this renderer produces the same objects, so the two cannot
drift apart unnoticed.
"""
import copy
import os
import sys

import yaml

SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "namespace", "images",
                  "patches"}
# Kinds that are not namespaced (those deploy/k8s could plausibly contain).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding",
                  "CustomResourceDefinition", "PersistentVolume",
                  "StorageClass", "PriorityClass"}
# Strategic-merge keys of the list fields in the Kubernetes API that a patch
# here may touch (from the API's patchMergeKey annotations).
MERGE_KEYS = {"containers": "name", "initContainers": "name",
              "ephemeralContainers": "name", "volumes": "name",
              "volumeMounts": "mountPath", "volumeDevices": "devicePath",
              "env": "name", "ports": "containerPort",
              "imagePullSecrets": "name", "hostAliases": "ip",
              "topologySpreadConstraints": "topologyKey"}


class RenderError(Exception):
    pass


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def strategic_merge(base, patch, field=None):
    if isinstance(base, dict) and isinstance(patch, dict):
        if "$patch" in patch or any(k.startswith("$") for k in patch):
            raise RenderError(f"patch directive in {field!r} is not supported")
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = strategic_merge(out[key], value, key)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list):
        key = MERGE_KEYS.get(field)
        if key is None or not all(isinstance(x, dict) and key in x
                                  for x in base + patch):
            return copy.deepcopy(patch)
        out = [copy.deepcopy(x) for x in base]
        for item in patch:
            for i, existing in enumerate(out):
                if existing[key] == item[key]:
                    out[i] = strategic_merge(existing, item, field)
                    break
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def set_images(obj, images):
    def visit(node):
        if isinstance(node, dict):
            for field in ("containers", "initContainers"):
                for container in node.get(field, []) or []:
                    fix(container)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    def fix(container):
        image = container.get("image", "")
        name = image.split("@")[0]
        if ":" in name.rsplit("/", 1)[-1]:
            name = name.rsplit(":", 1)[0]
        for spec in images:
            if spec["name"] != name:
                continue
            new = spec.get("newName", name)
            if "digest" in spec:
                container["image"] = f"{new}@{spec['digest']}"
            elif "newTag" in spec:
                container["image"] = f"{new}:{spec['newTag']}"
            else:
                container["image"] = image.replace(name, new, 1)

    visit(obj)


def render(directory):
    path = os.path.join(directory, "kustomization.yaml")
    if not os.path.exists(path):
        raise RenderError(f"{directory}: no kustomization.yaml")
    with open(path) as f:
        k = yaml.safe_load(f)
    unsupported = set(k) - SUPPORTED_KEYS
    if unsupported:
        raise RenderError(f"{path}: unsupported fields {sorted(unsupported)}")
    objects = []
    for resource in k.get("resources", []):
        full = os.path.normpath(os.path.join(directory, resource))
        if os.path.isdir(full):
            objects.extend(render(full))
        else:
            objects.extend(load_docs(full))
    for patch in k.get("patches", []):
        if set(patch) != {"path"}:
            raise RenderError(f"{path}: only `patches: - path:` is supported")
        for p in load_docs(os.path.join(directory, patch["path"])):
            matches = [i for i, o in enumerate(objects)
                       if o["kind"] == p["kind"]
                       and o["metadata"]["name"] == p["metadata"]["name"]]
            if len(matches) != 1:
                raise RenderError(f"{patch['path']}: patch target "
                                  f"{p['kind']}/{p['metadata']['name']} "
                                  f"matched {len(matches)} objects")
            target = objects[matches[0]]
            if p.get("apiVersion", target["apiVersion"]) != target["apiVersion"]:
                raise RenderError(f"{patch['path']}: apiVersion differs")
            objects[matches[0]] = strategic_merge(target, p)
    if "namespace" in k:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = k["namespace"]
    if "images" in k:
        for obj in objects:
            set_images(obj, k["images"])
    return objects


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: render.py KUSTOMIZATION_DIR")
    try:
        objects = render(sys.argv[1])
    except (RenderError, KeyError, OSError, yaml.YAMLError) as e:
        sys.exit(f"render.py: {e}")
    yaml.safe_dump_all(objects, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
