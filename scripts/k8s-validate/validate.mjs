// Validates rendered Kubernetes objects offline (scripts/validate_k8s.sh).
//
//   node validate.mjs objects.json [LABEL]
//
// objects.json is a JSON array of objects (a rendered kustomization). Two
// layers of checks:
//  1. Schema: each object against the Kubernetes OpenAPI schema of its
//     apiVersion/kind (kubernetes-models; the ServiceMonitor CRD from
//     @kubernetes-models/prometheus-operator). An unknown kind is an error,
//     and so is an unknown field (fields.mjs), which the API server would
//     drop with a mere warning.
//  2. Consistency and policy across objects: selectors match the pods,
//     named ports exist, the ServiceMonitor finds the metrics port and
//     yields job="aisle" (what the alerts select), gRPC probes, the
//     "restricted" pod security profile, resources, a termination grace
//     longer than the server's shutdown grace, one replica per store.
// Prints every problem and exits 1 if there is any.
import { readFileSync } from "node:fs";
import { unknownFields } from "./fields.mjs";

const [file, label = file] = process.argv.slice(2);
if (!file) {
  console.error("usage: node validate.mjs objects.json [LABEL]");
  process.exit(2);
}
const objects = JSON.parse(readFileSync(file, "utf8"));
const problems = [];
const id = (o) => `${o?.kind}/${o?.metadata?.name}`;
const problem = (o, msg) => problems.push(`${id(o)}: ${msg}`);

// --- 1. schema ---------------------------------------------------------------
async function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/")
    ? apiVersion.split("/")
    : ["", apiVersion];
  const candidates =
    group === "monitoring.coreos.com"
      ? [`@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`]
      : [`kubernetes-models/${group ? group + "/" : ""}${version}/${kind}`];
  for (const path of candidates) {
    try {
      const module = await import(path);
      if (module[kind]) return { Model: module[kind], path };
    } catch {
      // try the next candidate
    }
  }
  return null;
}

for (const o of objects) {
  if (!o || typeof o !== "object" || !o.apiVersion || !o.kind) {
    problems.push(`object without apiVersion/kind: ${JSON.stringify(o).slice(0, 80)}`);
    continue;
  }
  const found = await modelFor(o.apiVersion, o.kind);
  if (!found) {
    problem(o, `no schema known for ${o.apiVersion} ${o.kind}`);
    continue;
  }
  try {
    new found.Model(o).validate();
  } catch (e) {
    problem(o, `schema: ${e.message}`);
  }
  for (const p of unknownFields(o, found.path)) problem(o, p);
}

// --- 2. consistency and policy -----------------------------------------------
const ofKind = (kind) => objects.filter((o) => o?.kind === kind);
const matches = (selector, labels) =>
  Object.entries(selector || {}).every(([k, v]) => (labels || {})[k] === v);
const durationSeconds = (text) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(text).trim());
  if (!m) return NaN;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] || "s"];
};

const sets = ofKind("StatefulSet");
const services = ofKind("Service");
const configMaps = ofKind("ConfigMap");
if (sets.length === 0) problems.push("no StatefulSet rendered");

const podLabelsList = sets.map((s) => s.spec?.template?.metadata?.labels || {});
const selectsPods = (selector) =>
  Object.keys(selector || {}).length > 0 &&
  podLabelsList.some((labels) => matches(selector, labels));

for (const s of sets) {
  const spec = s.spec || {};
  const pod = spec.template?.spec || {};
  const podLabels = spec.template?.metadata?.labels || {};
  if (!matches(spec.selector?.matchLabels, podLabels)) {
    problem(s, "spec.selector.matchLabels does not match the pod template labels");
  }
  if (spec.replicas !== 1) {
    problem(s, `replicas is ${spec.replicas}: each replica is an independent store (docs/deploy.md#replicas)`);
  }
  const governing = services.find((svc) => svc.metadata?.name === spec.serviceName);
  if (!governing) problem(s, `serviceName ${spec.serviceName} is not a rendered Service`);
  else if (governing.spec?.clusterIP !== "None") {
    problem(s, `serviceName ${spec.serviceName} is not headless (clusterIP: None)`);
  }
  if (pod.enableServiceLinks !== false) {
    problem(s, "enableServiceLinks must be false: the Service `aisle` would inject AISLE_PORT=tcp://...");
  }
  const psc = pod.securityContext || {};
  const volumeNames = new Set([
    ...(pod.volumes || []).map((v) => v.name),
    ...(spec.volumeClaimTemplates || []).map((v) => v.metadata?.name),
  ]);
  for (const c of pod.containers || []) {
    const where = `container ${c.name}`;
    const csc = c.securityContext || {};
    const portNames = new Map((c.ports || []).map((p) => [p.name, p.containerPort]));
    const portNumbers = new Set((c.ports || []).map((p) => p.containerPort));
    if (!String(c.image || "").match(/[:@]/)) problem(s, `${where}: image ${c.image} has no tag or digest`);
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      const port = c[probe]?.grpc?.port;
      if (port === undefined) problem(s, `${where}: ${probe} must be a gRPC probe`);
      else if (!portNumbers.has(port)) problem(s, `${where}: ${probe} port ${port} is not a container port`);
    }
    const startup = c.startupProbe || {};
    if ((startup.periodSeconds || 10) * (startup.failureThreshold || 3) < 300) {
      problem(s, `${where}: startupProbe allows less than 5 minutes for recovery`);
    }
    if (!portNames.has("grpc") || !portNames.has("metrics")) {
      problem(s, `${where}: needs container ports named grpc and metrics`);
    }
    // Pod Security Standards, "restricted" profile.
    if (!(csc.runAsNonRoot ?? psc.runAsNonRoot)) problem(s, `${where}: runAsNonRoot must be true`);
    if ((csc.runAsUser ?? psc.runAsUser) === 0) problem(s, `${where}: runAsUser must not be 0`);
    if (csc.allowPrivilegeEscalation !== false) problem(s, `${where}: allowPrivilegeEscalation must be false`);
    if (!(csc.capabilities?.drop || []).includes("ALL")) problem(s, `${where}: capabilities must drop ALL`);
    const seccomp = (csc.seccompProfile ?? psc.seccompProfile)?.type;
    if (!["RuntimeDefault", "Localhost"].includes(seccomp)) problem(s, `${where}: seccompProfile must be RuntimeDefault`);
    if (csc.readOnlyRootFilesystem !== true) problem(s, `${where}: readOnlyRootFilesystem must be true`);
    for (const kind of ["requests", "limits"]) {
      for (const r of ["cpu", "memory"]) {
        if (!c.resources?.[kind]?.[r]) problem(s, `${where}: resources.${kind}.${r} is not set`);
      }
    }
    const mounts = (c.volumeMounts || []).map((m) => m.mountPath);
    for (const m of c.volumeMounts || []) {
      if (!volumeNames.has(m.name)) problem(s, `${where}: volumeMount ${m.name} has no volume`);
    }
    const dataDir = (c.args || [])[(c.args || []).indexOf("--data-dir") + 1];
    if (!dataDir || !mounts.some((p) => dataDir === p || dataDir.startsWith(p + "/"))) {
      problem(s, `${where}: --data-dir ${dataDir} is not on a mounted volume`);
    }
    // The pod must outlive the server's drain (AISLE_SHUTDOWN_GRACE).
    let grace = 10; // the server's default
    for (const ref of c.envFrom || []) {
      const name = ref.configMapRef?.name;
      if (!name) continue;
      const cm = configMaps.find((x) => x.metadata?.name === name);
      if (!cm) problem(s, `${where}: envFrom ConfigMap ${name} is not rendered`);
      else if (cm.data?.AISLE_SHUTDOWN_GRACE) grace = durationSeconds(cm.data.AISLE_SHUTDOWN_GRACE);
      if (cm?.data?.AISLE_PORT) problem(s, `${where}: ConfigMap sets AISLE_PORT; the port belongs in args`);
    }
    const termination = pod.terminationGracePeriodSeconds ?? 30;
    if (!(termination >= grace + 10)) {
      problem(s, `terminationGracePeriodSeconds ${termination} must exceed AISLE_SHUTDOWN_GRACE (${grace}s) by 10s for the flush`);
    }
  }
}

for (const svc of services) {
  if (!selectsPods(svc.spec?.selector)) problem(svc, "selector matches no pod template");
  const containerPortNames = new Set(
    sets.flatMap((s) => (s.spec?.template?.spec?.containers || []).flatMap((c) => (c.ports || []).map((p) => p.name))),
  );
  for (const p of svc.spec?.ports || []) {
    if (typeof p.targetPort === "string" && !containerPortNames.has(p.targetPort)) {
      problem(svc, `port ${p.name}: targetPort ${p.targetPort} is not a container port name`);
    }
  }
}

for (const pdb of ofKind("PodDisruptionBudget")) {
  if (!selectsPods(pdb.spec?.selector?.matchLabels)) problem(pdb, "selector matches no pod template");
}

for (const sm of ofKind("ServiceMonitor")) {
  const selected = services.filter((svc) => matches(sm.spec?.selector?.matchLabels, svc.metadata?.labels));
  if (selected.length !== 1) {
    problem(sm, `selector matches ${selected.length} Services (${selected.map(id).join(", ")}); want exactly 1, or targets are scraped twice`);
    continue;
  }
  const svc = selected[0];
  for (const ep of sm.spec?.endpoints || []) {
    if (!(svc.spec?.ports || []).some((p) => p.name === ep.port)) {
      problem(sm, `endpoint port ${ep.port} is not a port of ${id(svc)}`);
    }
  }
  const job = sm.spec?.jobLabel ? svc.metadata?.labels?.[sm.spec.jobLabel] : svc.metadata?.name;
  if (job !== "aisle") problem(sm, `scrapes would get job="${job}", the alerts select job="aisle"`);
}

for (const o of objects) {
  const ns = o?.metadata?.namespace;
  const namespaces = ofKind("Namespace").map((n) => n.metadata?.name);
  if (ns && namespaces.length && !namespaces.includes(ns)) problem(o, `namespace ${ns} is not the rendered Namespace`);
}

if (problems.length) {
  console.log(`${label}: ${problems.length} problem(s)`);
  for (const p of problems) console.log(`  - ${p}`);
  process.exit(1);
}
console.log(`${label}: ${objects.length} objects valid (${objects.map(id).join(", ")})`);
