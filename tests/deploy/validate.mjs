#!/usr/bin/env node
// Offline checks of framepair's deployment: renders every kustomization under deploy/k8s with
// `kubectl kustomize` (the base, each overlay, and each optional component on top of the prod
// overlay) and validates every rendered object:
//   - schema: the Kubernetes OpenAPI schemas of the npm package kubernetes-models (and its
//     KEDA and prometheus-operator siblings for the custom resources);
//   - unknown keys: those schemas accept any extra key (they do not set
//     additionalProperties: false), so every object is validated through a Proxy that records
//     which keys the schema validator reads; a key it never reads is not in the schema;
//   - policy: probes, resources, securityContext, selectors, Service ports, PDBs,
//     NetworkPolicies, images, labels, autoscalers, drain timing and the coordinator's view of
//     the workers (see checkSet below: each check says what it protects);
// and checks the Dockerfile's structure (deploy/docker/Dockerfile).
//
//   node validate.mjs [--repo DIR] [--kubectl PATH]            validate (exit 1 on any error)
//   node validate.mjs [--repo DIR] [--kubectl PATH] --self-test
//       breaks rendered objects and the Dockerfile in known ways and expects each break to be
//       reported, so a validator that stopped checking fails too.
//
// Needs node >= 18, kubectl (with its built-in kustomize) and the packages of package.json
// (`npm ci` in this directory; scripts/install-deps.sh runs it).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------------------------
// Command line and environment

function parseArgs(argv) {
  const opts = { repo: path.resolve(here, "../.."), kubectl: "kubectl", selfTest: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--repo") opts.repo = path.resolve(argv[++i]);
    else if (a === "--kubectl") opts.kubectl = argv[++i];
    else if (a === "--self-test") opts.selfTest = true;
    else if (a === "-h" || a === "--help") {
      console.log("usage: node validate.mjs [--repo DIR] [--kubectl PATH] [--self-test]");
      process.exit(0);
    } else fatal(`unknown argument ${a}`);
  }
  return opts;
}

function fatal(message) {
  console.error(`deploy-validate: ${message}`);
  process.exit(1);
}

function requireKubectl(kubectl) {
  const r = spawnSync(kubectl, ["version", "--client", "-o", "json"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    fatal(`kubectl is needed to render the kustomizations and was not found or failed ` +
      `(${r.error ? r.error.message : r.stderr.trim()}). Install kubectl (it includes ` +
      `kustomize) or pass --kubectl PATH.`);
  }
  const info = JSON.parse(r.stdout);
  if (!info.kustomizeVersion) fatal(`${kubectl} has no built-in kustomize (kubectl >= 1.14 has)`);
  return `kubectl ${info.clientVersion.gitVersion}, kustomize ${info.kustomizeVersion}`;
}

async function loadPackages() {
  try {
    const yaml = await import("yaml");
    return { yaml };
  } catch (e) {
    fatal(`the npm packages are not installed (${e.message}). Run \`npm ci\` in ` +
      `${here} (scripts/install-deps.sh does).`);
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering

function kustomize(kubectl, dir, extra = []) {
  const r = spawnSync(kubectl, ["kustomize", dir, ...extra], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`kubectl kustomize ${dir}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${r.stderr}`);
  return r.stdout;
}

function parseDocs(yaml, text, where) {
  const objects = [];
  for (const doc of yaml.parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${where}: YAML error: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value);
  }
  return objects;
}

// Every kustomization to render: the base, each overlay, and each component that no overlay
// uses, layered on the prod overlay (so an optional component is rendered and checked too).
function renderTargets(yaml, k8sDir) {
  const targets = [{ name: "base", dir: path.join(k8sDir, "base"), full: true }];
  const overlaysDir = path.join(k8sDir, "overlays");
  const used = new Set();
  for (const o of fs.readdirSync(overlaysDir).sort()) {
    const file = path.join(overlaysDir, o, "kustomization.yaml");
    if (!fs.existsSync(file)) continue;
    targets.push({ name: `overlays/${o}`, dir: path.join(overlaysDir, o), full: true });
    const k = yaml.parse(fs.readFileSync(file, "utf8")) ?? {};
    for (const c of k.components ?? []) used.add(path.resolve(overlaysDir, o, c));
  }
  const componentsDir = path.join(k8sDir, "components");
  if (fs.existsSync(componentsDir)) {
    for (const c of fs.readdirSync(componentsDir).sort()) {
      const dir = path.join(componentsDir, c);
      if (!fs.existsSync(path.join(dir, "kustomization.yaml")) || used.has(dir)) continue;
      targets.push({ name: `overlays/prod+components/${c}`, component: dir, full: true,
        on: path.join(overlaysDir, "prod") });
    }
  }
  return targets;
}

function renderAll(kubectl, yaml, k8sDir) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "framepair-kustomize-"));
  try {
    return renderTargets(yaml, k8sDir).map((t) => {
      if (!t.component) {
        return { name: t.name, full: t.full, objects: parseDocs(yaml, kustomize(kubectl, t.dir), t.name) };
      }
      // The overlay's own kustomization, moved to a scratch directory (paths rewritten to
      // point back) with the component added, so that the overlay's transformers (namespace,
      // instance label) apply to the component as they would if the overlay listed it.
      const dir = fs.mkdtempSync(path.join(tmp, "c-"));
      const k = yaml.parse(fs.readFileSync(path.join(t.on, "kustomization.yaml"), "utf8"));
      const rel = (p) => (/^[a-z]+:\/\//.test(p) ? p : path.relative(dir, path.resolve(t.on, p)));
      k.resources = (k.resources ?? []).map(rel);
      k.components = [...new Set([...(k.components ?? []).map(rel), rel(t.component)])];
      for (const p of k.patches ?? []) if (p.path) p.path = rel(p.path);
      for (const g of [...(k.configMapGenerator ?? []), ...(k.secretGenerator ?? [])]) {
        if (g.files) g.files = g.files.map((f) => (f.includes("=") ? f.replace(/=(.*)$/, (_, x) => `=${rel(x)}`) : rel(f)));
        if (g.envs) g.envs = g.envs.map(rel);
      }
      fs.writeFileSync(path.join(dir, "kustomization.yaml"), yaml.stringify(k));
      return { name: t.name, full: t.full,
        objects: parseDocs(yaml, kustomize(kubectl, dir, ["--load-restrictor", "LoadRestrictionsNone"]), t.name) };
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Schema and unknown keys

const SCHEMA_MODULES = [
  // [apiVersion prefix test, module path builder]
  [(g) => !g.includes(".") || g.endsWith(".k8s.io"), (g, v) => g ? `kubernetes-models/${g}/${v}` : `kubernetes-models/${v}`],
  [(g) => g === "keda.sh", (g, v) => `@kubernetes-models/keda/${g}/${v}`],
  [(g) => g === "monitoring.coreos.com", (g, v) => `@kubernetes-models/prometheus-operator/${g}/${v}`],
];
const moduleCache = new Map();

async function modelClass(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const entry = SCHEMA_MODULES.find(([test]) => test(group));
  if (!entry) return null;
  const spec = entry[1](group, version);
  if (!moduleCache.has(spec)) {
    moduleCache.set(spec, await import(spec).catch(() => null));
  }
  const mod = moduleCache.get(spec);
  return mod && typeof mod[kind] === "function" ? mod[kind] : null;
}

// Wraps `value` so that every property read is recorded per object.
function track(value, where, records) {
  if (value === null || typeof value !== "object") return value;
  const read = new Set();
  records.push({ where, value, read });
  const copy = Array.isArray(value)
    ? value.map((v, i) => track(v, `${where}[${i}]`, records))
    : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, track(v, `${where}.${k}`, records)]));
  return new Proxy(copy, {
    get(target, prop, receiver) {
      if (typeof prop === "string") read.add(prop);
      return Reflect.get(target, prop, receiver);
    },
  });
}

async function checkSchema(obj, report) {
  const cls = await modelClass(obj.apiVersion, obj.kind);
  if (!cls) {
    report(`no schema for ${obj.apiVersion} ${obj.kind}: add its model package to tests/deploy`);
    return;
  }
  const records = [];
  try {
    cls.prototype.validate.call(track(obj, "", records));
  } catch (e) {
    for (const line of String(e.message).split("\n")) report(`schema: ${line}`);
  }
  for (const { where, value, read } of records) {
    if (Array.isArray(value)) continue;
    for (const key of Object.keys(value)) {
      if (!read.has(key)) report(`unknown field ${where}.${key} (not in the ${obj.apiVersion} ${obj.kind} schema)`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

const RECOMMENDED = ["app.kubernetes.io/name", "app.kubernetes.io/instance",
  "app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"];
const SERVER_BINARIES = ["coordinator", "ingest", "align", "scene", "packer"];
const WORKERS = ["ingest", "align", "scene", "packer"];
const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]);
const SERVICE_NAMES = { coordinator: "framepair.v1.Coordinator", ingest: "framepair.v1.Ingest",
  align: "framepair.v1.Align", scene: "framepair.v1.Scene", packer: "framepair.v1.Packer" };

const id = (o) => `${o.kind}/${o.metadata?.name ?? "?"}`;
const nsOf = (o) => o.metadata?.namespace ?? "default";

function matchesSelector(selector, labels) {
  if (!selector) return false;
  labels = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    if (e.operator === "In" && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

// Quantity ("250m", "2", "512Mi", "2Ti", "1e3") -> number.
function quantity(q) {
  const m = /^([0-9.]+(?:e[0-9]+)?)([a-zA-Z]*)$/.exec(String(q));
  if (!m) return NaN;
  const units = { "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, Ki: 2 ** 10, Mi: 2 ** 20,
    Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50 };
  return m[2] in units ? Number(m[1]) * units[m[2]] : NaN;
}

// The workers' memory model (lib/pipeline/memory_model.h) and default --max-frame-pixels
// (lib/media/video.h), read from the sources so that this check cannot drift from them.
let MODEL = null;
function loadMemoryModel(repo) {
  const header = fs.readFileSync(path.join(repo, "lib/pipeline/memory_model.h"), "utf8");
  const model = {};
  for (const m of header.matchAll(/inline constexpr int64_t (k\w+) = (?:int64_t\{(\d+)\} << (\d+)|(\d+));/g)) {
    model[m[1]] = m[4] !== undefined ? Number(m[4]) : Number(m[2]) * 2 ** Number(m[3]);
  }
  const video = fs.readFileSync(path.join(repo, "lib/media/video.h"), "utf8");
  const pixels = /kDefaultMaxFramePixels = ([0-9 *\/]+);/.exec(video);
  if (pixels) model.kDefaultMaxFramePixels = pixels[1].split(/\s*\*\s*/).reduce((acc, term) => {
    const [num, den] = term.split(/\s*\/\s*/).map(Number);
    return Math.floor((acc * num) / (den ?? 1));
  }, 1);
  const needed = ["kDecoderReferenceFrames", "kMaxAutoDecoderThreads", "kPackFeedDepth", "kPackLookaheadWindows",
    "kPackInFlightPerThread", "kPackExtraPngWindows", "kPngBytesPerPixel", "kEncoderBytesPerPixel",
    "kIngestScratchBytesPerPixel", "kTaskFixedBytes", "kWorkerBaseBytes", "kDecodedFramePaddingPercent",
    "kSizingWindow", "kDefaultMaxFramePixels"];
  const missing = needed.filter((k) => !Number.isFinite(model[k]));
  if (missing.length) fatal(`lib/pipeline/memory_model.h or lib/media/video.h no longer defines ${missing.join(", ")} in the form this check reads`);
  MODEL = model;
}

// Worst-case bytes of one task at `pixels` per HR frame, as lib/pipeline/memory_model.cc
// computes them for 8-bit 4:2:0 frames, FFmpeg's largest automatic decoder thread count and,
// for pack, LR 1/4 of HR on each side and windows of kSizingWindow pairs.
function taskBytes(kind, pixels, packThreads) {
  const m = MODEL;
  const frame = (px) => Math.floor((Math.floor(px * 3 / 2) * (100 + m.kDecodedFramePaddingPercent)) / 100);
  const decoderThreads = m.kMaxAutoDecoderThreads;
  if (kind === "ingest") {
    return (m.kDecoderReferenceFrames + decoderThreads + 1) * frame(pixels) + m.kIngestScratchBytesPerPixel * pixels + m.kTaskFixedBytes;
  }
  const lrPixels = Math.floor(pixels / 16);
  const all = pixels + lrPixels;
  const perDecoder = m.kDecoderReferenceFrames + decoderThreads + 1 + m.kPackFeedDepth + 1;
  const inFlight = m.kPackInFlightPerThread * packThreads + m.kPackInFlightPerThread;
  return perDecoder * (frame(pixels) + frame(lrPixels)) + inFlight * frame(pixels) +
    packThreads * m.kEncoderBytesPerPixel * all +
    (m.kPackLookaheadWindows + m.kPackExtraPngWindows) * m.kSizingWindow * m.kPngBytesPerPixel * all + m.kTaskFixedBytes;
}
const MiB = (b) => Math.ceil(b / 2 ** 20);
// --memory-budget: at most this share of the memory limit (the rest is headroom for what the
// model does not count: allocator fragmentation, page cache charged to the pod).
const BUDGET_SHARE = 0.9;

// Image reference -> { tag, digest } ("host:5000/a/b:1.2@sha256:...").
function imageRef(image) {
  let rest = image;
  let digest = null;
  const at = rest.indexOf("@");
  if (at >= 0) { digest = rest.slice(at + 1); rest = rest.slice(0, at); }
  const slash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  const tag = colon > slash ? rest.slice(colon + 1) : null;
  return { tag, digest };
}

function podSpecOf(o) {
  if (o.kind === "CronJob") return o.spec?.jobTemplate?.spec?.template?.spec;
  return o.spec?.template?.spec;
}
function podLabelsOf(o) {
  if (o.kind === "CronJob") return o.spec?.jobTemplate?.spec?.template?.metadata?.labels ?? {};
  return o.spec?.template?.metadata?.labels ?? {};
}

// `--name=value` / `--name value` -> Map(name -> value).
function flagsOf(args) {
  const flags = new Map();
  for (let i = 0; i < args.length; i++) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(args[i]);
    if (!m) continue;
    if (m[2] !== undefined) flags.set(m[1], m[2]);
    else if (i + 1 < args.length && !args[i + 1].startsWith("--")) flags.set(m[1], args[++i]);
    else flags.set(m[1], "");
  }
  return flags;
}

// The container's environment as the kubelet builds it (envFrom, then env), for $(VAR) in args.
function containerEnv(workload, container, configMaps) {
  const env = new Map();
  const unresolved = [];
  for (const src of container.envFrom ?? []) {
    if (src.configMapRef) {
      const cm = configMaps.get(src.configMapRef.name);
      if (!cm) { unresolved.push(`envFrom ConfigMap ${src.configMapRef.name} is not in the render`); continue; }
      for (const [k, v] of Object.entries(cm.data ?? {})) env.set((src.prefix ?? "") + k, String(v));
    }
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env.set(e.name, String(e.value));
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") env.set(e.name, nsOf(workload));
    else if (e.valueFrom?.configMapKeyRef) {
      const cm = configMaps.get(e.valueFrom.configMapKeyRef.name);
      const v = cm?.data?.[e.valueFrom.configMapKeyRef.key];
      if (v === undefined && !e.valueFrom.configMapKeyRef.optional) {
        unresolved.push(`env ${e.name}: ConfigMap key ${e.valueFrom.configMapKeyRef.name}/${e.valueFrom.configMapKeyRef.key} is not in the render`);
      } else env.set(e.name, String(v));
    } else env.set(e.name, `<${e.name}>`);
  }
  return { env, unresolved };
}

function expand(args, env) {
  const missing = new Set();
  const out = (args ?? []).map((a) => String(a).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name) => {
    if (env.has(name)) return env.get(name);
    missing.add(name);
    return all;
  }));
  return { args: out, missing: [...missing] };
}

// A bucket storage root: the credentials come from a Secret (envFrom secretRef, or env
// valueFrom secretKeyRef), never written into the manifests (a literal env value, a ConfigMap).
const AWS_SECRET_VARS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];
function checkObjectStorage(w, where, c, configMaps, report) {
  const fromSecret = (c.envFrom ?? []).some((e) => e.secretRef?.name) ||
    (c.env ?? []).some((e) => e.name === "AWS_SECRET_ACCESS_KEY" && e.valueFrom?.secretKeyRef);
  if (!fromSecret) report(w, `${where}: --storage-root is a bucket but no Secret provides AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (envFrom secretRef)`);
  for (const e of c.env ?? []) {
    if (AWS_SECRET_VARS.includes(e.name) && e.value !== undefined) report(w, `${where}: ${e.name} is inlined in the manifest; take it from a Secret`);
  }
  for (const e of c.envFrom ?? []) {
    const cm = e.configMapRef && configMaps.get(e.configMapRef.name);
    for (const k of Object.keys(cm?.data ?? {})) {
      if (AWS_SECRET_VARS.includes(k)) report(w, `${where}: ${k} is in ConfigMap ${e.configMapRef.name}; take it from a Secret`);
    }
  }
}

// framepair server kind from the container's command ("/usr/local/bin/framepair-packer").
function serverKind(container) {
  const exe = (container.command ?? [])[0] ?? "";
  const m = /(?:^|\/)framepair-([a-z]+)$/.exec(exe);
  return m && SERVER_BINARIES.includes(m[1]) ? m[1] : null;
}

function portOf(hostPort) {
  const m = /:(\d+)$/.exec(hostPort ?? "");
  return m ? Number(m[1]) : null;
}

function probeKind(probe) {
  if (!probe) return null;
  for (const k of ["grpc", "exec", "httpGet", "tcpSocket"]) if (probe[k]) return k;
  return null;
}

// What a probe asks: { port, service } for grpc and `framepair health` exec probes.
function probeTarget(probe) {
  if (probe.grpc) return { port: probe.grpc.port, service: probe.grpc.service ?? "" };
  const cmd = probe.exec?.command ?? [];
  if (/(?:^|\/)framepair$/.test(cmd[0] ?? "") && cmd[1] === "health") {
    const f = flagsOf(cmd.slice(2));
    const server = f.get("server") ?? "";
    const host = server.replace(/:\d+$/, "");
    return { port: portOf(server), service: f.get("service") ?? "", local: ["localhost", "127.0.0.1", "[::1]"].includes(host) };
  }
  return null;
}

// Flags that name a secret file (TLS keys and certificates, token files).
const SECRET_FILE_FLAGS = ["tls-cert", "tls-key", "tls-client-ca", "auth-token-file",
  "worker-tls-ca", "worker-tls-cert", "worker-tls-key", "worker-token-file"];

// The Secret key behind `file` in container `c`: { secret, key }, or null after report(why).
function secretFile(c, volumes, file, report) {
  const mount = (c.volumeMounts ?? []).filter((m) => file.startsWith(`${m.mountPath}/`) || (m.subPath && file === m.mountPath))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!mount) { report(`${file} is on no volume mount`); return null; }
  const v = volumes.get(mount.name);
  if (!v?.secret) { report(`${file} is on volume ${mount.name}, which is not a Secret`); return null; }
  const rel = mount.subPath ? mount.subPath : file.slice(mount.mountPath.length + 1);
  const items = v.secret.items;
  if (!items) { report(`Secret volume ${mount.name} lists no items, so nothing says that ${rel} is one of its keys`); return null; }
  const item = items.find((i) => i.path === rel);
  if (!item) { report(`${file} is not an item of Secret volume ${mount.name} (${v.secret.secretName})`); return null; }
  return { secret: v.secret.secretName, key: item.key };
}

function isEqual(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// ---------------------------------------------------------------------------------------------
// Policy over one rendered set

function checkSet(objects, { full }, report) {
  const byKind = (k) => objects.filter((o) => o.kind === k);
  const configMaps = new Map(byKind("ConfigMap").map((c) => [c.metadata.name, c]));
  const workloads = objects.filter((o) => WORKLOAD_KINDS.has(o.kind));
  const services = byKind("Service");
  const pdbs = byKind("PodDisruptionBudget");
  const netpols = byKind("NetworkPolicy");
  const hpas = byKind("HorizontalPodAutoscaler");
  const scaledObjects = byKind("ScaledObject");
  const pvcs = byKind("PersistentVolumeClaim");
  const flagsOf_ = new WeakMap(); // container -> its expanded flags (framepair servers only)
  const secretFiles = new Map(); // server kind -> { flag: { secret, key } }

  // Names are unique per kind and namespace (kustomize would merge or refuse duplicates, but a
  // component can still add one that shadows another).
  const seen = new Set();
  for (const o of objects) {
    const key = `${o.kind}/${nsOf(o)}/${o.metadata?.name}`;
    if (seen.has(key)) report(o, `duplicate object ${key}`);
    seen.add(key);
  }

  // Recommended labels on every object (and the version on workloads and their pods), so that
  // tooling can tell which release and which component an object belongs to.
  for (const o of objects) {
    const labels = o.metadata?.labels ?? {};
    for (const l of RECOMMENDED) if (!labels[l]) report(o, `missing recommended label ${l}`);
    if (labels["app.kubernetes.io/part-of"] && labels["app.kubernetes.io/part-of"] !== "framepair") {
      report(o, `app.kubernetes.io/part-of is ${labels["app.kubernetes.io/part-of"]}, expected framepair`);
    }
    if (WORKLOAD_KINDS.has(o.kind)) {
      if (!labels["app.kubernetes.io/version"]) report(o, "missing label app.kubernetes.io/version");
      const pl = podLabelsOf(o);
      for (const l of [...RECOMMENDED, "app.kubernetes.io/version"]) {
        if (!pl[l]) report(o, `pod template misses recommended label ${l}`);
      }
    }
  }

  // Per workload.
  const images = new Set();
  const storageMounts = new Map(); // workload id -> { claim, path }
  const kindOfWorkload = new Map(); // server kind -> workload
  for (const w of workloads) {
    const spec = podSpecOf(w) ?? {};
    const podLabels = podLabelsOf(w);

    // The selector must select the pods the workload creates, or it manages none of them.
    if (w.spec?.selector && !matchesSelector(w.spec.selector, podLabels)) {
      report(w, "spec.selector does not match the pod template's labels");
    }
    if (w.spec?.selector && (w.spec.selector.matchLabels?.["app.kubernetes.io/version"] !== undefined)) {
      report(w, "spec.selector uses app.kubernetes.io/version, which changes on every release (selectors are immutable)");
    }

    // Pod-level security.
    const psc = spec.securityContext ?? {};
    if (spec.automountServiceAccountToken !== false) report(w, "pod mounts a service account token (set automountServiceAccountToken: false)");
    if (spec.hostNetwork || spec.hostPID || spec.hostIPC) report(w, "pod uses host namespaces");

    const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
    const claimTemplates = new Map((w.spec?.volumeClaimTemplates ?? []).map((t) => [t.metadata.name, t]));
    const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
    if (!(spec.containers ?? []).length) report(w, "pod has no containers");

    for (const c of containers) {
      const where = `container ${c.name}`;
      const isInit = (spec.initContainers ?? []).includes(c);

      // Images: pinned by tag or digest, never `latest`.
      const { tag, digest } = imageRef(c.image ?? "");
      if (!c.image) report(w, `${where}: no image`);
      else if (!tag && !digest) report(w, `${where}: image ${c.image} has no tag or digest`);
      else if (tag === "latest") report(w, `${where}: image ${c.image} uses the latest tag`);
      if (c.image) images.add(c.image);

      // Container security (the restricted Pod Security profile and then some).
      const sc = c.securityContext ?? {};
      if (sc.allowPrivilegeEscalation !== false) report(w, `${where}: allowPrivilegeEscalation must be false`);
      if (sc.readOnlyRootFilesystem !== true) report(w, `${where}: readOnlyRootFilesystem must be true`);
      if (sc.privileged) report(w, `${where}: privileged`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) report(w, `${where}: capabilities must drop ALL`);
      if ((sc.capabilities?.add ?? []).length) report(w, `${where}: adds capabilities ${sc.capabilities.add.join(",")}`);
      if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) report(w, `${where}: runAsNonRoot must be true`);
      const uid = sc.runAsUser ?? psc.runAsUser;
      if (!(uid >= 10000)) report(w, `${where}: runAsUser must be set and >= 10000 (got ${uid})`);
      const seccomp = (sc.seccompProfile ?? psc.seccompProfile)?.type;
      if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") report(w, `${where}: seccompProfile must be RuntimeDefault`);

      // A read-only root needs a writable /tmp, from an emptyDir with a size limit.
      const tmp = (c.volumeMounts ?? []).find((m) => m.mountPath === "/tmp");
      const tmpVol = tmp && volumes.get(tmp.name);
      if (!tmpVol?.emptyDir) report(w, `${where}: /tmp must be an emptyDir volume`);
      else if (!tmpVol.emptyDir.sizeLimit) report(w, `${where}: the /tmp emptyDir needs a sizeLimit`);

      // Mounts must name volumes of the pod (or claim templates).
      for (const m of c.volumeMounts ?? []) {
        if (!volumes.has(m.name) && !claimTemplates.has(m.name)) report(w, `${where}: volumeMount ${m.name} has no volume`);
      }

      // Requests and limits for cpu, memory and ephemeral-storage; requests <= limits.
      for (const kind of ["requests", "limits"]) {
        for (const r of ["cpu", "memory", "ephemeral-storage"]) {
          if (c.resources?.[kind]?.[r] === undefined) report(w, `${where}: resources.${kind}.${r} missing`);
        }
      }
      for (const r of ["cpu", "memory", "ephemeral-storage"]) {
        const req = c.resources?.requests?.[r];
        const lim = c.resources?.limits?.[r];
        if (req !== undefined && lim !== undefined && quantity(req) > quantity(lim)) {
          report(w, `${where}: resources.requests.${r} (${req}) above the limit (${lim})`);
        }
      }
      if (isInit) continue;

      // Probes: startup, readiness and liveness on every container, gRPC health checks.
      const ports = c.ports ?? [];
      const portNumbers = new Set(ports.map((p) => p.containerPort));
      const probes = {};
      for (const p of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const probe = c[p];
        if (!probe) { report(w, `${where}: no ${p}`); continue; }
        const k = probeKind(probe);
        const target = probeTarget(probe);
        if (!target) {
          report(w, `${where}: ${p} must be a native grpc probe (or, for a TLS server, an exec of \`framepair health\`), got ${k}`);
          continue;
        }
        if (!portNumbers.has(target.port)) report(w, `${where}: ${p} checks port ${target.port}, which is not a container port`);
        if (k === "exec" && !target.local) report(w, `${where}: ${p} must check the local server (--server localhost:PORT)`);
        probes[p] = { probe, target, kind: k };
      }
      if (probes.readinessProbe && probes.livenessProbe) {
        const r = probes.readinessProbe;
        const l = probes.livenessProbe;
        if (isEqual(r.probe, l.probe)) report(w, `${where}: readinessProbe and livenessProbe are identical`);
        // Readiness asks for the service this pod exists to serve; liveness for the server.
        if (!r.target.service) report(w, `${where}: readinessProbe must name the gRPC service (service: framepair.v1.X)`);
        const window = (p) => (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3);
        if (window(l.probe) <= window(r.probe)) {
          report(w, `${where}: livenessProbe must be more patient than readinessProbe (period x failureThreshold ${window(l.probe)} s <= ${window(r.probe)} s)`);
        }
      }

      // framepair servers: their flags against the manifests.
      const kind = serverKind(c);
      if (!kind) continue;
      if (kindOfWorkload.has(kind)) report(w, `${where}: a second framepair-${kind} workload (${id(kindOfWorkload.get(kind))})`);
      kindOfWorkload.set(kind, w);
      const { env, unresolved } = containerEnv(w, c, configMaps);
      for (const u of unresolved) report(w, `${where}: ${u}`);
      const { args, missing } = expand(c.args, env);
      for (const m of missing) report(w, `${where}: args use $(${m}), which is not in the container's environment`);
      const flags = flagsOf(args);
      flagsOf_.set(c, flags);

      const grpcPort = ports.find((p) => p.name === "grpc");
      const metricsPort = ports.find((p) => p.name === "metrics");
      if (!grpcPort) report(w, `${where}: no container port named grpc`);
      if (!metricsPort) report(w, `${where}: no container port named metrics`);
      const listen = flags.get("listen") ?? "";
      if (!/^(0\.0\.0\.0|\[::\]):\d+$/.test(listen)) report(w, `${where}: --listen must be 0.0.0.0:PORT or [::]:PORT to be reachable (got "${listen}")`);
      if (grpcPort && portOf(listen) !== grpcPort.containerPort) report(w, `${where}: --listen port ${portOf(listen)} is not the grpc container port ${grpcPort.containerPort}`);
      if (metricsPort && portOf(flags.get("metrics-listen")) !== metricsPort.containerPort) {
        report(w, `${where}: --metrics-listen does not serve the metrics container port`);
      }
      if (!(Number(flags.get("max-connection-age-ms")) > 0)) report(w, `${where}: --max-connection-age-ms must be set (> 0) so that clients re-resolve and new pods get traffic`);
      for (const p of Object.values(probes)) {
        if (p.target.service && p.target.service !== SERVICE_NAMES[kind]) {
          report(w, `${where}: a probe asks for service ${p.target.service}; framepair-${kind} serves ${SERVICE_NAMES[kind]}`);
        }
      }
      // The kubelet's gRPC probe speaks plaintext without a client certificate: a TLS server is
      // probed on its --health-listen port (plaintext, health checks only, same server) or,
      // failing that, by an exec of `framepair health` with the CA.
      const tls = flags.has("tls-cert");
      const healthPort = flags.has("health-listen") ? portOf(flags.get("health-listen")) : null;
      if (flags.has("health-listen")) {
        if (healthPort === portOf(listen)) report(w, `${where}: --health-listen must be a port other than --listen`);
        if (ports.find((p) => p.name === "health")?.containerPort !== healthPort) {
          report(w, `${where}: --health-listen does not serve the container port named health`);
        }
      }
      for (const [name, p] of Object.entries(probes)) {
        if (tls && p.kind === "grpc" && p.target.port !== healthPort) {
          report(w, `${where}: serves TLS (--tls-cert) but ${name} is a native grpc probe on port ${p.target.port}, which cannot speak TLS; probe the --health-listen port`);
        }
        if (!tls && p.kind !== "grpc") report(w, `${where}: ${name} should be a native grpc probe (the server is plaintext)`);
        if (p.kind === "exec" && !env.has("FRAMEPAIR_TLS_CA")) report(w, `${where}: TLS exec probes need FRAMEPAIR_TLS_CA in the environment`);
      }

      // Coordinator <-> workers is mutual TLS in every overlay (issue 13): each worker serves
      // TLS and admits only clients whose certificate its --tls-client-ca signed, the
      // coordinator presents one, and no server takes tokens over plaintext.
      if (flags.has("allow-insecure")) report(w, `${where}: --allow-insecure: tokens would travel in clear; serve TLS instead`);
      const tlsFlags = WORKERS.includes(kind) ? ["tls-cert", "tls-key", "tls-client-ca"]
        : ["worker-tls-ca", "worker-tls-cert", "worker-tls-key"];
      for (const f of tlsFlags) {
        if (!flags.get(f)) report(w, `${where}: runs without --${f}: the coordinator and the workers speak mutual TLS`);
      }
      // Every file a flag names must be an item of a Secret volume, so that a missing key is
      // a render-time error here rather than a pod that cannot start.
      const files = {};
      for (const f of SECRET_FILE_FLAGS) {
        if (flags.get(f)) files[f] = secretFile(c, volumes, flags.get(f), (msg) => report(w, `${where}: --${f}: ${msg}`));
      }
      secretFiles.set(kind, files);

      // Termination: preStop, then SIGTERM -> NOT_SERVING for --not-serving-delay-ms -> drain
      // for --drain-grace-seconds -> exit; the grace period must cover all of it.
      const preStop = c.lifecycle?.preStop;
      if (!preStop) report(w, `${where}: no preStop hook`);
      const preStopSeconds = preStop?.sleep?.seconds ?? 0;
      const notServing = Number(flags.get("not-serving-delay-ms") ?? 0) / 1000;
      const drain = Number(flags.get("drain-grace-seconds") ?? 20);
      const grace = spec.terminationGracePeriodSeconds ?? 30;
      const needed = preStopSeconds + notServing + drain + 5;
      if (grace < needed) {
        report(w, `${where}: terminationGracePeriodSeconds ${grace} < preStop ${preStopSeconds} s + not-serving ${notServing} s + drain ${drain} s + 5 s margin`);
      }

      // Shared storage: a mount of a ReadWriteMany claim at --storage-root, or a bucket
      // (components/object-storage) with credentials from a Secret.
      const root = flags.get("storage-root");
      const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === root);
      const claim = mount && volumes.get(mount.name)?.persistentVolumeClaim?.claimName;
      if (/^(s3|gs):\/\//.test(root ?? "")) {
        storageMounts.set(id(w), { claim: "bucket", path: root });
        checkObjectStorage(w, where, c, configMaps, report);
      } else if (!root || !mount) report(w, `${where}: --storage-root ${root} is not a volume mount`);
      else if (!claim) report(w, `${where}: --storage-root must be on the shared PersistentVolumeClaim`);
      else {
        storageMounts.set(id(w), { claim, path: root });
        const pvc = pvcs.find((p) => p.metadata.name === claim);
        if (!pvc) report(w, `${where}: PersistentVolumeClaim ${claim} is not in the render`);
        else if (!(pvc.spec?.accessModes ?? []).includes("ReadWriteMany")) report(w, `${where}: shared claim ${claim} is not ReadWriteMany`);
      }

      if (kind === "coordinator") checkCoordinator(w, c, flags, volumes, claimTemplates, report);
    }
  }

  // With a bucket, the ReadWriteMany claim is gone: nothing mounts or requests shared storage,
  // and every pod may reach the object store (HTTPS) through the default-deny policy.
  if ([...storageMounts.values()].some((m) => m.claim === "bucket")) {
    for (const w of workloads) {
      const egress = netpols.some((n) => matchesSelector(n.spec?.podSelector ?? {}, podLabelsOf(w)) &&
        (n.spec?.egress ?? []).some((rule) => !rule.ports || rule.ports.some((p) => p.port === 443)));
      if (full && !egress) report(w, "its storage root is a bucket but no NetworkPolicy lets it reach the object store (egress TCP 443)");
    }
    for (const p of pvcs) {
      if ((p.spec?.accessModes ?? []).includes("ReadWriteMany")) report(p, `ReadWriteMany claim ${p.metadata.name} is left in a render whose storage root is a bucket`);
    }
  }
  // Credentials are never committed: no Secret object carries AWS keys.
  for (const o of objects.filter((x) => x.kind === "Secret")) {
    for (const k of Object.keys({ ...(o.data ?? {}), ...(o.stringData ?? {}) })) {
      if (AWS_SECRET_VARS.includes(k)) report(o, `Secret ${o.metadata.name} with ${k} is in the manifests; create it in the cluster instead`);
    }
  }

  // One image for everything (it holds all six binaries), and all pods share one storage claim
  // at one path, so that a path written by one pod means the same in the others.
  if (images.size > 1) report(null, `more than one image: ${[...images].join(", ")}`);
  const storageKinds = new Set([...storageMounts.values()].map((s) => `${s.claim}:${s.path}`));
  if (storageKinds.size > 1) report(null, `pods mount shared storage differently: ${[...storageKinds].join(", ")}`);

  if (full) {
    for (const k of SERVER_BINARIES) if (!kindOfWorkload.has(k)) report(null, `no workload runs framepair-${k}`);
  }

  // The two ends of the workers' mutual TLS must come from one Secret: the CA the coordinator
  // checks worker certificates with is the one that issued them, the workers admit clients by
  // the CA the coordinator's certificate comes from, and no worker holds the coordinator's key.
  const coordinatorFiles = secretFiles.get("coordinator");
  const same = (a, b) => a && b && a.secret === b.secret && a.key === b.key;
  for (const kind of WORKERS) {
    const wf = secretFiles.get(kind);
    const w = kindOfWorkload.get(kind);
    if (!wf || !coordinatorFiles) continue;
    if (wf["tls-client-ca"] && coordinatorFiles["worker-tls-cert"] && wf["tls-client-ca"].secret !== coordinatorFiles["worker-tls-cert"].secret) {
      report(w, `--tls-client-ca (Secret ${wf["tls-client-ca"].secret}) is not from the Secret of the coordinator's --worker-tls-cert (${coordinatorFiles["worker-tls-cert"].secret})`);
    }
    if (wf["tls-cert"] && coordinatorFiles["worker-tls-ca"] && wf["tls-cert"].secret !== coordinatorFiles["worker-tls-ca"].secret) {
      report(w, `--tls-cert (Secret ${wf["tls-cert"].secret}) is not from the Secret of the coordinator's --worker-tls-ca (${coordinatorFiles["worker-tls-ca"].secret})`);
    }
    const key = coordinatorFiles["worker-tls-key"];
    const mounted = key && (podSpecOf(w)?.volumes ?? []).some((v) => v.secret && v.secret.secretName === key.secret &&
      (v.secret.items ?? [{ key: key.key }]).some((i) => i.key === key.key));
    if (mounted) report(w, `mounts the coordinator's client key (Secret ${key.secret}, key ${key.key}): any worker could then call the others as the coordinator`);
  }

  // Services: select pods, and every targetPort is a port of those pods.
  for (const s of services) {
    if (!s.spec?.selector) { report(s, "Service without selector"); continue; }
    const targets = workloads.filter((w) => matchesSelector({ matchLabels: s.spec.selector }, podLabelsOf(w)));
    if (!targets.length) { report(s, "selects no workload's pods"); continue; }
    for (const p of s.spec.ports ?? []) {
      const tp = p.targetPort ?? p.port;
      for (const w of targets) {
        const cps = (podSpecOf(w)?.containers ?? []).flatMap((c) => c.ports ?? []);
        const ok = typeof tp === "number" ? cps.some((cp) => cp.containerPort === tp) : cps.some((cp) => cp.name === tp);
        if (!ok) report(s, `port ${p.name ?? p.port}: targetPort ${tp} is not a container port of ${id(w)}`);
      }
    }
  }

  // StatefulSets: governed by a headless Service that exists.
  for (const w of byKind("StatefulSet")) {
    const gov = services.find((s) => s.metadata.name === w.spec?.serviceName);
    if (!gov) report(w, `serviceName ${w.spec?.serviceName} is not a Service in the render`);
    else if (gov.spec?.clusterIP !== "None") report(w, `serviceName ${w.spec.serviceName} is not headless`);
  }

  // Every workload: a Service, a PDB and a NetworkPolicy that select its pods; PDBs and policies
  // select something.
  const defaultDeny = netpols.find((n) => isEqual(n.spec?.podSelector ?? {}, {}) &&
    (n.spec?.policyTypes ?? []).includes("Ingress") && (n.spec?.policyTypes ?? []).includes("Egress") &&
    !(n.spec?.ingress ?? []).length && !(n.spec?.egress ?? []).length);
  if (full && !defaultDeny) report(null, "no default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rules)");
  for (const w of workloads) {
    const labels = podLabelsOf(w);
    if (!services.some((s) => s.spec?.selector && matchesSelector({ matchLabels: s.spec.selector }, labels))) report(w, "no Service selects its pods");
    if (!pdbs.some((p) => matchesSelector(p.spec?.selector, labels))) report(w, "no PodDisruptionBudget selects its pods");
    const own = netpols.filter((n) => !isEqual(n.spec?.podSelector ?? {}, {}) && matchesSelector(n.spec?.podSelector, labels));
    if (!own.length) report(w, "no NetworkPolicy of its own selects its pods");
  }
  for (const p of pdbs) {
    if (!workloads.some((w) => matchesSelector(p.spec?.selector, podLabelsOf(w)))) report(p, "selects no workload's pods");
    if (p.spec?.minAvailable === undefined && p.spec?.maxUnavailable === undefined) report(p, "sets neither minAvailable nor maxUnavailable");
  }

  // NetworkPolicies: named ports exist on the selected pods; only the coordinator reaches the
  // workers' gRPC port; the coordinator's gRPC port is open to clients and may reach workers.
  for (const n of netpols) {
    const selected = workloads.filter((w) => matchesSelector(n.spec?.podSelector ?? {}, podLabelsOf(w)) ||
      isEqual(n.spec?.podSelector ?? {}, {}));
    if (!selected.length && !isEqual(n.spec?.podSelector ?? {}, {})) report(n, "selects no workload's pods");
    for (const rule of n.spec?.ingress ?? []) {
      for (const p of rule.ports ?? []) {
        if (typeof p.port !== "string") continue;
        for (const w of selected) {
          const names = (podSpecOf(w)?.containers ?? []).flatMap((c) => (c.ports ?? []).map((cp) => cp.name));
          if (!names.includes(p.port)) report(n, `ingress port ${p.port} is not a named port of ${id(w)}`);
        }
      }
    }
  }
  const coordinator = kindOfWorkload.get("coordinator");
  const podPort = (w, name) => (podSpecOf(w)?.containers ?? []).flatMap((c) => c.ports ?? []).find((p) => p.name === name);
  const ruleCoversPort = (rule, w, portName) => {
    if (!(rule.ports ?? []).length) return true;
    const p = podPort(w, portName);
    return rule.ports.some((rp) => rp.port === undefined || rp.port === portName || rp.port === p?.containerPort);
  };
  for (const kind of WORKERS) {
    const w = kindOfWorkload.get(kind);
    if (!w) continue;
    const labels = podLabelsOf(w);
    for (const n of netpols.filter((x) => matchesSelector(x.spec?.podSelector ?? {}, labels) || isEqual(x.spec?.podSelector ?? {}, {}))) {
      for (const rule of n.spec?.ingress ?? []) {
        if (!ruleCoversPort(rule, w, "grpc")) continue;
        const from = rule.from ?? [];
        const onlyCoordinator = from.length > 0 && from.every((peer) => peer.podSelector && !peer.namespaceSelector &&
          !peer.ipBlock && coordinator && matchesSelector(peer.podSelector, podLabelsOf(coordinator)) &&
          workloads.filter((x) => matchesSelector(peer.podSelector, podLabelsOf(x))).every((x) => x === coordinator));
        if (!onlyCoordinator) report(n, `lets pods other than the coordinator reach ${id(w)}'s grpc port`);
      }
    }
    if (coordinator) {
      const egressOk = netpols.some((n) => matchesSelector(n.spec?.podSelector ?? {}, podLabelsOf(coordinator)) &&
        (n.spec?.egress ?? []).some((rule) => ruleCoversPort(rule, w, "grpc") &&
          (!(rule.to ?? []).length || rule.to.some((peer) => peer.podSelector && matchesSelector(peer.podSelector, labels)))));
      if (full && !egressOk) report(coordinator, `no NetworkPolicy lets the coordinator reach ${id(w)}'s grpc port`);
    }
    // Metrics reachable from a monitoring namespace.
    const metricsOk = netpols.some((n) => matchesSelector(n.spec?.podSelector ?? {}, labels) &&
      (n.spec?.ingress ?? []).some((rule) => ruleCoversPort(rule, w, "metrics") && (rule.from ?? []).some((p) => p.namespaceSelector)));
    if (!metricsOk) report(w, "no NetworkPolicy lets a monitoring namespace reach the metrics port");
  }
  if (coordinator) {
    const labels = podLabelsOf(coordinator);
    const clientsOk = netpols.some((n) => matchesSelector(n.spec?.podSelector ?? {}, labels) &&
      (n.spec?.ingress ?? []).some((rule) => ruleCoversPort(rule, coordinator, "grpc")));
    if (!clientsOk) report(coordinator, "no NetworkPolicy lets the CLI reach the coordinator's grpc port");
  }

  // Autoscalers: targets exist, one autoscaler per target, no replicas in an autoscaled
  // Deployment (applying the manifests would reset the autoscaler's count), HPA CPU targets
  // need CPU requests. The packer and ingest are autoscaled.
  const scaled = new Map();
  const findTarget = (ref) => workloads.find((w) => w.kind === ref?.kind && w.metadata.name === ref?.name &&
    (!ref.apiVersion || ref.apiVersion === w.apiVersion));
  for (const h of hpas) {
    const t = findTarget(h.spec?.scaleTargetRef);
    if (!t) { report(h, `scaleTargetRef ${h.spec?.scaleTargetRef?.kind}/${h.spec?.scaleTargetRef?.name} is not in the render`); continue; }
    if (scaled.has(id(t))) report(h, `${id(t)} already has an autoscaler`);
    scaled.set(id(t), { min: h.spec.minReplicas ?? 1, max: h.spec.maxReplicas, by: h });
    if ((h.spec.minReplicas ?? 1) > h.spec.maxReplicas) report(h, "minReplicas above maxReplicas");
    for (const m of h.spec.metrics ?? []) {
      if (m.type === "Resource" && m.resource?.target?.type === "Utilization") {
        for (const c of podSpecOf(t)?.containers ?? []) {
          if (!c.resources?.requests?.[m.resource.name]) report(h, `${m.resource.name} utilization needs ${m.resource.name} requests in ${id(t)}`);
        }
      }
    }
  }
  for (const so of scaledObjects) {
    const ref = { kind: so.spec?.scaleTargetRef?.kind ?? "Deployment", name: so.spec?.scaleTargetRef?.name,
      apiVersion: so.spec?.scaleTargetRef?.apiVersion };
    const t = findTarget(ref);
    if (!t) { report(so, `scaleTargetRef ${ref.kind}/${ref.name} is not in the render`); continue; }
    if (scaled.has(id(t))) report(so, `${id(t)} is also scaled by ${id(scaled.get(id(t)).by)}: two autoscalers fight`);
    scaled.set(id(t), { min: so.spec.minReplicaCount ?? 0, max: so.spec.maxReplicaCount ?? 100, by: so });
    for (const trig of so.spec.triggers ?? []) {
      if (trig.type !== "prometheus") continue;
      const q = trig.metadata?.query ?? "";
      if (!/framepair_tasks_pending\{[^}]*kind="pack"/.test(q)) report(so, "the prometheus trigger does not query framepair_tasks_pending{kind=\"pack\"}");
      for (const m of q.matchAll(/namespace="([^"]*)"/g)) {
        if (m[1] !== nsOf(so)) report(so, `the query selects namespace "${m[1]}" but the ScaledObject is in "${nsOf(so)}"`);
      }
      const packerC = podSpecOf(t)?.containers?.find((c) => serverKind(c));
      const packer = packerC && flagsOf_.get(packerC);
      const maxTasks = Number(packer?.get("max-tasks"));
      if (maxTasks && Number(trig.metadata?.threshold) !== maxTasks) {
        report(so, `threshold ${trig.metadata?.threshold} should equal the target's --max-tasks ${maxTasks} (tasks per pod)`);
      }
    }
  }
  for (const w of workloads) {
    if (scaled.has(id(w)) && w.spec?.replicas !== undefined) report(w, `sets spec.replicas but ${id(scaled.get(id(w)).by)} owns the replica count`);
  }
  if (full) {
    for (const k of ["ingest", "packer"]) {
      const w = kindOfWorkload.get(k);
      if (w && !scaled.has(id(w))) report(w, "is not autoscaled (HPA or KEDA ScaledObject)");
    }
  }

  // The coordinator's concurrency per worker Service must be the workers' capacity at the
  // autoscaler's maximum: below it, pods beyond it never get work; above it, calls bounce off
  // busy workers (RESOURCE_EXHAUSTED) and use up the tasks' retries.
  if (coordinator) {
    const cc = podSpecOf(coordinator).containers.find((c) => serverKind(c) === "coordinator");
    const cflags = cc && flagsOf_.get(cc);
    for (const kind of WORKERS) {
      const w = kindOfWorkload.get(kind);
      if (!w || !cflags) continue;
      const wc = podSpecOf(w).containers.find((c) => serverKind(c));
      const wflags = wc && flagsOf_.get(wc);
      const maxTasks = Number(wflags?.get("max-tasks") ?? 2);
      const maxReplicas = scaled.get(id(w))?.max ?? w.spec?.replicas ?? 1;
      const concurrency = Number(cflags.get(`${kind}-concurrency`) ?? (kind === "packer" ? 1 : 2));
      if (concurrency !== maxReplicas * maxTasks) {
        report(coordinator, `--${kind}-concurrency ${concurrency} != max replicas ${maxReplicas} x --max-tasks ${maxTasks} of ${id(w)}`);
      }
    }
  }
  // Memory (issue 13): a video worker's --memory-budget (default: 90% of the container's memory
  // limit) leaves headroom under the limit and holds the idle process plus --max-tasks tasks of
  // --max-frame-pixels frames, so that --max-tasks tasks of the largest frames it accepts run
  // at once without an OOM kill (the budget refuses what does not fit: RESOURCE_EXHAUSTED).
  for (const kind of ["ingest", "packer"]) {
    const w = kindOfWorkload.get(kind);
    const c = w && podSpecOf(w).containers.find((x) => serverKind(x) === kind);
    const flags = c && flagsOf_.get(c);
    const limit = quantity(c?.resources?.limits?.memory);
    if (!flags || !(limit > 0)) continue;
    const budget = flags.has("memory-budget") ? quantity(flags.get("memory-budget")) : Math.floor(limit * BUDGET_SHARE);
    const where = `container ${c.name}`;
    if (!(budget > 0)) { report(w, `${where}: --memory-budget ${flags.get("memory-budget")} is not a quantity of bytes`); continue; }
    if (budget > limit * BUDGET_SHARE) {
      report(w, `${where}: --memory-budget ${MiB(budget)} MiB leaves no headroom under the memory limit ${c.resources.limits.memory} (at most ${BUDGET_SHARE * 100}%)`);
    }
    const maxTasks = Number(flags.get("max-tasks") ?? 2);
    const pixels = Number(flags.get("max-frame-pixels") ?? MODEL.kDefaultMaxFramePixels);
    const threads = Number(flags.get("pack-threads") ?? 0);
    if (kind === "packer" && !(threads > 0)) { report(w, `${where}: --pack-threads must be set (> 0): the packer's memory depends on it`); continue; }
    const task = taskBytes(kind, pixels, threads);
    const need = MODEL.kWorkerBaseBytes + maxTasks * task;
    if (need > budget) {
      report(w, `${where}: --max-tasks ${maxTasks} x ${MiB(task)} MiB per task at --max-frame-pixels ${pixels} + ${MiB(MODEL.kWorkerBaseBytes)} MiB idle = ${MiB(need)} MiB does not fit in --memory-budget ${MiB(budget)} MiB (memory limit ${c.resources.limits.memory}); lower --max-tasks or --max-frame-pixels, or raise the limit`);
    }
  }
  return { workloads, kindOfWorkload };

  function checkCoordinator(w, c, flags, volumes, claimTemplates, report) {
    // One writer of the SQLite database, on a ReadWriteOnce volume that is not the shared one.
    if (w.kind === "Deployment" && w.spec?.strategy?.type !== "Recreate") report(w, "a coordinator Deployment must use strategy Recreate");
    if ((w.spec?.replicas ?? 1) !== 1) report(w, "the coordinator must run exactly one replica");
    const stateDir = flags.get("state-dir");
    const m = (c.volumeMounts ?? []).find((vm) => vm.mountPath === stateDir);
    if (!stateDir || !m) report(w, `--state-dir ${stateDir} is not a volume mount`);
    else {
      const tmpl = claimTemplates.get(m.name);
      const claimName = volumes.get(m.name)?.persistentVolumeClaim?.claimName;
      const claim = tmpl ?? pvcs.find((p) => p.metadata.name === claimName);
      if (!claim) report(w, "--state-dir must be on a PersistentVolumeClaim (SQLite state)");
      else {
        const modes = claim.spec?.accessModes ?? [];
        if (modes.includes("ReadWriteMany") || !(modes.includes("ReadWriteOnce") || modes.includes("ReadWriteOncePod"))) {
          report(w, `--state-dir claim must be ReadWriteOnce (SQLite must not live on shared/NFS storage), got ${modes.join(",")}`);
        }
      }
    }
    // Worker targets: dns:///<headless Service>.<own namespace>.svc.<domain>:<port> of the
    // Service that selects that worker's pods.
    for (const kind of WORKERS) {
      const target = flags.get(kind);
      if (!target) { report(w, `--${kind} not set`); continue; }
      for (const t of target.split(",")) {
        const mt = /^dns:\/\/\/([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.([a-z0-9.-]+):(\d+)$/.exec(t);
        if (!mt) { report(w, `--${kind}=${t}: expected dns:///NAME.NAMESPACE.svc.CLUSTER_DOMAIN:PORT`); continue; }
        const [, svcName, ns, , port] = mt;
        if (ns !== nsOf(w)) report(w, `--${kind}=${t}: namespace ${ns} is not the coordinator's (${nsOf(w)})`);
        const svc = services.find((s) => s.metadata.name === svcName);
        if (!svc) { report(w, `--${kind}=${t}: Service ${svcName} is not in the render`); continue; }
        if (svc.spec?.clusterIP !== "None") report(w, `--${kind}=${t}: Service ${svcName} is not headless (round_robin needs one address per pod)`);
        if (!(svc.spec?.ports ?? []).some((p) => p.port === Number(port))) report(w, `--${kind}=${t}: Service ${svcName} has no port ${port}`);
        const selected = workloads.filter((x) => matchesSelector({ matchLabels: svc.spec?.selector ?? {} }, podLabelsOf(x)));
        if (!selected.some((x) => (podSpecOf(x)?.containers ?? []).some((cc) => serverKind(cc) === kind))) {
          report(w, `--${kind}=${t}: Service ${svcName} does not select framepair-${kind} pods`);
        }
      }
    }
    if (flags.has("auth-token-file") && !flags.has("tls-cert")) report(w, "the coordinator takes a client token over plaintext; give it --tls-cert");
  }
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

function checkDockerfile(text, runtimePackages, report) {
  const lines = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const args = new Map();
  const stages = [];
  for (const l of lines) {
    const [instr, ...rest] = l.split(/\s+/);
    const body = rest.join(" ");
    const INSTR = instr.toUpperCase();
    if (INSTR === "ARG") {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(body);
      if (m && !stages.length) args.set(m[1], (m[2] ?? "").replace(/^"|"$/g, ""));
      if (stages.length) stages.at(-1).lines.push([INSTR, body]);
      continue;
    }
    if (INSTR === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(body);
      const image = (m?.[1] ?? "").replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, n) => args.get(n) ?? "");
      stages.push({ image, name: m?.[2], lines: [] });
      const named = stages.slice(0, -1).some((s) => s.name === m?.[1]);
      if (!named) {
        const { tag, digest } = imageRef(image);
        if (!tag && !digest) report(`FROM ${image}: base image has no tag`);
        if (tag === "latest") report(`FROM ${image}: base image uses latest`);
        if (!/^debian:(12|bookworm)/.test(image)) report(`FROM ${image}: the image must be built on Debian 12 (bookworm)`);
      }
      continue;
    }
    if (!stages.length) { report(`${INSTR} before the first FROM`); continue; }
    stages.at(-1).lines.push([INSTR, body]);
  }
  if (stages.length < 2) { report("the Dockerfile must be multi-stage (build + runtime)"); return; }
  const build = stages[0];
  const runtime = stages.at(-1);
  const buildRuns = build.lines.filter(([i]) => i === "RUN").map(([, b]) => b).join("\n");
  if (!buildRuns.includes("scripts/install-deps.sh")) report("the build stage must install its packages with scripts/install-deps.sh");
  if (!buildRuns.includes("deploy/docker/build-in-image.sh")) report("the build stage must build with deploy/docker/build-in-image.sh (the script CI runs)");
  if (!/-slim/.test(runtime.image)) report(`runtime stage ${runtime.image}: use the slim Debian image`);
  const runtimeRuns = runtime.lines.filter(([i]) => i === "RUN").map(([, b]) => b).join("\n");
  if (!runtimeRuns.includes("runtime-packages.txt")) report("the runtime stage must install deploy/docker/runtime-packages.txt");
  if (!runtimeRuns.includes("--no-install-recommends")) report("the runtime stage must apt-get install --no-install-recommends");
  if (/build-essential|-dev\b/.test(runtimeRuns)) report("the runtime stage installs build packages");
  const copies = runtime.lines.filter(([i]) => i === "COPY").map(([, b]) => b).join("\n");
  if (!/--from=\S+/.test(copies)) report("the runtime stage must COPY the binaries from the build stage");
  const user = runtime.lines.filter(([i]) => i === "USER").at(-1)?.[1];
  const uid = Number((user ?? "").split(":")[0]);
  if (!user) report("the runtime stage sets no USER");
  else if (!(uid >= 10000)) report(`USER ${user}: run as a numeric uid >= 10000`);
  const entry = runtime.lines.filter(([i]) => i === "ENTRYPOINT").at(-1)?.[1];
  if (!entry) report("no ENTRYPOINT");
  else {
    let parsed = null;
    try { parsed = JSON.parse(entry); } catch { /* shell form */ }
    if (!Array.isArray(parsed)) report(`ENTRYPOINT ${entry}: use the exec form (JSON array); no shell at run time`);
    else if (["/bin/sh", "sh", "/bin/bash", "bash"].includes(parsed[0])) report("ENTRYPOINT runs a shell");
  }
  const cmd = runtime.lines.filter(([i]) => i === "CMD").at(-1)?.[1];
  if (cmd && !cmd.startsWith("[")) report(`CMD ${cmd}: use the exec form (JSON array)`);
  const labels = runtime.lines.filter(([i]) => i === "LABEL").map(([, b]) => b).join(" ");
  for (const l of ["title", "description", "version", "revision", "source", "created", "base.name"]) {
    if (!labels.includes(`org.opencontainers.image.${l}`)) report(`missing OCI label org.opencontainers.image.${l}`);
  }
  for (const bin of ["framepair", ...SERVER_BINARIES.map((k) => `framepair-${k}`)]) {
    if (!text.includes(bin)) report(`the image does not mention ${bin}`);
  }
  const pkgs = runtimePackages.split("\n").map((l) => l.replace(/#.*/, "").trim()).filter(Boolean);
  if (!pkgs.length) report("deploy/docker/runtime-packages.txt lists no package");
  for (const p of pkgs) {
    if (!/^[a-z0-9][a-z0-9+.-]+$/.test(p)) report(`runtime-packages.txt: "${p}" is not a Debian package name`);
    if (/-dev$/.test(p)) report(`runtime-packages.txt: ${p} is a build package`);
  }
}

// ---------------------------------------------------------------------------------------------
// Running the checks

async function validateRender(render) {
  const errors = [];
  for (const o of render.objects) {
    await checkSchema(o, (msg) => errors.push(`${id(o)}: ${msg}`));
  }
  checkSet(render.objects, render, (o, msg) => errors.push(o ? `${id(o)}: ${msg}` : msg));
  return errors;
}

function readDocker(repo) {
  return {
    dockerfile: fs.readFileSync(path.join(repo, "deploy/docker/Dockerfile"), "utf8"),
    packages: fs.readFileSync(path.join(repo, "deploy/docker/runtime-packages.txt"), "utf8"),
  };
}

function validateDocker({ dockerfile, packages }) {
  const errors = [];
  checkDockerfile(dockerfile, packages, (msg) => errors.push(`Dockerfile: ${msg}`));
  return errors;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const [major] = process.versions.node.split(".").map(Number);
  if (major < 18) fatal(`node ${process.versions.node} is too old; need >= 18`);
  const tools = requireKubectl(opts.kubectl);
  const { yaml } = await loadPackages();
  const k8sDir = path.join(opts.repo, "deploy/k8s");
  if (!fs.existsSync(k8sDir)) fatal(`${k8sDir} does not exist`);
  console.log(`deploy-validate: ${tools}, node ${process.versions.node}`);
  loadMemoryModel(opts.repo);
  const renders = renderAll(opts.kubectl, yaml, k8sDir);
  return opts.selfTest ? selfTest(renders, readDocker(opts.repo)) : validateAll(renders, readDocker(opts.repo));
}

async function validateAll(renders, docker) {
  let passed = 0;
  let failed = 0;
  for (const r of renders) {
    const errors = await validateRender(r);
    const kinds = new Set(r.objects.map((o) => o.kind));
    if (errors.length) {
      failed++;
      console.log(`FAIL ${r.name}: ${r.objects.length} objects, ${errors.length} problems`);
      for (const e of errors) console.log(`  - ${e}`);
    } else {
      passed++;
      console.log(`ok   ${r.name}: ${r.objects.length} objects (${[...kinds].sort().join(", ")})`);
    }
  }
  const dockerErrors = validateDocker(docker);
  if (dockerErrors.length) {
    failed++;
    console.log("FAIL deploy/docker");
    for (const e of dockerErrors) console.log(`  - ${e}`);
  } else {
    passed++;
    console.log("ok   deploy/docker: Dockerfile and runtime-packages.txt");
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

// Each mutation breaks one thing the validator promises to catch, on a copy of a real render.
const find = (objs, kind, name) => {
  const o = objs.find((x) => x.kind === kind && (!name || x.metadata.name === name));
  if (!o) throw new Error(`self-test: no ${kind}/${name ?? "*"} in the render`);
  return o;
};
const container = (objs, kind, name) => podSpecOf(find(objs, kind, name)).containers[0];
const OBJECT_STORAGE_RENDER = "overlays/prod+components/object-storage";
let PROD_OBJECTS = [];  // the prod render, for mutations that borrow an object from it
const MUTATIONS = [
  ["unknown key in a container", /unknown field .*containers\[0\]\.readinesProbe/,
    (o) => { const c = container(o, "Deployment", "framepair-packer"); c.readinesProbe = c.readinessProbe; }],
  ["unknown key deep in a probe", /unknown field .*livenessProbe\.grpc\.tls/,
    (o) => { container(o, "Deployment", "framepair-ingest").livenessProbe.grpc.tls = true; }],
  ["unknown key at the top of an object", /unknown field \.specs/,
    (o) => { const s = find(o, "Service", "framepair-align"); s.specs = s.spec; }],
  ["unknown key in a custom resource", /unknown field .*triggers\[0\]\.metaData/,
    (o) => { const t = find(o, "ScaledObject").spec.triggers[0]; t.metaData = t.metadata; }],
  ["schema type error", /schema: .*replicas/,
    (o) => { find(o, "Deployment", "framepair-scene").spec.replicas = "two"; }],
  ["missing readiness probe", /no readinessProbe/,
    (o) => { delete container(o, "Deployment", "framepair-align").readinessProbe; }],
  ["readiness equal to liveness", /readinessProbe and livenessProbe are identical/,
    (o) => { const c = container(o, "Deployment", "framepair-scene"); c.readinessProbe = structuredClone(c.livenessProbe); }],
  ["HTTP probe instead of gRPC", /startupProbe must be a native grpc probe/,
    (o) => { container(o, "Deployment", "framepair-packer").startupProbe = { httpGet: { path: "/", port: 9090 } }; }],
  ["native grpc probe against the TLS coordinator", /cannot speak TLS/,
    (o) => { container(o, "StatefulSet", "framepair-coordinator").livenessProbe = { grpc: { port: 50051 }, periodSeconds: 20, failureThreshold: 3 }; }],
  ["native grpc probe on a worker's mutual-TLS port", /framepair-ingest.*livenessProbe is a native grpc probe on port 50051, which cannot speak TLS/,
    (o) => { container(o, "Deployment", "framepair-ingest").livenessProbe.grpc.port = 50051; }],
  ["worker with --allow-insecure", /framepair-packer.*--allow-insecure/,
    (o) => { container(o, "Deployment", "framepair-packer").args.push("--allow-insecure"); }],
  ["worker without a client CA", /framepair-scene.*runs without --tls-client-ca/,
    (o) => { const c = container(o, "Deployment", "framepair-scene"); c.args = c.args.filter((a) => !a.startsWith("--tls-client-ca")); }],
  ["worker in plaintext", /framepair-align.*runs without --tls-cert/,
    (o) => { const c = container(o, "Deployment", "framepair-align"); c.args = c.args.filter((a) => !a.startsWith("--tls-")); }],
  ["coordinator without a client certificate", /framepair-coordinator.*runs without --worker-tls-cert/,
    (o) => { const c = container(o, "StatefulSet", "framepair-coordinator"); c.args = c.args.filter((a) => !a.startsWith("--worker-tls-cert")); }],
  ["certificate path that is no key of the Secret volume", /--tls-key: \S+\/ingest\.pem is not an item of Secret volume tls/,
    (o) => { const c = container(o, "Deployment", "framepair-ingest"); c.args = c.args.map((a) => a.replace(/ingest\.key$/, "ingest.pem")); }],
  ["certificate on a volume that is not a Secret", /--tls-client-ca: .* which is not a Secret/,
    (o) => { const v = podSpecOf(find(o, "Deployment", "framepair-packer")).volumes.find((x) => x.name === "tls"); delete v.secret; v.emptyDir = {}; }],
  ["worker holding the coordinator's client key", /framepair-packer: mounts the coordinator's client key/,
    (o) => { podSpecOf(find(o, "Deployment", "framepair-packer")).volumes.find((x) => x.name === "tls").secret.items.push({ key: "coordinator.key", path: "coordinator.key" }); }],
  ["workers and coordinator on different CAs", /framepair-align: --tls-client-ca \(Secret other-tls\) is not from the Secret/,
    (o) => { podSpecOf(find(o, "Deployment", "framepair-align")).volumes.find((x) => x.name === "tls").secret.secretName = "other-tls"; }],
  ["probe on a port the container lacks", /checks port 50052/,
    (o) => { container(o, "Deployment", "framepair-ingest").readinessProbe.grpc.port = 50052; }],
  ["missing ephemeral-storage limit", /resources\.limits\.ephemeral-storage missing/,
    (o) => { delete container(o, "Deployment", "framepair-packer").resources.limits["ephemeral-storage"]; }],
  ["request above limit", /requests\.memory .* above the limit/,
    (o) => { container(o, "Deployment", "framepair-scene").resources.requests.memory = "64Gi"; }],
  ["writable root filesystem", /readOnlyRootFilesystem must be true/,
    (o) => { container(o, "Deployment", "framepair-align").securityContext.readOnlyRootFilesystem = false; }],
  ["capabilities not dropped", /capabilities must drop ALL/,
    (o) => { container(o, "Deployment", "framepair-ingest").securityContext.capabilities.drop = ["NET_RAW"]; }],
  ["root user", /runAsUser must be set and >= 10000/,
    (o) => { const w = find(o, "Deployment", "framepair-packer"); podSpecOf(w).securityContext.runAsUser = 0; podSpecOf(w).containers[0].securityContext.runAsUser = 0; }],
  ["no seccomp profile", /seccompProfile must be RuntimeDefault/,
    (o) => { const w = find(o, "StatefulSet", "framepair-coordinator"); delete podSpecOf(w).securityContext.seccompProfile; delete podSpecOf(w).containers[0].securityContext.seccompProfile; }],
  ["image with latest tag", /uses the latest tag/,
    (o) => { const c = container(o, "Deployment", "framepair-scene"); c.image = c.image.replace(/[:@].*$/, ":latest"); }],
  ["untagged image", /has no tag or digest/,
    (o) => { const c = container(o, "Deployment", "framepair-align"); c.image = c.image.replace(/[:@][^/]*$/, ""); }],
  ["selector does not match the pods", /spec\.selector does not match/,
    (o) => { find(o, "Deployment", "framepair-packer").spec.selector.matchLabels["app.kubernetes.io/name"] = "framepair-packr"; }],
  ["Service targetPort missing", /targetPort grpcs is not a container port/,
    (o) => { find(o, "Service", "framepair-scene").spec.ports[0].targetPort = "grpcs"; }],
  ["Service selects nothing", /selects no workload's pods/,
    (o) => { find(o, "Service", "framepair-coordinator").spec.selector["app.kubernetes.io/name"] = "nope"; }],
  ["PDB missing", /no PodDisruptionBudget selects its pods/,
    (o) => { o.splice(o.indexOf(find(o, "PodDisruptionBudget", "framepair-ingest")), 1); }],
  ["NetworkPolicy missing", /no NetworkPolicy of its own selects its pods/,
    (o) => { o.splice(o.indexOf(find(o, "NetworkPolicy", "framepair-scene")), 1); }],
  ["worker reachable from any pod", /lets pods other than the coordinator reach/,
    (o) => { find(o, "NetworkPolicy", "framepair-packer").spec.ingress[0].from = [{ podSelector: {} }]; }],
  ["default deny removed", /no default-deny NetworkPolicy/,
    (o) => { o.splice(o.indexOf(find(o, "NetworkPolicy", "framepair-default-deny")), 1); }],
  ["recommended label missing", /missing recommended label app\.kubernetes\.io\/component/,
    (o) => { delete find(o, "PodDisruptionBudget", "framepair-align").metadata.labels["app.kubernetes.io/component"]; }],
  ["HPA target missing", /scaleTargetRef Deployment\/framepair-ingester is not in the render/,
    (o) => { find(o, "HorizontalPodAutoscaler", "framepair-ingest").spec.scaleTargetRef.name = "framepair-ingester"; }],
  ["HPA and ScaledObject on one Deployment", /two autoscalers fight/,
    (o) => { const h = structuredClone(find(o, "HorizontalPodAutoscaler", "framepair-ingest")); h.metadata.name = "framepair-packer-cpu"; h.spec.scaleTargetRef.name = "framepair-packer"; o.push(h); }],
  ["replicas set on an autoscaled Deployment", /sets spec\.replicas but/,
    (o) => { find(o, "Deployment", "framepair-ingest").spec.replicas = 3; }],
  ["grace period shorter than the drain", /terminationGracePeriodSeconds 10 </,
    (o) => { podSpecOf(find(o, "Deployment", "framepair-packer")).terminationGracePeriodSeconds = 10; }],
  ["no max-connection-age", /--max-connection-age-ms must be set/,
    (o) => { const c = container(o, "Deployment", "framepair-align"); c.args = c.args.filter((a) => !a.startsWith("--max-connection-age-ms")); }],
  ["coordinator target to a missing Service", /Service framepair-scenes is not in the render/,
    (o) => { const c = container(o, "StatefulSet", "framepair-coordinator"); c.args = c.args.map((a) => a.replace("framepair-scene.", "framepair-scenes.")); }],
  ["unresolved $(VAR) in args", /args use \$\(PACKER_THREADS\)/,
    (o) => { const c = container(o, "Deployment", "framepair-packer"); c.args = c.args.map((a) => a.replace("$(PACKER_PACK_THREADS)", "$(PACKER_THREADS)")); }],
  ["concurrency out of line with the autoscaler", /--packer-concurrency 8 != max replicas 12/,
    (o) => { find(o, "ScaledObject").spec.maxReplicaCount = 12; }],
  ["SQLite state on the shared volume", /--state-dir claim must be ReadWriteOnce/,
    (o) => { find(o, "StatefulSet", "framepair-coordinator").spec.volumeClaimTemplates[0].spec.accessModes = ["ReadWriteMany"]; }],
  ["shared storage not ReadWriteMany", /is not ReadWriteMany/,
    (o) => { find(o, "PersistentVolumeClaim", "framepair-storage").spec.accessModes = ["ReadWriteOnce"]; }],
  ["more packer tasks than its memory holds", /framepair-packer: container packer: --max-tasks 2 x .* does not fit in --memory-budget/,
    (o) => { const c = container(o, "Deployment", "framepair-packer"); c.args = c.args.map((a) => a.replace("$(PACKER_MAX_TASKS)", "2")); }],
  ["frames larger than the ingest budget holds", /framepair-ingest: container ingest: --max-tasks 2 x .* at --max-frame-pixels 33177600 .* does not fit/,
    (o) => { const c = container(o, "Deployment", "framepair-ingest"); c.args = c.args.map((a) => a.replace("$(MAX_FRAME_PIXELS)", "33177600")); }],
  ["memory budget without headroom", /framepair-ingest: container ingest: --memory-budget 2048 MiB leaves no headroom/,
    (o) => { container(o, "Deployment", "framepair-ingest").args.push("--memory-budget=2Gi"); }],
  ["/tmp not an emptyDir", /\/tmp must be an emptyDir volume/,
    (o) => { const c = container(o, "Deployment", "framepair-scene"); c.volumeMounts = c.volumeMounts.filter((m) => m.mountPath !== "/tmp"); }],
  // On the object-storage component's render (the fourth element names the render).
  ["bucket root without the credentials Secret", /framepair-packer: .*no Secret provides AWS_ACCESS_KEY_ID/,
    (o) => { const c = container(o, "Deployment", "framepair-packer"); c.envFrom = c.envFrom.filter((e) => !e.secretRef); },
    OBJECT_STORAGE_RENDER],
  ["secret key inlined in the manifest", /AWS_SECRET_ACCESS_KEY is inlined/,
    (o) => { const c = container(o, "Deployment", "framepair-ingest"); c.env = [...(c.env ?? []), { name: "AWS_SECRET_ACCESS_KEY", value: "x" }]; },
    OBJECT_STORAGE_RENDER],
  ["ReadWriteMany claim left beside a bucket", /ReadWriteMany claim framepair-storage is left/,
    (o) => { o.push(structuredClone(find(PROD_OBJECTS, "PersistentVolumeClaim", "framepair-storage"))); },
    OBJECT_STORAGE_RENDER],
  ["one server left on the shared volume", /pods mount shared storage differently/,
    (o) => {
      const c = container(o, "Deployment", "framepair-scene");
      c.args = c.args.map((a) => (a.startsWith("--storage-root=") ? "--storage-root=/var/lib/framepair/storage" : a));
      c.volumeMounts.push({ name: "storage", mountPath: "/var/lib/framepair/storage" });
      podSpecOf(find(o, "Deployment", "framepair-scene")).volumes.push({ name: "storage", persistentVolumeClaim: { claimName: "framepair-storage" } });
      o.push(structuredClone(find(PROD_OBJECTS, "PersistentVolumeClaim", "framepair-storage")));
    },
    OBJECT_STORAGE_RENDER],
  ["no egress to the object store", /no NetworkPolicy lets it reach the object store/,
    (o) => { o.splice(o.indexOf(find(o, "NetworkPolicy", "framepair-object-storage-egress")), 1); },
    OBJECT_STORAGE_RENDER],
];
const DOCKER_MUTATIONS = [
  ["Dockerfile runs as root", /run as a numeric uid >= 10000/, (d) => d.replace(/^USER .*$/m, "USER root")],
  ["Dockerfile shell-form ENTRYPOINT", /use the exec form/, (d) => d.replace(/^ENTRYPOINT .*$/m, "ENTRYPOINT /usr/local/bin/framepair")],
  ["Dockerfile base image latest", /base image uses latest|base image has no tag/, (d) => d.replace(/^ARG DEBIAN_RUNTIME_IMAGE=.*$/m, "ARG DEBIAN_RUNTIME_IMAGE=debian:latest")],
  ["Dockerfile bypasses build-in-image.sh", /build-in-image\.sh/, (d) => d.replaceAll("deploy/docker/build-in-image.sh", "cmake --build build")],
];

async function selfTest(renders, docker) {
  let passed = 0;
  let failed = 0;
  const prod = renders.find((r) => r.name === "overlays/prod");
  if (!prod) fatal("self-test needs overlays/prod");
  const baseline = await validateRender(prod);
  const dockerBaseline = validateDocker(docker);
  if (baseline.length || dockerBaseline.length) {
    console.log("FAIL the unmodified manifests already have problems; run without --self-test");
    console.log(`${passed} passed, ${failed + 1} failed`);
    return 1;
  }
  PROD_OBJECTS = prod.objects;
  for (const [name, expected, mutate, on] of MUTATIONS) {
    const render = on ? renders.find((r) => r.name === on) : prod;
    if (!render) fatal(`self-test needs ${on}`);
    const objects = structuredClone(render.objects);
    mutate(objects);
    const errors = await validateRender({ ...render, objects });
    if (errors.some((e) => expected.test(e))) {
      passed++;
      console.log(`ok   caught: ${name}`);
    } else {
      failed++;
      console.log(`FAIL missed: ${name} (expected ${expected}); reported:`);
      for (const e of errors) console.log(`  - ${e}`);
    }
  }
  for (const [name, expected, mutate] of DOCKER_MUTATIONS) {
    const dockerfile = mutate(docker.dockerfile);
    const errors = dockerfile === docker.dockerfile ? [] : validateDocker({ ...docker, dockerfile });
    if (errors.some((e) => expected.test(e))) {
      passed++;
      console.log(`ok   caught: ${name}`);
    } else {
      failed++;
      console.log(`FAIL missed: ${name} (expected ${expected}); ${dockerfile === docker.dockerfile ? "the mutation changed nothing" : `reported: ${errors.join("; ")}`}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => fatal(e.stack ?? String(e)));
