#!/usr/bin/env python3
"""Writes aisle-dashboard.json, the Grafana dashboard for Aisle.

The dashboard is generated so that every panel follows the same conventions
(data source variable, job/instance filters, units); edit this file, then

    python3 deploy/grafana/dashboard.py > deploy/grafana/aisle-dashboard.json

scripts/check_prometheus.sh fails when the JSON is out of date, and runs
every panel query against a real Prometheus scraping a real server.

The data source is the `datasource` template variable, so the JSON imports
into any Grafana (Dashboards > Import) and provisions as is.
"""
import json
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
# Every selector is scoped to the chosen job and instances.
SEL = 'job="$job",instance=~"$instance"'
RI = "$__rate_interval"
SERVER_ERROR_CODES = "UNKNOWN|INTERNAL|UNAVAILABLE|DEADLINE_EXCEEDED|DATA_LOSS"


def rate(metric, extra="", by=None):
    labels = SEL + ("," + extra if extra else "")
    inner = f"rate({metric}{{{labels}}}[{RI}])"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def quantile(q, histogram, by):
    by_le = f"{by}, le" if by else "le"
    return (f"histogram_quantile({q}, sum by ({by_le}) "
            f"(rate({histogram}_bucket{{{SEL}}}[{RI}])))")


def target(expr, legend, ref):
    return {"datasource": DS, "expr": expr, "legendFormat": legend,
            "refId": ref, "range": True, "instant": False}


def p50_p99(histogram, by, legend, refs):
    """The p50 and p99 targets of a histogram; "%q" in legend is p50/p99."""
    return [target(quantile(q, histogram, by), legend.replace("%q", name), ref)
            for q, name, ref in ((0.5, "p50", refs[0]), (0.99, "p99", refs[1]))]


class Layout:
    """Places panels left to right in rows of 24 grid units."""

    def __init__(self):
        self.panels = []
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0

    def _id(self):
        self.next_id += 1
        return self.next_id - 1

    def row(self, title):
        if self.x:
            self.y += self.row_height
        self.x, self.row_height = 0, 0
        self.panels.append({"type": "row", "title": title, "id": self._id(),
                            "collapsed": False, "panels": [],
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}})
        self.y += 1

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.x = 0
            self.y += self.row_height
            self.row_height = 0
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_height = max(self.row_height, h)
        self.panels.append(panel)


def timeseries(title, description, targets, unit, w=12, h=8, stack=False,
               thresholds=None, min_zero=True):
    defaults = {
        "unit": unit,
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
            "showPoints": "never", "spanNulls": False,
            "stacking": {"mode": "normal" if stack else "none",
                         "group": "A"},
            "thresholdsStyle": {"mode": "line" if thresholds else "off"},
        },
        "thresholds": {"mode": "absolute", "steps": [
            {"color": "green", "value": None}] + (thresholds or [])},
    }
    if min_zero:
        defaults["min"] = 0
    return {
        "type": "timeseries", "title": title, "description": description,
        "datasource": DS, "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom",
                       "showLegend": True, "calcs": ["mean", "max", "lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }, w, h


def stat(title, description, targets, unit, w=4, h=4, text_mode="auto",
         thresholds=None, decimals=None, base_color="green"):
    defaults = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": {"mode": "absolute", "steps": [
            {"color": base_color, "value": None}] + (thresholds or [])},
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat", "title": title, "description": description,
        "datasource": DS, "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                              "values": False},
            "textMode": text_mode, "colorMode": "value", "graphMode": "area",
            "justifyMode": "auto", "orientation": "auto",
        },
    }, w, h


def table(title, description, targets, w=24, h=6):
    return {
        "type": "table", "title": title, "description": description,
        "datasource": DS, "targets": targets,
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"showHeader": True},
        "transformations": [{"id": "labelsToFields", "options": {}}],
    }, w, h


def build():
    lay = Layout()

    lay.row("Service")
    lay.add(*stat(
        "Serving", "aisle_up: 1 while SERVING, 0 while starting (recovery) or "
        "draining. Summed over the selected instances.",
        [target(f"sum(aisle_up{{{SEL}}})", "serving", "A")], "none",
        base_color="red", thresholds=[{"color": "green", "value": 1}]))
    lay.add(*stat(
        "Build", "aisle_build_info: the server version per instance.",
        [target(f"count by (version) (aisle_build_info{{{SEL}}})",
                "{{version}}", "A")], "none", text_mode="name"))
    lay.add(*stat(
        "Model version", "aisle_model_info: the serving model version. "
        "No value: no model is loaded (every for_you answer is a fallback).",
        [target(f"count by (version) (aisle_model_info{{{SEL}}})",
                "{{version}}", "A")], "none", text_mode="name"))
    lay.add(*stat(
        "Model age", "Time since the serving model was trained. "
        "AisleStaleModel fires above 2 days.",
        [target(f"max(aisle_model_age_seconds{{{SEL}}})", "age", "A")], "s",
        thresholds=[{"color": "yellow", "value": 86400},
                    {"color": "red", "value": 172800}]))
    lay.add(*stat(
        "Catalog items", "aisle_catalog_items: items in the catalog.",
        [target(f"sum(aisle_catalog_items{{{SEL}}})", "items", "A")],
        "short"))
    lay.add(*stat(
        "Known users", "aisle_known_users: users with at least one event.",
        [target(f"sum(aisle_known_users{{{SEL}}})", "users", "A")], "short"))
    lay.add(*table(
        "Firing alerts", "Aisle alerts from deploy/prometheus/alerts.yml "
        "that are firing now (Prometheus' ALERTS series). Runbooks: "
        "docs/deploy.md.",
        [dict(target('sum by (alertname, severity, instance, method, scenario) '
                     '(ALERTS{alertname=~"Aisle.*",alertstate="firing"})',
                     "", "A"), instant=True, range=False, format="table")],
        h=5))

    lay.row("RPCs")
    lay.add(*timeseries(
        "Request rate by method", "Finished RPCs per second, all codes.",
        [target(rate("aisle_grpc_requests_total", by="method"), "{{method}}",
                "A")], "reqps"))
    lay.add(*timeseries(
        "Error ratio by method and code",
        "Share of a method's RPCs that ended with each non-OK code. "
        f"Server-side codes ({SERVER_ERROR_CODES.replace('|', ', ')}) page "
        "above 1% (AisleHighErrorRatio); client codes such as "
        "INVALID_ARGUMENT and NOT_FOUND point at callers.",
        [target(rate("aisle_grpc_requests_total", 'code!="OK"',
                     by="method, code")
                + " / ignoring (code) group_left "
                + rate("aisle_grpc_requests_total", by="method"),
                "{{method}} {{code}}", "A")], "percentunit",
        thresholds=[{"color": "red", "value": 0.01}]))
    lay.add(*timeseries(
        "Latency p50 / p99 by method",
        "Server-side RPC latency. Objectives (AisleHighLatencyP99): "
        "Recommend p99 < 100 ms, Feedback p99 < 250 ms.",
        [target(quantile(0.5, "aisle_grpc_request_duration_seconds",
                         "method"), "{{method}} p50", "A"),
         target(quantile(0.99, "aisle_grpc_request_duration_seconds",
                         "method"), "{{method}} p99", "B")], "s"))
    lay.add(*timeseries(
        "In-flight RPCs", "RPCs being handled now. Growing in-flight with "
        "flat request rate means the server is saturated.",
        [target(f"sum by (method) (aisle_grpc_requests_in_flight{{{SEL}}})",
                "{{method}}", "A")], "short"))
    lay.add(*timeseries(
        "Load shedding",
        "Calls refused without being worked on, per second, by method and "
        "reason: limit (over the admission limit: RESOURCE_EXHAUSTED), "
        "deadline (already late when picked up, or between Recommend's "
        "stages), cancelled (the client gave up). Health stays SERVING "
        "meanwhile; AisleSheddingLoad fires when more than 5% of a method's "
        "calls are shed for 10 minutes.",
        [target(rate("aisle_rpc_shed_total", by="method, reason"),
                "{{method}} {{reason}}", "A")], "reqps", stack=True))
    lay.add(*timeseries(
        "Admission: limit vs in flight",
        "Per method class (read, write, admin): the admission limit (fixed, "
        "or the adaptive one moving with latency) and the admitted calls "
        "being worked on. In flight at the limit while shedding: the server "
        "is at capacity.",
        [target(f"sum by (class) (aisle_admission_limit{{{SEL}}})",
                "{{class}} limit", "A"),
         target(f"sum by (class) (aisle_admission_in_flight{{{SEL}}})",
                "{{class}} in flight", "B")], "short"))

    lay.row("Recommendations")
    lay.add(*timeseries(
        "Recommendations by scenario", "Recommend responses per second.",
        [target(rate("aisle_recommendations_total", by="scenario"),
                "{{scenario}}", "A")], "reqps", w=8))
    lay.add(*timeseries(
        "Fallback ratio by scenario",
        "Share of responses served from a fallback list (unknown user, no "
        "model, no context). AisleHighFallbackRatio fires above 50%.",
        [target(rate("aisle_recommend_fallback_total", by="scenario")
                + " / " + rate("aisle_recommendations_total", by="scenario"),
                "{{scenario}}", "A")], "percentunit", w=8,
        thresholds=[{"color": "red", "value": 0.5}]))
    lay.add(*timeseries(
        "Candidates by source", "Candidates produced per second by each "
        "source, before filtering and ranking.",
        [target(rate("aisle_candidates_total", by="source"), "{{source}}",
                "A")], "short", w=8, stack=True))
    lay.add(*timeseries(
        "Retrieval latency by path",
        "Factor-model retrieval: ANN (hnswlib) or exact search (small "
        "catalogs, selective filters).",
        [target(quantile(0.5, "aisle_retrieval_duration_seconds", "path"),
                "{{path}} p50", "A"),
         target(quantile(0.99, "aisle_retrieval_duration_seconds", "path"),
                "{{path}} p99", "B")], "s"))
    lay.add(*timeseries(
        "Fold-in latency", "Time to re-solve a user's vector on Feedback "
        "(part of Feedback latency).",
        [target(quantile(0.5, "aisle_fold_in_duration_seconds", ""), "p50",
                "A"),
         target(quantile(0.99, "aisle_fold_in_duration_seconds", ""), "p99",
                "B")], "s"))

    lay.row("Business (attributed to recommendations)")
    lay.add(*timeseries(
        "CTR by scenario",
        "Clicks / impressions of events sent with a recommendation_id.",
        [target(rate("aisle_attributed_events_total", 'type="click"',
                     by="scenario")
                + " / " + rate("aisle_attributed_events_total",
                               'type="impression"', by="scenario"),
                "{{scenario}}", "A")], "percentunit", w=8))
    lay.add(*timeseries(
        "Conversion by scenario",
        "Purchases / clicks of events sent with a recommendation_id.",
        [target(rate("aisle_attributed_events_total", 'type="purchase"',
                     by="scenario")
                + " / " + rate("aisle_attributed_events_total",
                               'type="click"', by="scenario"),
                "{{scenario}}", "A")], "percentunit", w=8))
    lay.add(*timeseries(
        "Served-item CTR by scenario",
        "Attributed clicks / items returned by Recommend: works without "
        "impression events.",
        [target(rate("aisle_attributed_events_total", 'type="click"',
                     by="scenario")
                + " / " + rate("aisle_recommended_items_total",
                               by="scenario"),
                "{{scenario}}", "A")], "percentunit", w=8))
    lay.add(*timeseries(
        "Events by type", "Events stored per second by type, and duplicates "
        "skipped (retries with the same event_id).",
        [target(rate("aisle_events_total", by="type"), "{{type}}", "A"),
         target(rate("aisle_events_duplicate_total"), "duplicates", "B")],
        "short", w=12, stack=False))
    lay.add(*timeseries(
        "Attributed events by scenario and type",
        "Events carrying a recommendation_id, per second.",
        [target(rate("aisle_attributed_events_total", by="scenario, type"),
                "{{scenario}} {{type}}", "A")], "short", w=12))

    lay.row("Storage (RocksDB)")
    lay.add(*timeseries(
        "Write / read latency",
        "RocksDB writes (events, catalog) and point reads. Writes include "
        "the WAL fsync with --durability=machine.",
        p50_p99("aisle_storage_write_duration_seconds", "", "write %q", "AB")
        + p50_p99("aisle_storage_read_duration_seconds", "", "read %q", "CD"),
        "s", w=8))
    lay.add(*timeseries(
        "Live data and memtables", "Estimated live SST bytes and memtable "
        "bytes per instance.",
        [target(f"sum by (instance) (aisle_storage_live_data_bytes{{{SEL}}})",
                "live {{instance}}", "A"),
         target(f"sum by (instance) (aisle_storage_memtable_bytes{{{SEL}}})",
                "memtable {{instance}}", "B")], "bytes", w=8))
    lay.add(*timeseries(
        "Pending compaction", "RocksDB's estimate of bytes to compact. "
        "AisleStoragePendingCompaction warns at 16 GiB; writes stall at "
        "64 GiB.",
        [target("sum by (instance) "
                f"(aisle_storage_pending_compaction_bytes{{{SEL}}})",
                "{{instance}}", "A")], "bytes", w=8,
        thresholds=[{"color": "red", "value": 16 * 1024**3}]))

    lay.row("Cluster (replicated log; empty in single-node mode)")
    lay.add(*timeseries(
        "Applied position", "The last log entry each node applied, and the "
        "log's end as each node sees it. A node's line below the end is a "
        "node behind (alert AisleClusterNodeBehind).",
        [target(f"max by (instance) (aisle_cluster_applied_position{{{SEL}}})",
                "applied {{instance}}", "A"),
         target(f"max(aisle_cluster_log_end_position{{{SEL}}})",
                "log end", "B")], "short", w=6))
    lay.add(*timeseries(
        "Replication lag", "From the log storing an entry to a node "
        "applying it.",
        p50_p99("aisle_cluster_replication_lag_seconds", "instance",
                "%q {{instance}}", "AB"), "s", w=6))
    lay.add(*timeseries(
        "Log append latency and failures", "A write appended to the log "
        "until JetStream acknowledged it (stored on a quorum); failed "
        "appends answer UNAVAILABLE.",
        p50_p99("aisle_cluster_append_duration_seconds", "", "%q", "AB")
        + [target(rate("aisle_cluster_append_failures_total", by="instance"),
                  "failures/s {{instance}}", "C")], "s", w=6))
    lay.add(*timeseries(
        "NATS connection", "1 while a node is connected to NATS; 0: its "
        "writes answer UNAVAILABLE and its reads are marked stale (alert "
        "AisleClusterLogUnreachable).",
        [target(f"min by (instance) (aisle_cluster_connected{{{SEL}}})",
                "{{instance}}", "A")], "short", w=6))

    return {
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana",
             "version": "10.0.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus",
             "version": "1.0.0"},
        ],
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "description": "Aisle recommendation service: traffic, errors, "
                       "latency, model, recommendations, business metrics "
                       "and storage.",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": lay.panels,
        "refresh": "30s",
        "schemaVersion": 38,
        "tags": ["aisle"],
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0, "refresh": 1,
             "regex": "", "includeAll": False, "multi": False, "options": []},
            {"name": "job", "label": "Job", "type": "query", "datasource": DS,
             "definition": "label_values(aisle_up, job)",
             "query": {"query": "label_values(aisle_up, job)",
                       "refId": "PrometheusVariableQueryEditor-VariableQuery"},
             "current": {}, "hide": 0, "refresh": 2, "regex": "", "sort": 1,
             "includeAll": False, "multi": False, "options": []},
            {"name": "instance", "label": "Instance", "type": "query",
             "datasource": DS,
             "definition": 'label_values(aisle_up{job="$job"}, instance)',
             "query": {"query": 'label_values(aisle_up{job="$job"}, instance)',
                       "refId": "PrometheusVariableQueryEditor-VariableQuery"},
             "current": {"text": "All", "value": "$__all"}, "hide": 0,
             "refresh": 2, "regex": "", "sort": 1, "includeAll": True,
             "allValue": ".*", "multi": True, "options": []},
        ]},
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": "Aisle",
        "uid": "aisle-overview",
        "version": 1,
        "weekStart": "",
    }


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=2)
    sys.stdout.write("\n")
