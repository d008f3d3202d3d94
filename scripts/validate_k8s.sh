#!/usr/bin/env bash
# Renders deploy/k8s (base and every overlay) offline and validates every
# object against the Kubernetes schemas, without unknown fields, and
# against Aisle's deployment policy (scripts/k8s-validate/validate.mjs).
# Needs no cluster.
#
#   scripts/validate_k8s.sh
#   scripts/validate_k8s.sh --deps-only   # the packages only (scripts/test.sh
#                                         # installs them during the build)
#
# Rendering: `kubectl kustomize` when kubectl exists, and then the
# fallback renderer scripts/k8s-validate/render.py must produce the same
# objects; without kubectl (or with KUBECTL=none), render.py alone. Validation needs node and npm
# (installed from Debian if missing) and the npm packages pinned in
# scripts/k8s-validate/package-lock.json (installed with `npm ci`).
# Negative checks: deliberately broken copies of the rendered objects must be
# rejected, which proves the validator validates.
# Exit status: 0 all valid, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/scripts/k8s-validate
PY=/usr/bin/python3  # Debian's, with python3-yaml
KUBECTL=${KUBECTL:-kubectl}  # KUBECTL=none forces the render.py path

log() { printf '[validate_k8s] %s\n' "$*"; }

need=()
[[ -x $PY ]] && $PY -c 'import yaml' 2>/dev/null || need+=(python3 python3-yaml)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [[ ! -d $TOOLS/node_modules/kubernetes-models || $TOOLS/package-lock.json -nt $TOOLS/node_modules/.package-lock.json ]]; then
  log "npm ci in scripts/k8s-validate"
  (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
[[ ${1:-} == --deps-only ]] && exit 0

WORK=$(mktemp -d /tmp/aisle-k8s.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

failures=0
fail() { log "FAIL: $*"; failures=$((failures + 1)); }

# yaml (multi-document) -> JSON array
to_json() { $PY -c 'import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d], open(sys.argv[2], "w"))' "$1" "$2"; }

targets=(deploy/k8s/base)
for overlay in deploy/k8s/overlays/*/; do targets+=("${overlay%/}"); done

for target in "${targets[@]}"; do
  name=$(echo "$target" | tr '/' '_')
  $PY "$TOOLS/render.py" "$target" > "$WORK/$name.py.yaml" || { fail "$target: render.py"; continue; }
  if command -v "$KUBECTL" >/dev/null; then
    if ! "$KUBECTL" kustomize "$target" > "$WORK/$name.yaml" 2> "$WORK/$name.err"; then
      cat "$WORK/$name.err"; fail "$target: kubectl kustomize"; continue
    fi
    # Same objects from both renderers (order-insensitive)?
    if ! $PY - "$WORK/$name.yaml" "$WORK/$name.py.yaml" <<'EOF'
import json, sys, yaml
def load(p):
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
            for o in yaml.safe_load_all(open(p)) if o}
a, b = load(sys.argv[1]), load(sys.argv[2])
bad = sorted(set(a) ^ set(b)) + sorted(k for k in set(a) & set(b) if a[k] != b[k])
for k in bad:
    print("  renderers differ on %s/%s (namespace %r)" % (k[0], k[2], k[1]))
sys.exit(1 if bad else 0)
EOF
    then
      fail "$target: render.py disagrees with kubectl kustomize"
    fi
    renderer="kubectl kustomize (render.py agrees)"
  else
    cp "$WORK/$name.py.yaml" "$WORK/$name.yaml"
    renderer="render.py (no kubectl)"
  fi
  to_json "$WORK/$name.yaml" "$WORK/$name.json"
  log "$target: rendered with $renderer"
  node "$TOOLS/validate.mjs" "$WORK/$name.json" "$target" || fail "$target: invalid"
done

# --- negative checks: each broken copy must be rejected, for the right reason.
BASE_JSON=$WORK/deploy_k8s_base.json
negatives=0
CLUSTER_JSON=$WORK/deploy_k8s_overlays_cluster.json
negative() {  # negative NAME EXPECTED_MESSAGE PYTHON_MUTATION [RENDERED_JSON]
  local name=$1 expected=$2 mutation=$3 rendered=${4:-$BASE_JSON}
  negatives=$((negatives + 1))
  $PY - "$rendered" "$WORK/neg-$name.json" "$mutation" <<'EOF'
import json, sys
objs = json.load(open(sys.argv[1]))
by = lambda kind, name=None: next(o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"]))
ss = by("StatefulSet", "aisle")
c = ss["spec"]["template"]["spec"]["containers"][0]
exec(sys.argv[3])
json.dump(objs, open(sys.argv[2], "w"))
EOF
  if node "$TOOLS/validate.mjs" "$WORK/neg-$name.json" "broken:$name" > "$WORK/neg-$name.out" 2>&1; then
    fail "negative check '$name' was accepted"
  elif ! grep -qF -- "$expected" "$WORK/neg-$name.out"; then
    cat "$WORK/neg-$name.out"
    fail "negative check '$name' was rejected without mentioning '$expected'"
  else
    log "negative check '$name' rejected: $(grep -F -- "$expected" "$WORK/neg-$name.out" | head -1 | sed 's/^ *- //')"
  fi
}
if [[ -f $BASE_JSON ]]; then
  negative port-type "containerPort must be integer" 'c["ports"][0]["containerPort"] = "50051"'
  negative no-selector "must have required property selector" 'del ss["spec"]["selector"]'
  negative bad-enum "must be equal to one of the allowed values" 'ss["spec"]["podManagementPolicy"] = "Sometimes"'
  negative typo-spec "spec.replicaz: unknown field" 'ss["spec"]["replicaz"] = 2'
  negative typo-container "containers[0].readinessprobe: unknown field" 'c["readinessprobe"] = c.pop("readinessProbe")'
  negative typo-probe "startupProbe.grpc.prot: unknown field" 'c["startupProbe"]["grpc"]["prot"] = 50051'
  negative typo-pvc "volumeClaimTemplates[0].spec.resources.request: unknown field" 'ss["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["request"] = {"storage": "1Gi"}'
  negative typo-crd "spec.endpoints[0].intervall: unknown field" 'by("ServiceMonitor")["spec"]["endpoints"][0]["intervall"] = "15s"'
  negative typo-meta "metadata.lables: unknown field" 'by("Service")["metadata"]["lables"] = {"a": "b"}'
  negative unknown-kind "no schema known" 'objs.append({"apiVersion": "v1", "kind": "Servise", "metadata": {"name": "x"}})'
  negative sm-port "endpoint port metric is not a port" 'by("ServiceMonitor")["spec"]["endpoints"][0]["port"] = "metric"'
  negative http-probe "readinessProbe must be a gRPC probe" 'c["readinessProbe"] = {"httpGet": {"path": "/", "port": 9464}}'
  negative root "allowPrivilegeEscalation must be false" 'c["securityContext"]["allowPrivilegeEscalation"] = True'
  negative grace "terminationGracePeriodSeconds 5 must exceed" 'ss["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5'
  negative service-links "enableServiceLinks must be false" 'del ss["spec"]["template"]["spec"]["enableServiceLinks"]'
  negative replicas "replicas is 3" 'ss["spec"]["replicas"] = 3'
  negative hpa-single-node "which is not in cluster mode" 'objs.append({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "aisle"}, "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "aisle"}, "minReplicas": 2, "maxReplicas": 4}})'
fi
if [[ -f $CLUSTER_JSON ]]; then
  negative cluster-flag-dropped "replicas is 3" 'i = c["args"].index("--cluster"); del c["args"][i:i + 2]' "$CLUSTER_JSON"
  negative cluster-url "is not a pod and client port of a rendered NATS StatefulSet" 'i = c["args"].index("--cluster"); c["args"][i + 1] = c["args"][i + 1].replace("nats-2.", "nats-3.")' "$CLUSTER_JSON"
  negative nats-even "JetStream needs an odd number" 'by("StatefulSet", "nats")["spec"]["replicas"] = 2' "$CLUSTER_JSON"
  negative nats-no-volume "NATS needs a volumeClaimTemplate" 'del by("StatefulSet", "nats")["spec"]["volumeClaimTemplates"]' "$CLUSTER_JSON"
  negative hpa-min "minReplicas 1 must be >= 2" 'by("HorizontalPodAutoscaler")["spec"]["minReplicas"] = 1' "$CLUSTER_JSON"
  negative cronjob-root "container train: allowPrivilegeEscalation must be false" 'by("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True' "$CLUSTER_JSON"
  negative cronjob-data-dir "container train: --data-dir /elsewhere is not on a mounted volume" 'a = by("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]; a[a.index("--data-dir") + 1] = "/elsewhere"' "$CLUSTER_JSON"
fi

if ((failures)); then
  log "$failures failure(s)"
  exit 1
fi
log "OK: ${#targets[@]} kustomizations valid, $negatives broken variants rejected"
