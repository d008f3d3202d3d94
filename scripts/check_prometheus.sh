#!/usr/bin/env bash
# Checks the monitoring in deploy/ against a real server and a real
# Prometheus, on loopback only.
#
#   scripts/check_prometheus.sh              # needs the aisle binary
#   scripts/check_prometheus.sh --no-server  # rules and queries only,
#                                            # against an empty TSDB
#
# 1. promtool: check config, check rules, rule unit tests
#    (deploy/prometheus/alerts_test.yml); the dashboard JSON is what
#    deploy/grafana/dashboard.py generates.
# 2. Starts `aisle serve --demo` ($AISLE_BIN, default ./build/aisle,
#    built if missing) on free loopback ports and waits for aisle_up 1.
# 3. Starts Prometheus (scrape and rule evaluation every 1s, the real rule
#    files) and waits until it has scraped several times and evaluated
#    every rule.
# 4. Drives traffic while Prometheus scrapes: `aisle loadgen` in the
#    background, plus recommend and feedback calls in every scenario
#    (impression, click, purchase carrying the recommendation_id, so
#    attribution series exist) and one invalid request. Then every metric
#    family the dashboard and the rules use must be exposed.
# 5. Runs every panel query of the dashboard through /api/v1/query: each
#    must succeed, and the main panels must return data. Every rule must
#    have health "ok", and AisleDown must be inactive while the server is up.
# Prints a summary; exit status 1 on any failure. Everything started here is
# stopped on exit. Installs prometheus (server and promtool) from Debian if
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/server.sh  # stop_server, free_port
ROOT=$PWD
PROM_DIR=$ROOT/deploy/prometheus
DASHBOARD=$ROOT/deploy/grafana/aisle-dashboard.json
START=$(date +%s)

WITH_SERVER=1
case "${1:-}" in
  "") ;;
  --no-server) WITH_SERVER=0 ;;
  *) echo "usage: $0 [--no-server]" >&2; exit 2 ;;
esac

log() { printf '[check_prometheus %3ds] %s\n' $(($(date +%s) - START)) "$*"; }
failures=0
fail() { log "FAIL: $*"; failures=$((failures + 1)); }
die() { log "FAIL: $*"; exit 1; }

need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus >/dev/null || need+=(prometheus)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

WORK=$(mktemp -d /tmp/aisle-prom.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every 0.5s.
wait_for() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$(($(date +%s) + seconds))
  until "$@"; do
    if (($(date +%s) >= deadline)); then return 1; fi
    sleep 0.5
  done
  log "$what"
}

# --- 1. static checks --------------------------------------------------------
promtool check config "$PROM_DIR/prometheus.yml" > "$WORK/out" 2>&1 || { cat "$WORK/out"; fail "promtool check config"; }
promtool check config --syntax-only "$ROOT/docker/prometheus.yml" > "$WORK/out" 2>&1 || { cat "$WORK/out"; fail "promtool check config docker/prometheus.yml"; }
promtool check rules "$PROM_DIR/alerts.yml" "$PROM_DIR/recording_rules.yml" > "$WORK/out" 2>&1 || { cat "$WORK/out"; fail "promtool check rules"; }
(cd "$PROM_DIR" && promtool test rules alerts_test.yml) > "$WORK/out" 2>&1 || { cat "$WORK/out"; fail "promtool test rules"; }
python3 "$ROOT/deploy/grafana/dashboard.py" | cmp -s - "$DASHBOARD" ||
  fail "aisle-dashboard.json differs from what deploy/grafana/dashboard.py generates"
log "promtool check config/rules, promtool test rules, dashboard generation: $( ((failures)) && echo "$failures failure(s)" || echo ok)"

# --- 2. the server -----------------------------------------------------------
if ((WITH_SERVER)); then
  AISLE_BIN=${AISLE_BIN:-$ROOT/build/aisle}
  if [[ ! -x "$AISLE_BIN" ]]; then
    log "building $AISLE_BIN"
    ./scripts/build.sh aisle > "$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; die "building aisle"; }
  fi
  GRPC_PORT=$(free_port)
  METRICS_PORT=$(free_port)
  TARGET=127.0.0.1:$GRPC_PORT
  log "starting aisle serve --demo on $TARGET (metrics :$METRICS_PORT)"
  # --max-queue-delay 5s: this check is about metrics, not overload; on a
  # busy 2-core CI machine the 20 ms default shed one of its calls.
  "$AISLE_BIN" serve --demo --host 127.0.0.1 --port "$GRPC_PORT" --metrics-port "$METRICS_PORT" \
    --max-queue-delay 5s --data-dir "$WORK/data" > "$WORK/server.log" 2>&1 &
  PIDS+=($!)
  SERVER_PID=$!
  serving() {
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/server.log"; die "the server exited"; }
    curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null | grep -Eq '^aisle_up 1(\.0+)?( |$)'
  }
  wait_for "server is serving (aisle_up 1)" 600 serving || { tail -20 "$WORK/server.log"; die "no aisle_up 1 within 600s"; }

  SCRAPE_TARGET=127.0.0.1:$METRICS_PORT
else
  # Nothing listens there: every query still has to parse and evaluate.
  SCRAPE_TARGET=127.0.0.1:$(free_port)
  log "--no-server: Prometheus scrapes nothing; queries are checked against an empty TSDB"
fi

# --- 3. Prometheus ------------------------------------------------------------
PROM_PORT=$(free_port)
PROM=http://127.0.0.1:$PROM_PORT
cat > "$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PROM_DIR/recording_rules.yml
  - $PROM_DIR/alerts.yml
scrape_configs:
  - job_name: aisle
    static_configs:
      - targets: ["$SCRAPE_TARGET"]
EOF
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn > "$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
PROM_PID=$!

query() {  # query PROMQL -> JSON on stdout
  curl -sf --get "$PROM/api/v1/query" --data-urlencode "query=$1"
}
prom_ready() {
  kill -0 "$PROM_PID" 2>/dev/null || { cat "$WORK/prometheus.log"; die "prometheus exited"; }
  curl -sf "$PROM/-/ready" > /dev/null 2>&1
}
wait_for "prometheus ready on 127.0.0.1:$PROM_PORT" 60 prom_ready || die "prometheus not ready within 60s"
if ((WITH_SERVER)); then
  scraped() {
    query 'sum(count_over_time(up{job="aisle"}[1m])) >= 8 and sum(up{job="aisle"}) == 1' |
      python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)'
  }
  wait_for "prometheus has scraped the server 8 times" 60 scraped || fail "prometheus did not scrape the server"
else
  scraped_once() {
    query 'count_over_time(up{job="aisle"}[1m]) >= 2' |
      python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)'
  }
  wait_for "prometheus has tried scraping twice" 60 scraped_once || fail "prometheus did not run scrapes"
fi
# Every rule group has evaluated (recording rules every 30s, alerts every 1s).
rules_evaluated() {
  curl -sf "$PROM/api/v1/rules" | python3 -c '
import json, sys
groups = json.load(sys.stdin)["data"]["groups"]
rules = [r for g in groups for r in g["rules"]]
sys.exit(0 if rules and all(not r.get("lastEvaluation", "0001").startswith("0001") for r in rules) else 1)'
}
wait_for "every rule has been evaluated" 90 rules_evaluated || fail "rules not evaluated within 90s"

if ((WITH_SERVER)); then
  # --- 4. traffic (Prometheus is scraping meanwhile) -------------------------
  if "$AISLE_BIN" loadgen --help > /dev/null 2>&1; then
    "$AISLE_BIN" loadgen --target "$TARGET" --duration 180s --rps 40 --concurrency 2 \
      --mix recommend=0.5,similar=0.2,feedback=0.2,get_item=0.05,get_user=0.05 \
      > "$WORK/loadgen.log" 2>&1 &
    PIDS+=($!)
    log "loadgen running in the background (40 requests/s)"
  fi
  python3 - "$AISLE_BIN" "$TARGET" > "$WORK/traffic.log" 2>&1 <<'EOF' || { cat "$WORK/traffic.log"; fail "driving recommend/feedback traffic"; }
import json, subprocess, sys, time
aisle, target = sys.argv[1], sys.argv[2]
def run(*args, check=True):
    p = subprocess.run([aisle, *args, "--target", target], capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        sys.exit("aisle %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()))
    return p
attributed = 0
for n in range(12):
    user = "u%d" % (n * 7)
    for scenario, extra in (("for_you", []), ("similar_items", ["--context", "i%d" % n]),
                            ("frequently_bought_together", ["--context", "i%d" % n]),
                            ("recently_viewed", []), ("trending", [])):
        r = json.loads(run("recommend", "--user", user, "--scenario", scenario, "--count", "5", "--json", *extra).stdout)
        # The CLI prints proto field names; accept lowerCamelCase too.
        rid = r.get("recommendation_id", r.get("recommendationId", ""))
        items = [i.get("item_id", i.get("itemId")) for i in r.get("items", [])]
        if not rid or not items:
            continue
        for t in ("impression", "click") + (("purchase",) if n % 3 == 0 else ()):
            run("feedback", "--user", user, "--item", items[0], "--type", t, "--recommendation-id", rid)
            attributed += 1
# Client errors must show in the error panel. A series is created on its
# first increment, which rate() cannot see, so send a few over several
# scrapes (1s apart).
codes = []
for _ in range(4):
    codes.append(run("recommend", "--user", "u1", "--count", "100000", check=False).returncode)
    time.sleep(1.2)
print("attributed events sent: %d; oversized count -> exit %s" % (attributed, codes))
if attributed == 0:
    sys.exit("no recommendation came back with items and a recommendation_id")
EOF
  log "traffic: $(tail -1 "$WORK/traffic.log")"
  # Every metric family the dashboard and the rules use is exposed (after
  # the traffic: series such as attribution appear on first use).
  curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" > "$WORK/metrics.txt"
  python3 - "$WORK/metrics.txt" "$DASHBOARD" "$PROM_DIR/alerts.yml" "$PROM_DIR/recording_rules.yml" <<'EOF' || fail "metrics used by deploy/ are missing from the server"
import json, re, sys
exposed = set(re.findall(r"^# TYPE (\S+)", open(sys.argv[1]).read(), re.M))
text = open(sys.argv[2]).read() + open(sys.argv[3]).read() + open(sys.argv[4]).read()
used = set()
for name in re.findall(r"\b(aisle_[a-z0-9_]+)", text):
    family = re.sub(r"_(bucket|sum|count)$", "", name)  # histogram series
    used.add(family if family in exposed else name)
missing = sorted(used - exposed)
print("  %d metric families used by deploy/, %d exposed by the server" % (len(used), len(exposed)))
for m in missing:
    print("  missing from /metrics: " + m)
sys.exit(1 if missing else 0)
EOF
  if promtool check metrics < "$WORK/metrics.txt" > "$WORK/lint.txt" 2>&1; then
    log "promtool check metrics: no naming problems"
  else
    sed 's/^/  /' "$WORK/lint.txt"
    fail "promtool check metrics"
  fi

fi

# Panels.
python3 - "$DASHBOARD" "$PROM" "$WITH_SERVER" > "$WORK/panels.txt" <<'EOF' || failures=$((failures + 1))
import json, math, sys, urllib.parse, urllib.request
dashboard, prom, with_server = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
# Panels that must show data with a demo server under traffic.
REQUIRED = {"Serving", "Build", "Model version", "Model age", "Catalog items",
            "Known users", "Request rate by method", "Error ratio by method and code",
            "Latency p50 / p99 by method", "In-flight RPCs", "Load shedding",
            "Admission: limit vs in flight",
            "Recommendations by scenario", "Candidates by source",
            "Retrieval latency by path", "Fold-in latency", "CTR by scenario",
            "Served-item CTR by scenario", "Events by type",
            "Attributed events by scenario and type", "Write / read latency",
            "Live data and memtables", "Pending compaction"}
VARS = {"$__rate_interval": "1m", "${__rate_interval}": "1m", "$__interval": "15s",
        "${__interval}": "15s", "$__range": "5m", "${__range}": "5m",
        "${job}": "aisle", "$job": "aisle", "${instance}": ".*", "$instance": ".*"}
def substitute(expr):
    for k in sorted(VARS, key=len, reverse=True):
        expr = expr.replace(k, VARS[k])
    if "$" in expr:
        raise ValueError("unsubstituted variable in " + expr)
    return expr
rows, bad = [], 0
titles = set()
for panel in json.load(open(dashboard))["panels"]:
    for t in panel.get("targets", []):
        titles.add(panel["title"])
        try:
            expr = substitute(t["expr"])
            url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            with urllib.request.urlopen(url, timeout=30) as resp:
                body = json.load(resp)
            status, error = body["status"], body.get("error", "")
            result = body["data"]["result"]
        except urllib.error.HTTPError as e:
            body = json.load(e)
            status, error, result = body.get("status", "error"), body.get("error", str(e)), []
        except ValueError as e:
            status, error, result = "error", str(e), []
        finite = sum(1 for r in result if math.isfinite(float(r["value"][1])))
        ok = status == "success"
        if ok and with_server and panel["title"] in REQUIRED and finite == 0:
            ok, error = False, "no data"
        bad += not ok
        rows.append((panel["title"], t["refId"], status, len(result), finite,
                     "ok" if ok else "FAIL " + error[:80]))
missing = REQUIRED - titles
for m in sorted(missing):
    rows.append((m, "-", "-", 0, 0, "FAIL panel missing from the dashboard"))
    bad += 1
w = max(len(r[0]) for r in rows)
print("%-*s %-3s %-8s %6s %6s  %s" % (w, "panel", "ref", "status", "series", "finite", "check"))
for r in rows:
    print("%-*s %-3s %-8s %6d %6d  %s" % (w, *r))
print("%d queries, %d failed" % (len(rows), bad))
sys.exit(1 if bad else 0)
EOF
cat "$WORK/panels.txt"

# Rules.
curl -sf "$PROM/api/v1/rules" > "$WORK/rules.json"
python3 - "$WORK/rules.json" "$WITH_SERVER" <<'EOF' || failures=$((failures + 1))
import json, sys
groups = json.load(open(sys.argv[1]))["data"]["groups"]
with_server = sys.argv[2] == "1"
rows, bad, alerts = [], 0, 0
for g in groups:
    for r in g["rules"]:
        ok = r["health"] == "ok" and not r.get("lastError")
        note = "" if ok else "FAIL " + r.get("lastError", r["health"])[:80]
        state = r.get("state", "-")
        if r["type"] == "alerting":
            alerts += 1
            # The server is up and scraped: AisleDown must not even be pending.
            if with_server and r["name"] == "AisleDown" and state != "inactive":
                ok, note = False, "FAIL AisleDown is %s while the server is up" % state
        bad += not ok
        rows.append((g["name"], r["name"], r["type"], r["health"], state, note or "ok"))
if alerts != 10 or len(rows) != 18:
    rows.append(("-", "-", "-", "-", "-", "FAIL expected 10 alerts and 8 recording rules, got %d rules" % len(rows)))
    bad += 1
w = max(len(r[1]) for r in rows)
print("%-13s %-*s %-9s %-6s %-8s %s" % ("group", w, "rule", "type", "health", "state", "check"))
for r in rows:
    print("%-13s %-*s %-9s %-6s %-8s %s" % (r[0], w, *r[1:]))
print("%d rules, %d failed" % (len(rows), bad))
sys.exit(1 if bad else 0)
EOF

if ((failures)); then
  log "FAILED: $failures check(s) failed"
  exit 1
fi
log "OK: rules, rule tests, every dashboard query and every rule evaluation pass$( ((WITH_SERVER)) || echo ' (no server: empty TSDB)')"
