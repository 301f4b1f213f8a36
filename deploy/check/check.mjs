// Checks deploy/ (the Kubernetes manifests and the container files) against
// the sources and the real, already-built binaries. Run through
// scripts/check_deploy, which installs this directory's packages first.
//
//   node deploy/check/check.mjs <bin dir> [--k8s DIR] [--images DIR]
//
// <bin dir> holds gateway/gateway, chat_service/chat_service,
// invite_service/invite_service, presence_service/presence_service and
// cli/chatctl (Bazel's bazel-bin; this script never runs Bazel).
// Prints one line per check and ends with
// "deploy checks: N passed, M failed"; exits 1 when any check failed.
//
// Where each fact comes from:
//   - flags: the binary's own --helpfull output;
//   - environment variables: the EnvOr("NAME", ...) calls in the binary's
//     main source file, each of which must also occur in the binary's
//     `strings` (so a stale binary or a renamed variable is caught). The
//     source says exactly which names are read; the binary alone cannot tell
//     a name it reads from the same name in a help text;
//   - shared libraries: `ldd` of the binary, mapped to Debian packages with
//     `dpkg -S`;
//   - object schemas: kubernetes-models (the Kubernetes OpenAPI schemas),
//     and its TypeScript declarations for unknown fields.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const ROOT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../..",
);

// The binaries the images ship, keyed by the last path segment of their
// image name in the manifests (chatsuite/chat-service -> chat-service).
const BINARIES = {
  gateway: {
    name: "gateway",
    bin: "gateway/gateway",
    main: "gateway/main.cc",
    target: "//gateway",
  },
  "chat-service": {
    name: "chat_service",
    bin: "chat_service/chat_service",
    main: "chat_service/main.cc",
    target: "//chat_service",
    health: "chat.ChatService",
  },
  "invite-service": {
    name: "invite_service",
    bin: "invite_service/invite_service",
    main: "invite_service/main.cc",
    target: "//invite_service",
    health: "chat.InviteService",
  },
  "presence-service": {
    name: "presence_service",
    bin: "presence_service/presence_service",
    main: "presence_service/main.cc",
    target: "//presence_service",
    health: "chat.PresenceService",
  },
  chatctl: {
    name: "chatctl",
    bin: "cli/chatctl",
    main: "cli/chatctl.cc",
    target: "//cli:chatctl",
  },
};
// Environment variables that name gRPC targets of the suite's own services.
const GRPC_TARGET_VARS = ["CHAT_SERVICE", "INVITE_SERVICE", "PRESENCE_SERVICE"];
// Pod labels for clients outside this kustomization (the main app): a
// NetworkPolicy may admit them although no pod here carries them.
const EXTERNAL_CLIENT_LABELS = [
  "chatsuite.io/chat-admin",
  "chatsuite.io/metrics-scraper",
];
const WORKLOAD_KINDS = [
  "Deployment",
  "StatefulSet",
  "DaemonSet",
  "ReplicaSet",
  "Job",
];

// ---- command line ----------------------------------------------------------

const argv = process.argv.slice(2);
let binDir = "";
let k8sDir = path.join(ROOT, "deploy/k8s");
let imagesDir = path.join(ROOT, "deploy/images");
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--k8s") k8sDir = path.resolve(argv[++i]);
  else if (argv[i] === "--images") imagesDir = path.resolve(argv[++i]);
  else if (!binDir) binDir = path.resolve(argv[i]);
  else usage(`unexpected argument ${argv[i]}`);
}
if (!binDir) usage("missing <bin dir>");

function usage(msg) {
  console.error(
    `check.mjs: ${msg}\nusage: node check.mjs <bin dir> [--k8s DIR] [--images DIR]`,
  );
  process.exit(2);
}

// ---- reporting -------------------------------------------------------------

let passed = 0;
let failed = 0;

// check runs fn, which returns a list of problems (or throws one), and prints
// one line: "PASS  what" or "FAIL  what: problem; problem".
async function check(what, fn) {
  let problems;
  try {
    problems = (await fn()) ?? [];
  } catch (e) {
    problems = [e.message.split("\n")[0]];
  }
  if (problems.length === 0) {
    passed++;
    console.log(`PASS  ${what}`);
  } else {
    failed++;
    console.log(`FAIL  ${what}: ${problems.join("; ")}`);
  }
}

// ---- facts about one binary ------------------------------------------------

function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, {
    encoding: "utf8",
    maxBuffer: 256 << 20,
    timeout: 20000,
    ...opts,
  });
}

const binaryFacts = new Map();

// facts returns what one binary accepts and needs, read once per binary.
function facts(key) {
  if (binaryFacts.has(key)) return binaryFacts.get(key);
  const b = BINARIES[key];
  const f = { ...b, path: path.join(binDir, b.bin), problems: [] };
  if (!existsSync(f.path) || !(statSync(f.path).mode & 0o111)) {
    f.problems.push(`no executable ${f.path}`);
    binaryFacts.set(key, f);
    return f;
  }
  const help = run(f.path, ["--helpfull"], { env: {} });
  const helpText = `${help.stdout}${help.stderr}`;
  f.flags = new Set(
    [...helpText.matchAll(/^\s+--([A-Za-z0-9_]+) \(/gm)].map((m) => m[1]),
  );
  if (f.flags.size === 0)
    f.problems.push(`no flags found in ${f.path} --helpfull`);
  const strings = run("strings", ["-n", "4", f.path]);
  if (strings.status !== 0) f.problems.push(`strings ${f.path} failed`);
  f.strings = strings.stdout.split("\n");
  f.stringSet = new Set(f.strings);
  // Flag -> environment variable, and every variable the main file reads.
  // The flags every server binary shares (--log_level, --log_format;
  // --redis, --redis_cluster) are defined once, in common/log_flags.cc and
  // common/redis_flags.cc.
  const shared = ["common/log_flags.cc", "common/redis_flags.cc"];
  const src = [b.main, ...(b.bin === "cli/chatctl" ? [] : shared)]
    .map((file) => readFileSync(path.join(ROOT, file), "utf8"))
    .join("\n");
  f.flagEnv = new Map();
  f.flagDefault = new Map();
  for (const m of src.matchAll(
    /ABSL_FLAG\(\s*[\w:]+\s*,\s*(\w+)\s*,\s*chat::EnvOr(?:Int)?\("([A-Z0-9_]+)"\s*,\s*("(?:[^"\\]|\\.)*"|[\w<\s*]+)\)/g,
  )) {
    f.flagEnv.set(m[1], m[2]);
    f.flagDefault.set(m[1], m[3].trim().replace(/^"|"$/g, ""));
  }
  f.envVars = new Set(
    [...src.matchAll(/EnvOr(?:Int)?\("([A-Z0-9_]+)"/g)].map((m) => m[1]),
  );
  if (f.envVars.size === 0)
    f.problems.push(`no EnvOr("...") calls found in ${b.main}`);
  binaryFacts.set(key, f);
  return f;
}

// packagesOf maps library paths to the Debian packages that ship them (or
// null). dpkg records some libraries under /lib and others under /usr/lib
// (usrmerge), so each path, its real path and its /usr twin are looked up,
// all in one dpkg -S call.
function packagesOf(libs) {
  const candidates = new Map();
  for (const lib of libs) {
    const c = [lib];
    const real = run("readlink", ["-f", lib]).stdout.trim();
    if (real) c.push(real);
    if (!lib.startsWith("/usr/")) c.push(`/usr${lib}`);
    candidates.set(lib, c);
  }
  const owner = new Map();
  const all = [...new Set([...candidates.values()].flat())];
  if (all.length) {
    // Exit status 1 only says that some candidates have no owner.
    for (const line of run("dpkg", ["-S", ...all]).stdout.split("\n")) {
      const m = line.match(/^([^:,\s]+)(?::[\w-]+)?(?:,[^:]*)?: (\/.*)$/);
      if (m && !owner.has(m[2])) owner.set(m[2], m[1]);
    }
  }
  return new Map(
    libs.map((lib) => [
      lib,
      candidates
        .get(lib)
        .map((c) => owner.get(c))
        .find(Boolean) ?? null,
    ]),
  );
}

function readList(file) {
  return readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean);
}

// ---- facts about the gateway's shutdown, from the sources ------------------

function gatewayShutdownSeconds() {
  const header = readFileSync(path.join(ROOT, "gateway/gateway.h"), "utf8");
  const main = readFileSync(path.join(ROOT, "gateway/main.cc"), "utf8");
  const window = header.match(/drain_window\s*=\s*absl::Seconds\((\d+)\)/);
  const extra = main.match(
    /WaitDrained\(\s*o\.drain_window\s*\+\s*absl::Seconds\((\d+)\)\)/,
  );
  if (!window || !extra) {
    throw new Error(
      "cannot find drain_window in gateway/gateway.h or WaitDrained in gateway/main.cc",
    );
  }
  return { window: Number(window[1]), extra: Number(extra[1]) };
}

// ---- manifests -------------------------------------------------------------

function render(overlay) {
  const r = run("kubectl", [
    "kustomize",
    path.join(k8sDir, "overlays", overlay),
  ]);
  if (r.error) throw new Error(`kubectl: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`kubectl kustomize failed: ${r.stderr.trim()}`);
  const docs = YAML.parseAllDocuments(r.stdout);
  for (const d of docs)
    if (d.errors.length) throw new Error(`YAML: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS()).filter((o) => o && typeof o === "object");
}

const rel = (p) => (p.startsWith(`${ROOT}/`) ? path.relative(ROOT, p) : p);
const objName = (o) => `${o.kind}/${o.metadata?.name}`;

// kubernetes-models checks types, formats and required fields, but it lets
// unknown fields through, and a misspelled key (livenesProbe) would then be
// dropped silently. unknownFields walks the object along the field lists in
// the models' TypeScript declarations (.d.ts, generated from the same
// OpenAPI schemas) and returns the paths of fields no schema declares.
const MODELS = path.join(ROOT, "deploy/check/node_modules");
const declCache = new Map();

function declaration(file) {
  if (declCache.has(file)) return declCache.get(file);
  const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
  const imports = new Map();
  for (const m of text.matchAll(/import\s*{([^}]*)}\s*from\s*"([^"]+)"/g)) {
    const spec = m[2];
    const target = spec.startsWith(".")
      ? path.resolve(path.dirname(file), spec)
      : path.join(MODELS, spec);
    for (const n of m[1].split(","))
      imports.set(n.trim(), `${target.replace(/\.js$/, "")}.d.ts`);
  }
  const start = text.search(/export interface \w+[^{]*{/);
  let fields = null; // null: a leaf (alias of a primitive, or not described)
  if (start >= 0) {
    fields = new Map();
    const body = text.slice(text.indexOf("{", start) + 1);
    let depth = 0;
    let i = 0;
    while (i < body.length && depth >= 0) {
      const ch = body[i];
      if (ch === "{" || ch === "<") depth++;
      else if (ch === "}" || ch === ">") depth--;
      if (depth === 0 && ch === '"') {
        const m = body.slice(i).match(/^"([^"]+)"\??:\s*/);
        if (m) {
          let j = i + m[0].length;
          let d = 0;
          while (j < body.length && !(d === 0 && body[j] === ";")) {
            if (body[j] === "{" || body[j] === "<") d++;
            else if (body[j] === "}" || body[j] === ">") d--;
            j++;
          }
          fields.set(m[1], body.slice(i + m[0].length, j).trim());
          i = j;
        }
      }
      i++;
    }
  }
  const decl = { imports, fields };
  declCache.set(file, decl);
  return decl;
}

function unknownFields(value, type, decl, where, out) {
  if (value === null || typeof value !== "object") return;
  const t = type.trim();
  const array = t.match(/^Array<([\s\S]*)>$/);
  if (array) {
    if (Array.isArray(value))
      value.forEach((v, k) =>
        unknownFields(v, array[1], decl, `${where}/${k}`, out),
      );
    return;
  }
  const map = t.match(/^{\s*\[key: string\]:\s*([\s\S]*?);?\s*}$/);
  if (map) {
    for (const [k, v] of Object.entries(value))
      unknownFields(v, map[1], decl, `${where}/${k}`, out);
    return;
  }
  const file = decl.imports.get(t);
  if (!file || !existsSync(file)) return; // a primitive, a union, or undescribed
  const d = declaration(file);
  if (!d.fields) return;
  for (const [k, v] of Object.entries(value)) {
    if (!d.fields.has(k)) out.push(`${where}/${k}: no such field`);
    else unknownFields(v, d.fields.get(k), d, `${where}/${k}`, out);
  }
}

async function validateObject(o) {
  const [group, version] = o.apiVersion?.includes("/")
    ? o.apiVersion.split("/")
    : ["", o.apiVersion];
  const module = `kubernetes-models/${group ? `${group}/` : ""}${version}/${o.kind}`;
  let Model;
  try {
    Model = (await import(module))[o.kind];
  } catch {
    Model = undefined;
  }
  if (typeof Model !== "function")
    return [`unknown kind ${o.apiVersion} ${o.kind}`];
  new Model(o).validate();
  const file = path.join(MODELS, `${module}.d.ts`);
  if (!existsSync(file)) return [`no declarations for ${module}`];
  const top = declaration(file);
  const out = [];
  for (const [k, v] of Object.entries(o)) {
    if (!top.fields.has(k)) out.push(`/${k}: no such field`);
    else unknownFields(v, top.fields.get(k), top, `/${k}`, out);
  }
  return out;
}

function podTemplate(o) {
  if (WORKLOAD_KINDS.includes(o.kind)) return o.spec?.template;
  if (o.kind === "CronJob") return o.spec?.jobTemplate?.spec?.template;
  return undefined;
}

function matches(selector, labels = {}) {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {}))
    if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    if (e.operator === "In" && !(has && e.values.includes(labels[e.key])))
      return false;
    if (e.operator === "NotIn" && has && e.values.includes(labels[e.key]))
      return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

const isEmptySelector = (s) =>
  !s ||
  (Object.keys(s.matchLabels ?? {}).length === 0 &&
    (s.matchExpressions ?? []).length === 0);

function imageKey(image = "") {
  const noDigest = image.split("@")[0];
  const last = noDigest.split("/").pop();
  return last.split(":")[0];
}

// containerEnv returns name -> {value?, from} for everything a container gets
// in its environment, expanding envFrom with the rendered ConfigMaps/Secrets.
function containerEnv(c, objects, problems) {
  const env = new Map();
  for (const ref of c.envFrom ?? []) {
    const kind = ref.configMapRef ? "ConfigMap" : "Secret";
    const name = (ref.configMapRef ?? ref.secretRef)?.name;
    const src = objects.find(
      (o) => o.kind === kind && o.metadata?.name === name,
    );
    if (!src) {
      problems.push(
        `envFrom ${kind} ${name} is not in the rendered output, so its keys cannot be checked`,
      );
      continue;
    }
    const data = { ...(src.data ?? {}), ...(src.stringData ?? {}) };
    for (const [k, v] of Object.entries(data)) {
      env.set(`${ref.prefix ?? ""}${k}`, {
        value: kind === "ConfigMap" ? v : undefined,
        from: `${kind} ${name}`,
      });
    }
  }
  for (const e of c.env ?? []) {
    let value = e.value;
    const cmRef = e.valueFrom?.configMapKeyRef;
    if (cmRef) {
      const cm = objects.find(
        (o) => o.kind === "ConfigMap" && o.metadata?.name === cmRef.name,
      );
      value = cm?.data?.[cmRef.key];
      if (value === undefined && !cmRef.optional)
        problems.push(
          `env ${e.name}: ConfigMap ${cmRef.name} key ${cmRef.key} missing`,
        );
    }
    env.set(e.name, { value, from: "env" });
  }
  return env;
}

// flagValue returns a flag's effective value for a container: its --flag=
// argument, else its environment variable, else its compiled default.
function flagValue(f, c, env, flag) {
  for (const a of c.args ?? []) {
    const m = String(a).match(/^--([A-Za-z0-9_]+)(?:=(.*))?$/);
    if (m && m[1] === flag) return m[2] ?? "true";
  }
  const envName = f.flagEnv.get(flag);
  if (envName && env.get(envName)?.value) return env.get(envName).value;
  return f.flagDefault.get(flag);
}

function portOf(hostPort) {
  const m = String(hostPort ?? "").match(/:(\d+)$/);
  return m ? Number(m[1]) : undefined;
}

// resolvePort turns a probe or Service targetPort (number or name) into a
// container port number, or undefined when no container port has that name.
function resolvePort(port, containers) {
  if (typeof port === "number") return port;
  if (/^\d+$/.test(String(port))) return Number(port);
  for (const c of containers)
    for (const p of c.ports ?? []) if (p.name === port) return p.containerPort;
  return undefined;
}

// ---- checks of one container of one of our binaries ------------------------

function flagProblems(f, c) {
  const problems = [];
  for (const a of [...(c.command ?? []), ...(c.args ?? [])]) {
    const m = String(a).match(/^--?([A-Za-z_][A-Za-z0-9_]*)/);
    if (!m) continue;
    const name = m[1];
    const known =
      f.flags.has(name) ||
      (name.startsWith("no") && f.flags.has(name.slice(2)));
    if (!known)
      problems.push(
        `--${name} is not a flag of ${f.name} (see its --helpfull)`,
      );
  }
  if (c.command && c.command[0] !== `/usr/local/bin/${f.name}`) {
    problems.push(
      `command ${c.command[0]} is not the image's /usr/local/bin/${f.name}`,
    );
  }
  return problems;
}

function envProblems(f, c, objects) {
  const problems = [];
  const env = containerEnv(c, objects, problems);
  for (const [name, { from }] of env) {
    if (!f.envVars.has(name))
      problems.push(`${name} (${from}) is not read by ${f.main}`);
    else if (!f.strings.some((s) => s.includes(name))) {
      problems.push(
        `${name} is read by ${f.main} but does not occur in ${f.path}: stale binary?`,
      );
    }
  }
  return problems;
}

// ---- the checks of one overlay ---------------------------------------------

async function checkOverlay(overlay, shutdown) {
  let objects = [];
  await check(
    `${overlay}: kubectl kustomize deploy/k8s/overlays/${overlay} renders`,
    () => {
      objects = render(overlay);
      return objects.length ? [] : ["no objects"];
    },
  );
  if (!objects.length) return;

  for (const o of objects) {
    await check(
      `${overlay}: ${objName(o)} validates against the ${o.apiVersion} schema (types, required and known fields)`,
      () => validateObject(o),
    );
  }

  await check(
    `${overlay}: every object has app.kubernetes.io/name and part-of=chatsuite labels`,
    () =>
      objects
        .filter((o) => {
          const l = o.metadata?.labels ?? {};
          return (
            !l["app.kubernetes.io/name"] ||
            l["app.kubernetes.io/part-of"] !== "chatsuite"
          );
        })
        .map(objName),
  );

  const workloads = objects.filter((o) => podTemplate(o));
  const podLabels = workloads.map((w) => ({
    w,
    labels: podTemplate(w).metadata?.labels ?? {},
  }));
  const selects = (selector) =>
    podLabels.filter(({ labels }) => matches(selector, labels));

  for (const w of workloads) {
    const t = podTemplate(w);
    const spec = t.spec ?? {};
    const containers = [
      ...(spec.initContainers ?? []),
      ...(spec.containers ?? []),
    ];

    if (w.kind !== "Job") {
      await check(
        `${overlay}: ${objName(w)} selector matches its pod template labels`,
        () =>
          matches(w.spec.selector, t.metadata?.labels)
            ? []
            : ["selector does not match the template's labels"],
      );
    }

    await check(
      `${overlay}: ${objName(w)} runs non-root, read-only, no privilege escalation, caps dropped, seccomp RuntimeDefault`,
      () => {
        const p = [];
        const pod = spec.securityContext ?? {};
        for (const c of containers) {
          const s = c.securityContext ?? {};
          const uid = s.runAsUser ?? pod.runAsUser;
          if (!(s.runAsNonRoot ?? pod.runAsNonRoot))
            p.push(`${c.name}: runAsNonRoot not true`);
          if (!Number.isInteger(uid) || uid === 0)
            p.push(`${c.name}: no fixed non-root runAsUser`);
          if (s.readOnlyRootFilesystem !== true)
            p.push(`${c.name}: readOnlyRootFilesystem not true`);
          if (s.allowPrivilegeEscalation !== false)
            p.push(`${c.name}: allowPrivilegeEscalation not false`);
          if (!(s.capabilities?.drop ?? []).includes("ALL"))
            p.push(`${c.name}: capabilities do not drop ALL`);
          if (
            (s.seccompProfile ?? pod.seccompProfile)?.type !== "RuntimeDefault"
          )
            p.push(`${c.name}: seccompProfile not RuntimeDefault`);
          const key = imageKey(c.image);
          if (BINARIES[key]) {
            const cf = path.join(
              imagesDir,
              `Containerfile.${BINARIES[key].name}`,
            );
            const user =
              existsSync(cf) &&
              readFileSync(cf, "utf8").match(/^USER\s+(\d+)/m);
            if (!user) p.push(`${c.name}: no numeric USER in ${rel(cf)}`);
            else if (Number(user[1]) !== uid)
              p.push(
                `${c.name}: runAsUser ${uid} but the image's USER is ${user[1]}`,
              );
          }
        }
        return p;
      },
    );

    await check(
      `${overlay}: ${objName(w)} sets cpu and memory requests and limits on every container`,
      () => {
        const p = [];
        for (const c of containers) {
          for (const kind of ["requests", "limits"]) {
            for (const r of ["cpu", "memory"])
              if (!c.resources?.[kind]?.[r])
                p.push(`${c.name}: no ${kind}.${r}`);
          }
        }
        return p;
      },
    );

    if (w.kind === "Deployment" || w.kind === "StatefulSet") {
      await check(
        `${overlay}: ${objName(w)} spreads its pods over nodes (kubernetes.io/hostname)`,
        () => {
          const tsc = (spec.topologySpreadConstraints ?? []).find(
            (c) => c.topologyKey === "kubernetes.io/hostname",
          );
          if (w.kind === "StatefulSet" && (w.spec.replicas ?? 1) === 1)
            return [];
          if (!tsc)
            return ["no topologySpreadConstraint on kubernetes.io/hostname"];
          return matches(tsc.labelSelector, t.metadata?.labels)
            ? []
            : ["its labelSelector does not select the pods"];
        },
      );
    }

    for (const c of containers) {
      const key = imageKey(c.image);
      if (!BINARIES[key]) continue;
      const f = facts(key);
      const where = `${overlay}: ${objName(w)} container ${c.name} (${f.name})`;
      if (f.problems.length) {
        await check(`${where}: binary is readable`, () => f.problems);
        continue;
      }
      await check(
        `${where}: every flag in command/args exists in ${f.name} --helpfull`,
        () => flagProblems(f, c),
      );
      await check(
        `${where}: every environment variable it gets is read by ${f.main}`,
        () => envProblems(f, c, objects),
      );

      const env = containerEnv(c, objects, []);
      if (f.flagEnv.has("listen")) {
        const listen = portOf(flagValue(f, c, env, "listen"));
        await check(
          `${where}: containerPort and probes use its --listen port ${listen}`,
          () => {
            const p = [];
            const ports = (c.ports ?? []).map((x) => x.containerPort);
            if (!ports.includes(listen))
              p.push(
                `no containerPort ${listen} (has ${ports.join(",") || "none"})`,
              );
            for (const kind of [
              "readinessProbe",
              "livenessProbe",
              "startupProbe",
            ]) {
              const probe = c[kind];
              if (!probe) continue;
              const action = probe.httpGet ?? probe.grpc ?? probe.tcpSocket;
              if (!action) continue;
              const port = resolvePort(action.port, [c]);
              if (port !== listen)
                p.push(`${kind} port ${action.port} is not ${listen}`);
            }
            return p;
          },
        );
      }

      // Where Prometheus is told to scrape is where a server serves
      // /metrics: the services' --metrics_listen port, the gateway's main one.
      const metricsPort = portOf(
        flagValue(f, c, env, f.flagEnv.has("metrics_listen") ? "metrics_listen" : "listen"),
      );
      if (f.flagEnv.has("listen")) await check(
        `${where}: /metrics is served on port ${metricsPort}, a containerPort, and the scrape annotations say so`,
        () => {
          const p = [];
          const ports = (c.ports ?? []).map((x) => x.containerPort);
          if (!ports.includes(metricsPort))
            p.push(`no containerPort ${metricsPort}`);
          if (!f.stringSet.has("/metrics"))
            p.push(`"/metrics" does not occur in ${f.path}`);
          const a = t.metadata?.annotations ?? {};
          if (a["prometheus.io/scrape"] !== "true")
            p.push("no prometheus.io/scrape: \"true\" annotation");
          if (Number(a["prometheus.io/port"]) !== metricsPort)
            p.push(`prometheus.io/port is ${a["prometheus.io/port"]}, not ${metricsPort}`);
          if ((a["prometheus.io/path"] ?? "/metrics") !== "/metrics")
            p.push(`prometheus.io/path is ${a["prometheus.io/path"]}`);
          return p;
        },
      );

      if (key === "gateway") {
        await check(
          `${where}: readiness GET /readyz, liveness GET /healthz, both served by the binary`,
          () => {
            const p = [];
            if (c.readinessProbe?.httpGet?.path !== "/readyz")
              p.push("readinessProbe is not httpGet /readyz");
            if (c.livenessProbe?.httpGet?.path !== "/healthz")
              p.push("livenessProbe is not httpGet /healthz");
            for (const s of ["/readyz", "/healthz"])
              if (!f.stringSet.has(s))
                p.push(`"${s}" does not occur in ${f.path}`);
            return p;
          },
        );
        await check(
          `${where}: terminationGracePeriodSeconds outlasts preStop + drain window (${shutdown.window} s) + close wait (${shutdown.extra} s)`,
          () => {
            const pre = c.lifecycle?.preStop;
            let preStop = 0;
            if (pre?.sleep) preStop = Number(pre.sleep.seconds);
            else if (pre?.exec) {
              const cmd = pre.exec.command ?? [];
              if (!/sleep$/.test(cmd[0] ?? "") || !/^\d+$/.test(cmd[1] ?? ""))
                return [
                  `cannot read the preStop duration from ${JSON.stringify(cmd)}`,
                ];
              preStop = Number(cmd[1]);
            }
            const need = preStop + shutdown.window + shutdown.extra;
            const grace = spec.terminationGracePeriodSeconds ?? 30;
            return grace > need
              ? []
              : [`terminationGracePeriodSeconds ${grace} <= ${need}`];
          },
        );
        const devLogin = flagValue(f, c, env, "dev_login");
        const on =
          devLogin === "true" || env.get("GATEWAY_DEV_LOGIN")?.value === "1";
        const want = overlay === "dev";
        await check(
          `${where}: development login is ${want ? "on" : "off"}`,
          () =>
            on === want
              ? []
              : [`GATEWAY_DEV_LOGIN/--dev_login turn it ${on ? "on" : "off"}`],
        );
      } else if (f.health) {
        await check(
          `${where}: readiness is a gRPC health probe for ${f.health}, a name the binary registers`,
          () => {
            const p = [];
            if (c.readinessProbe?.grpc?.service !== f.health)
              p.push(`readinessProbe is not grpc service ${f.health}`);
            if (!c.livenessProbe) p.push("no livenessProbe");
            if (!f.stringSet.has(f.health))
              p.push(`"${f.health}" does not occur in ${f.path}`);
            return p;
          },
        );
      }

      // gRPC targets and Redis addresses must name a rendered Service port
      // that leads to pods listening there; a Redis outside the cluster is
      // reported as external.
      for (const [name, { value }] of env) {
        if (
          !value ||
          !(GRPC_TARGET_VARS.includes(name) || name === "CHAT_REDIS")
        )
          continue;
        const m = String(value).match(/^(?:dns:\/\/\/)?([a-z0-9.-]+):(\d+)$/);
        const host = m?.[1].split(".")[0];
        const svc = objects.find(
          (o) => o.kind === "Service" && o.metadata?.name === host,
        );
        if (m && !svc && name === "CHAT_REDIS" && m[1].includes(".")) {
          await check(
            `${where}: ${name}=${value} is a Redis outside the cluster (host:port form)`,
            () => [],
          );
          continue;
        }
        await check(
          `${where}: ${name}=${value} reaches a Service port with a listening pod`,
          () => {
            if (!m) return [`cannot parse ${value} as [dns:///]host:port`];
            const port = Number(m[2]);
            if (!svc) return [`no Service ${host} in the rendered output`];
            const sp = (svc.spec.ports ?? []).find((x) => x.port === port);
            if (!sp) return [`Service ${host} has no port ${port}`];
            const pods = podLabels.filter(({ labels }) =>
              matches({ matchLabels: svc.spec.selector }, labels),
            );
            if (!pods.length) return [`Service ${host} selects no pods`];
            return [];
          },
        );
      }
    }
  }

  // Every selector must select something; every backend must exist.
  for (const o of objects) {
    if (o.kind === "Service") {
      await check(
        `${overlay}: ${objName(o)} selects pods and its targetPorts are their containerPorts`,
        () => {
          const hits = selects({ matchLabels: o.spec.selector });
          if (isEmptySelector({ matchLabels: o.spec.selector }) || !hits.length)
            return ["selects no pod template"];
          const p = [];
          for (const sp of o.spec.ports ?? []) {
            for (const { w } of hits) {
              const cs = podTemplate(w).spec.containers;
              const target = resolvePort(sp.targetPort ?? sp.port, cs);
              const has = cs.some((c) =>
                (c.ports ?? []).some((x) => x.containerPort === target),
              );
              if (!has)
                p.push(
                  `port ${sp.port} -> targetPort ${sp.targetPort} is no containerPort of ${objName(w)}`,
                );
            }
          }
          return p;
        },
      );
    } else if (o.kind === "PodDisruptionBudget") {
      await check(
        `${overlay}: ${objName(o)} selector matches a workload's pods`,
        () =>
          selects(o.spec.selector).length ? [] : ["selects no pod template"],
      );
    } else if (o.kind === "HorizontalPodAutoscaler") {
      await check(
        `${overlay}: ${objName(o)} scales an existing Deployment that leaves replicas to it`,
        () => {
          const ref = o.spec.scaleTargetRef;
          const t = objects.find(
            (x) => x.kind === ref.kind && x.metadata?.name === ref.name,
          );
          if (!t) return [`no ${ref.kind}/${ref.name}`];
          const p = [];
          if (t.spec.replicas !== undefined)
            p.push(
              `${ref.kind}/${ref.name} sets replicas, which every apply resets`,
            );
          if (!(o.spec.minReplicas <= o.spec.maxReplicas))
            p.push("minReplicas > maxReplicas");
          if (!(o.spec.metrics ?? []).some((m) => m.resource?.name === "cpu"))
            p.push("no CPU metric");
          return p;
        },
      );
    } else if (o.kind === "NetworkPolicy") {
      await check(
        `${overlay}: ${objName(o)} selects pods, allows only their containerPorts, and every peer selector selects a pod here or a documented external client`,
        () => {
          const p = [];
          const targets = selects(o.spec.podSelector);
          if (!targets.length) p.push("podSelector selects no pod template");
          for (const rule of o.spec.ingress ?? []) {
            // An allowed port must be one the selected pods listen on.
            for (const rp of rule.ports ?? []) {
              for (const { w } of targets) {
                const cs = podTemplate(w).spec.containers;
                const port = resolvePort(rp.port, cs);
                if (
                  !cs.some((c) =>
                    (c.ports ?? []).some((x) => x.containerPort === port),
                  )
                ) {
                  p.push(
                    `port ${rp.port} is no containerPort of ${objName(w)}`,
                  );
                }
              }
            }
            for (const peer of rule.from ?? []) {
              if (!peer.podSelector) continue;
              const keys = Object.keys(peer.podSelector.matchLabels ?? {});
              if (
                keys.length &&
                keys.every((k) => EXTERNAL_CLIENT_LABELS.includes(k))
              )
                continue;
              if (!selects(peer.podSelector).length)
                p.push(
                  `peer ${JSON.stringify(peer.podSelector)} selects no pod template`,
                );
            }
          }
          return p;
        },
      );
    } else if (o.kind === "Ingress") {
      await check(
        `${overlay}: ${objName(o)} backends are Service ports`,
        () => {
          const p = [];
          for (const rule of o.spec.rules ?? []) {
            for (const hp of rule.http?.paths ?? []) {
              const b = hp.backend.service;
              const svc = objects.find(
                (x) => x.kind === "Service" && x.metadata?.name === b.name,
              );
              if (!svc) p.push(`${hp.path}: no Service ${b.name}`);
              else if (
                !svc.spec.ports.some(
                  (x) => x.name === b.port.name || x.port === b.port.number,
                )
              ) {
                p.push(
                  `${hp.path}: Service ${b.name} has no port ${b.port.name ?? b.port.number}`,
                );
              }
            }
          }
          return p;
        },
      );
    }
  }

  // The gateway's HTTP routes must reach it through the Ingress, with
  // timeouts long enough for quiet WebSockets.
  await check(
    `${overlay}: an Ingress routes / and every WebSocket path prefix of gateway/seed_endpoints.cc to the gateway, with 3600 s proxy timeouts`,
    () => {
      const src = readFileSync(
        path.join(ROOT, "gateway/seed_endpoints.cc"),
        "utf8",
      );
      const firsts = [
        ...new Set(
          [...src.matchAll(/parts\[0\]\s*==\s*"([^"]+)"/g)].map(
            (m) => `/${m[1]}`,
          ),
        ),
      ];
      if (!firsts.length)
        return ["no route prefixes found in gateway/seed_endpoints.cc"];
      const p = [];
      for (const want of ["/", ...firsts]) {
        const ok = objects.some((o) => {
          if (o.kind !== "Ingress") return false;
          const a = o.metadata.annotations ?? {};
          const long = ["proxy-read-timeout", "proxy-send-timeout"].every(
            (k) => Number(a[`nginx.ingress.kubernetes.io/${k}`]) >= 3600,
          );
          return (
            long &&
            (o.spec.rules ?? []).some((r) =>
              (r.http?.paths ?? []).some(
                (hp) =>
                  hp.path === want &&
                  hp.pathType === "Prefix" &&
                  hp.backend.service?.name === "gateway",
              ),
            )
          );
        });
        if (!ok)
          p.push(
            `no Prefix ${want} to Service gateway with proxy read/send timeouts >= 3600`,
          );
      }
      return p;
    },
  );

  // Settings that must agree between binaries.
  const envOf = (key) => {
    const w = workloads.find((x) =>
      podTemplate(x).spec.containers.some((c) => imageKey(c.image) === key),
    );
    const c =
      w &&
      podTemplate(w).spec.containers.find((x) => imageKey(x.image) === key);
    return c
      ? { f: facts(key), c, env: containerEnv(c, objects, []) }
      : undefined;
  };
  const gw = envOf("gateway");
  const chat = envOf("chat-service");
  const presence = envOf("presence-service");
  if (gw && chat && !gw.f.problems.length && !chat.f.problems.length) {
    await check(
      `${overlay}: gateway and chat service agree on max_message_chars`,
      () => {
        const a = flagValue(gw.f, gw.c, gw.env, "max_message_chars");
        const b = flagValue(chat.f, chat.c, chat.env, "max_message_chars");
        return a === b ? [] : [`gateway ${a}, chat service ${b}`];
      },
    );
  }
  if (gw && presence && !gw.f.problems.length && !presence.f.problems.length) {
    await check(
      `${overlay}: gateway presence heartbeat is at most a third of the presence session TTL`,
      () => {
        const hb = Number(
          flagValue(gw.f, gw.c, gw.env, "presence_heartbeat_ms"),
        );
        const ttl =
          Number(
            flagValue(presence.f, presence.c, presence.env, "session_ttl_s"),
          ) * 1000;
        return hb * 3 <= ttl
          ? []
          : [`heartbeat ${hb} ms, session TTL ${ttl} ms`];
      },
    );
  }
  // One Redis, or one Redis Cluster (whose seed nodes replace CHAT_REDIS:
  // a binary given both would use the cluster and ignore the other).
  const redisOf = (k) => {
    const env = envOf(k)?.env;
    const cluster = env?.get("CHAT_REDIS_CLUSTER")?.value;
    const single = env?.get("CHAT_REDIS")?.value;
    if (cluster && single) return `both CHAT_REDIS and CHAT_REDIS_CLUSTER in ${k}`;
    return cluster ? `cluster ${cluster}` : single;
  };
  const redis = new Set(
    ["gateway", "chat-service", "invite-service", "presence-service"]
      .map(redisOf)
      .filter(Boolean),
  );
  await check(
    `${overlay}: the gateway and the three services use one Redis`,
    () =>
      redis.size === 1 && ![...redis][0].startsWith("both")
        ? []
        : [`Redis targets: ${[...redis].join(", ") || "none"}`],
  );
  await check(
    `${overlay}: the gateway and the three services log JSON lines (CHAT_LOG_FORMAT=json)`,
    () =>
      ["gateway", "chat-service", "invite-service", "presence-service"]
        .filter((k) => envOf(k)?.env.get("CHAT_LOG_FORMAT")?.value !== "json")
        .map((k) => `${k} logs ${envOf(k)?.env.get("CHAT_LOG_FORMAT")?.value ?? "text"}`),
  );
  const clusterSeeds = envOf("chat-service")?.env.get("CHAT_REDIS_CLUSTER")?.value;
  if (clusterSeeds) {
    await check(
      `${overlay}: CHAT_REDIS_CLUSTER lists host:port seed nodes outside the cluster, and the chat service awaits a replica`,
      () => {
        const p = [];
        for (const seed of String(clusterSeeds).split(",")) {
          if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+:\d+$/.test(seed))
            p.push(`seed ${seed} is not an external host:port`);
        }
        const min = envOf("chat-service")?.env.get("CHAT_REDIS_MIN_REPLICAS")?.value;
        if (!(Number(min) >= 1))
          p.push(`CHAT_REDIS_MIN_REPLICAS is ${min ?? "unset"}: a failover can lose acknowledged messages`);
        return p;
      },
    );
  }

  if (overlay.startsWith("prod")) {
    await check(
      `${overlay}: the placeholder JWT Secret is not rendered (it is created out of band)`,
      () =>
        objects.some(
          (o) => o.kind === "Secret" && o.metadata?.name === "chatsuite-jwt",
        )
          ? ["Secret chatsuite-jwt would overwrite the real one on apply"]
          : [],
    );
    await check(
      `${overlay}: at least 3 gateways (HPA minimum) and 2 replicas of each service`,
      () => {
        const p = [];
        const hpa = objects.find(
          (o) =>
            o.kind === "HorizontalPodAutoscaler" &&
            o.spec.scaleTargetRef.name === "gateway",
        );
        if (!hpa || hpa.spec.minReplicas < 3)
          p.push(`gateway HPA minReplicas ${hpa?.spec.minReplicas}`);
        for (const n of [
          "chat-service",
          "invite-service",
          "presence-service",
        ]) {
          const d = objects.find(
            (o) => o.kind === "Deployment" && o.metadata.name === n,
          );
          if (!d || (d.spec.replicas ?? 1) < 2)
            p.push(`${n} replicas ${d?.spec.replicas}`);
        }
        return p;
      },
    );
  }
  return objects;
}

// ---- checks of the binaries and their images -------------------------------

async function checkImages() {
  for (const key of Object.keys(BINARIES)) {
    const f = facts(key);
    const where = `image ${f.name}`;
    if (f.problems.length) {
      await check(`${where}: binary is readable`, () => f.problems);
      continue;
    }
    const listFile = path.join(imagesDir, `${f.name}.runtime-packages`);
    await check(
      `${where}: every library ldd lists is in ${rel(listFile)}`,
      () => {
        const r = run("ldd", [f.path]);
        if (r.status !== 0) return [`ldd ${f.path} failed: ${r.stderr.trim()}`];
        const libs = [];
        for (const line of r.stdout.split("\n")) {
          const m = line.match(/=>\s+(\/\S+)/) ?? line.match(/^\s+(\/\S+)/);
          if (m) libs.push(m[1]);
          else if (/not found/.test(line)) return [`ldd: ${line.trim()}`];
        }
        const listed = new Set(readList(listFile));
        const p = [];
        const owners = packagesOf(libs);
        for (const lib of libs) {
          const pkg = owners.get(lib);
          if (!pkg) p.push(`${lib}: no Debian package ships it`);
          else if (!listed.has(pkg)) p.push(`${lib} needs ${pkg}`);
        }
        return libs.length ? p : ["ldd listed no libraries"];
      },
    );
    const cfFile = path.join(imagesDir, `Containerfile.${f.name}`);
    await check(
      `${where}: ${rel(cfFile)} builds ${f.target} on bookworm, installs its package list, runs /usr/local/bin/${f.name} as a fixed non-root user`,
      () => {
        if (!existsSync(cfFile)) return [`no ${cfFile}`];
        const cf = readFileSync(cfFile, "utf8");
        const p = [];
        if (!/^FROM\s+\S*debian:bookworm\s+AS\s+build/im.test(cf))
          p.push("build stage is not debian:bookworm");
        if (!/^FROM\s+\S*debian:bookworm-slim\s*$/im.test(cf))
          p.push("final stage is not debian:bookworm-slim");
        if (!cf.includes("scripts/install_deps"))
          p.push("build stage does not run scripts/install_deps");
        if (
          !new RegExp(
            `bazel build[^\\n]*\\s${f.target.replace(/[/:]/g, "\\$&")}(\\s|$)`,
          ).test(cf)
        )
          p.push(`no bazel build of ${f.target}`);
        if (!cf.includes(`COPY deploy/images/${f.name}.runtime-packages`))
          p.push(`does not COPY deploy/images/${f.name}.runtime-packages`);
        if (!/xargs[^\n]*\\?\s*\n?\s*apt-get install/.test(cf))
          p.push("does not apt-get install the list through xargs");
        const user = cf.match(/^USER\s+(\d+)/m);
        if (!user || Number(user[1]) === 0) p.push("no numeric non-root USER");
        if (!cf.includes(`ENTRYPOINT ["/usr/local/bin/${f.name}"]`))
          p.push(`ENTRYPOINT is not /usr/local/bin/${f.name}`);
        if (f.name === "gateway" && !/^COPY\s+web\/\s+\/app\/web\//m.test(cf))
          p.push("does not COPY web/ to /app/web/");
        return p;
      },
    );
  }
}

// ---- self-test: the checks above must catch drift --------------------------

async function selfTest(objects) {
  const gwDeploy = objects?.find(
    (o) => o.kind === "Deployment" && o.metadata.name === "gateway",
  );
  const f = facts("gateway");
  if (!gwDeploy || f.problems.length) return;
  const c = structuredClone(podTemplate(gwDeploy).spec.containers[0]);
  await check("self-test: a misspelled flag (--lisen) would be caught", () => {
    const bad = { ...c, args: [...(c.args ?? []), "--lisen=0.0.0.0:8080"] };
    return flagProblems(f, bad).length ? [] : ["flagProblems found nothing"];
  });
  await check(
    "self-test: an environment variable no binary reads (CHAT_REDDIS) would be caught",
    () => {
      const bad = {
        ...c,
        env: [...(c.env ?? []), { name: "CHAT_REDDIS", value: "x:1" }],
      };
      return envProblems(f, bad, objects).length
        ? []
        : ["envProblems found nothing"];
    },
  );
}

// ---- main --------------------------------------------------------------------

const tools = ["kubectl", "strings", "ldd", "dpkg"].filter(
  (t) => run("sh", ["-c", `command -v ${t}`]).status !== 0,
);
if (tools.length) {
  console.log(`FAIL  tools: ${tools.join(", ")} not found`);
  console.log("deploy checks: 0 passed, 1 failed");
  process.exit(1);
}
let shutdown = { window: 0, extra: 0 };
await check(
  "sources: gateway drain window and close wait read from gateway/gateway.h and gateway/main.cc",
  () => {
    shutdown = gatewayShutdownSeconds();
    return [];
  },
);
await checkImages();
let devObjects;
for (const overlay of ["dev", "prod", "prod-cluster"]) {
  const objs = await checkOverlay(overlay, shutdown);
  if (overlay === "dev") devObjects = objs;
}
await selfTest(devObjects);
console.log(`deploy checks: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
