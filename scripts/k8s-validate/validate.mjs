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
//     "restricted" pod security profile and resources for every container
//     (StatefulSets, CronJobs, Jobs), a termination grace longer than the
//     server's shutdown grace, one replica per store unless the server runs
//     in cluster mode (--cluster); in cluster mode: the NATS URLs name pods
//     of a rendered NATS StatefulSet (odd, >= 3 replicas, a volume for
//     JetStream), and only cluster-mode servers are autoscaled.
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

// The pod specs of every workload, with where they come from.
const workloads = [
  ...sets.map((s) => ({ o: s, pod: s.spec?.template?.spec || {} })),
  ...ofKind("Job").map((j) => ({ o: j, pod: j.spec?.template?.spec || {} })),
  ...ofKind("CronJob").map((c) => ({ o: c, pod: c.spec?.jobTemplate?.spec?.template?.spec || {} })),
];
const argAfter = (c, flag) => {
  const args = c.args || [];
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const isServer = (c) => (c.args || [])[0] === "serve";
const isNats = (c) => /^(docker\.io\/(library\/)?)?nats[:@]/.test(String(c.image || ""));
const serverContainers = (s) => (s.spec?.template?.spec?.containers || []).filter(isServer);
const clusterMode = (s) => serverContainers(s).some((c) => argAfter(c, "--cluster"));
const natsSets = sets.filter((s) => (s.spec?.template?.spec?.containers || []).some(isNats));

// Every container: Pod Security Standards ("restricted"), resources, and
// volumes for its mounts and --data-dir.
for (const { o, pod } of workloads) {
  const psc = pod.securityContext || {};
  const volumeNames = new Set([
    ...(pod.volumes || []).map((v) => v.name),
    ...(o.spec?.volumeClaimTemplates || []).map((v) => v.metadata?.name),
  ]);
  if (pod.enableServiceLinks !== false) {
    problem(o, "enableServiceLinks must be false: the Service `aisle` would inject AISLE_PORT=tcp://...");
  }
  for (const c of pod.containers || []) {
    const where = `container ${c.name}`;
    const csc = c.securityContext || {};
    if (!String(c.image || "").match(/[:@]/)) problem(o, `${where}: image ${c.image} has no tag or digest`);
    if (!(csc.runAsNonRoot ?? psc.runAsNonRoot)) problem(o, `${where}: runAsNonRoot must be true`);
    if ((csc.runAsUser ?? psc.runAsUser) === 0) problem(o, `${where}: runAsUser must not be 0`);
    if (csc.allowPrivilegeEscalation !== false) problem(o, `${where}: allowPrivilegeEscalation must be false`);
    if (!(csc.capabilities?.drop || []).includes("ALL")) problem(o, `${where}: capabilities must drop ALL`);
    const seccomp = (csc.seccompProfile ?? psc.seccompProfile)?.type;
    if (!["RuntimeDefault", "Localhost"].includes(seccomp)) problem(o, `${where}: seccompProfile must be RuntimeDefault`);
    if (csc.readOnlyRootFilesystem !== true) problem(o, `${where}: readOnlyRootFilesystem must be true`);
    for (const kind of ["requests", "limits"]) {
      for (const r of ["cpu", "memory"]) {
        if (!c.resources?.[kind]?.[r]) problem(o, `${where}: resources.${kind}.${r} is not set`);
      }
    }
    const mounts = (c.volumeMounts || []).map((m) => m.mountPath);
    for (const m of c.volumeMounts || []) {
      if (!volumeNames.has(m.name)) problem(o, `${where}: volumeMount ${m.name} has no volume`);
    }
    const dataDir = argAfter(c, "--data-dir");
    if ((isServer(c) || dataDir !== undefined) &&
        (!dataDir || !mounts.some((p) => dataDir === p || dataDir.startsWith(p + "/")))) {
      problem(o, `${where}: --data-dir ${dataDir} is not on a mounted volume`);
    }
    // Cluster mode: each NATS URL is a pod of a rendered NATS StatefulSet
    // (<set>-<i>.<its headless Service>) and a port it listens on.
    const urls = argAfter(c, "--cluster");
    for (const url of urls ? urls.split(",") : []) {
      const m = /^nats:\/\/([^.:\/]+)-(\d+)\.([^.:\/]+)(?:\.[^:\/]*)?:(\d+)$/.exec(url.trim());
      const target = m && natsSets.find((n) => n.metadata?.name === m[1] && n.spec?.serviceName === m[3]);
      const ports = (target?.spec?.template?.spec?.containers || []).flatMap((x) => (x.ports || []).map((p) => p.containerPort));
      if (!target || Number(m[2]) >= (target.spec?.replicas ?? 1) || !ports.includes(Number(m[4]))) {
        problem(o, `${where}: --cluster URL ${url} is not a pod and client port of a rendered NATS StatefulSet`);
      }
    }
  }
}

for (const s of sets) {
  const spec = s.spec || {};
  const pod = spec.template?.spec || {};
  const podLabels = spec.template?.metadata?.labels || {};
  if (!matches(spec.selector?.matchLabels, podLabels)) {
    problem(s, "spec.selector.matchLabels does not match the pod template labels");
  }
  const governing = services.find((svc) => svc.metadata?.name === spec.serviceName);
  if (!governing) problem(s, `serviceName ${spec.serviceName} is not a rendered Service`);
  else if (governing.spec?.clusterIP !== "None") {
    problem(s, `serviceName ${spec.serviceName} is not headless (clusterIP: None)`);
  }
  if (natsSets.includes(s)) {
    // Raft: an odd number of servers, at least 3 to survive losing one.
    if (!(spec.replicas >= 3 && spec.replicas % 2 === 1)) {
      problem(s, `NATS replicas is ${spec.replicas}: JetStream needs an odd number >= 3 for its quorum`);
    }
    if (!(spec.volumeClaimTemplates || []).length) {
      problem(s, "NATS needs a volumeClaimTemplate: JetStream's file store must survive a restart");
    }
    for (const c of pod.containers || []) {
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        if (!c[probe]) problem(s, `container ${c.name}: ${probe} is not set`);
      }
    }
    continue;
  }
  if (spec.replicas !== 1 && !clusterMode(s)) {
    problem(s, `replicas is ${spec.replicas}: each replica is an independent store (docs/deploy.md#replicas)`);
  }
  for (const c of serverContainers(s)) {
    const where = `container ${c.name}`;
    const portNames = new Map((c.ports || []).map((p) => [p.name, p.containerPort]));
    const portNumbers = new Set((c.ports || []).map((p) => p.containerPort));
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

// Only cluster-mode servers may be scaled out: single-node replicas are
// independent stores.
for (const hpa of ofKind("HorizontalPodAutoscaler")) {
  const ref = hpa.spec?.scaleTargetRef || {};
  const target = objects.find((o) => o?.kind === ref.kind && o?.metadata?.name === ref.name);
  if (!target) problem(hpa, `scaleTargetRef ${ref.kind}/${ref.name} is not rendered`);
  else if (!clusterMode(target)) {
    problem(hpa, `scales ${ref.kind}/${ref.name}, which is not in cluster mode (--cluster): each replica would be an independent store`);
  } else if (!(hpa.spec?.minReplicas >= 2)) {
    problem(hpa, `minReplicas ${hpa.spec?.minReplicas} must be >= 2 so that a node can be lost`);
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
