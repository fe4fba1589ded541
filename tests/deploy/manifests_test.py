#!/usr/bin/env python3
"""Checks that deploy/k8s and deploy/systemd parse and agree with the programs they start.

Every `--flag` a manifest or unit passes to pipeshard, pipeshard-coordinator or pipeshard-worker
(in a container's command/args, in an exec probe's shell line, in an ExecStart with its example
EnvironmentFile expanded) must be in that program's `--help`, and every flag its --help marks
REQUIRED must be passed. The Kubernetes objects must hang together: the kustomization lists the
files there are, the worker StatefulSet asks for one GPU, every pipeshard container has a
readiness probe, TLS files and API keys come from Secret volumes, ports, names and the stage count
agree across objects. The units must carry the restart policy and the hardening. Where they are
installed, `kubectl kustomize` builds the kustomization and `systemd-analyze verify` reads the
units (neither is needed).

    manifests_test.py [--bin build/bin] [--source .]

Exits 0 when all holds, 1 listing every problem, 77 (CTest's skip) without PyYAML.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
try:
    import yaml
except ImportError:
    print("SKIPPED: PyYAML is not installed (Debian: apt-get install python3-yaml); deploy/ not checked")
    sys.exit(SKIP)

PROGRAMS = ("pipeshard", "pipeshard-coordinator", "pipeshard-worker")
# Flags whose value is a file the program reads: in Kubernetes each must come from a volume of
# the kind named (Secrets for keys and certificates).
SECRET_FILE_FLAGS = ("--tls-ca", "--tls-cert", "--tls-key", "--api-key-file", "--ca")
WILDCARD_HOSTS = ("", "0.0.0.0", "[::]", "::")
# `pipeshard certs issue --san` takes names of at most this many characters.
MAX_CERTIFICATE_NAME = 64

problems = []
namespace = {"value": None}  # the kustomization's namespace, for the names pods get


def problem(where, message):
    problems.append(f"{where}: {message}")


# ---------------------------------------------------------------------------------------------
# The programs' flags, from their --help (CLI11: option lines start with "  -x,--name TYPE ...").

class ProgramHelp:
    def __init__(self, flags, required):
        self.flags = flags        # every spelling, e.g. {"-s", "--server", "--json"}
        self.required = required  # one tuple of spellings per REQUIRED option


_help_cache = {}


def program_help(bin_dir, program, subcommand=None):
    key = (program, subcommand)
    if key in _help_cache:
        return _help_cache[key]
    argv = [os.path.join(bin_dir, program)] + ([subcommand] if subcommand else []) + ["--help"]
    shown = " ".join([program] + argv[1:])
    if not os.access(argv[0], os.X_OK):
        problem(shown, f"{argv[0]} is missing or not executable (build the programs first)")
        _help_cache[key] = None
        return None
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        problem(shown, f"exited {run.returncode}: {(run.stderr or run.stdout).strip()[:200]}")
        _help_cache[key] = None
        return None
    flags, required = set(), []
    for line in run.stdout.splitlines():
        m = re.match(r"^ {1,6}(-[^\s]+)(.*)$", line)
        if not m:
            continue
        names = tuple(n for n in m.group(1).split(",") if n.startswith("-"))
        flags.update(names)
        if re.search(r"\bREQUIRED\b", m.group(2)):
            required.append(names)
    _help_cache[key] = ProgramHelp(flags, required)
    return _help_cache[key]


# ---------------------------------------------------------------------------------------------
# Command lines: which pipeshard programs a list of words runs, directly or through `sh -c`.

class Invocation:
    def __init__(self, program, subcommand, words):
        self.program = program        # basename, one of PROGRAMS
        self.subcommand = subcommand  # for pipeshard: status, generate, ...
        self.words = words            # the arguments after the program (and subcommand)

    def name(self):
        return self.program + (f" {self.subcommand}" if self.subcommand else "")

    def flags(self):
        """(flag, value or None) in order; --flag=value and --flag value both count."""
        out = []
        for i, word in enumerate(self.words):
            m = re.match(r"^(--?[A-Za-z][\w-]*)(?:=(.*))?$", word, re.S)
            if not m:
                continue
            value = m.group(2)
            if value is None and i + 1 < len(self.words) and not self.words[i + 1].startswith("-"):
                # For a flag that takes no value this is a positional argument; values are only
                # looked up for flags that take one.
                value = self.words[i + 1]
            out.append((m.group(1), value))
        return out

    def value(self, flag):
        for f, v in self.flags():
            if f == flag:
                return v
        return None


def _split_commands(script):
    """A shell line's simple commands as word lists (pipes, lists and redirections taken apart)."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, words, skip_next = [], [], False
    for token in lexer:
        if token and all(c in "();<>|&" for c in token):
            if "<" in token or ">" in token:
                skip_next = True  # the redirection's target is not an argument
                continue
            if words:
                commands.append(words)
            words = []
            continue
        if skip_next:
            skip_next = False
            continue
        words.append(token)
    if words:
        commands.append(words)
    return commands


def invocations(argv):
    if not argv:
        return []
    first = os.path.basename(argv[0])
    if first in ("sh", "bash", "dash") and "-c" in argv[1:]:
        script_index = argv.index("-c") + 1
        if script_index >= len(argv):
            return []
        found = []
        for words in _split_commands(argv[script_index]):
            found.extend(invocations(words))
        return found
    if first not in PROGRAMS:
        return []
    words = list(argv[1:])
    subcommand = None
    if first == "pipeshard" and words and not words[0].startswith("-"):
        subcommand = words.pop(0)
    return [Invocation(first, subcommand, words)]


def check_flags(where, inv, bin_dir):
    help_ = program_help(bin_dir, inv.program, inv.subcommand)
    if help_ is None:
        return
    used = {f for f, _ in inv.flags()}
    for flag in sorted(used):
        if flag not in help_.flags:
            problem(where, f"{inv.name()} has no flag {flag} (it is not in `{inv.name()} --help`)")
    for names in help_.required:
        if not used.intersection(names):
            problem(where, f"{inv.name()} needs {'/'.join(names)} (REQUIRED in its --help) and is not given it")


# ---------------------------------------------------------------------------------------------
# Kubernetes

def load_k8s(k8s_dir, source):
    """{relative file: [documents]} for every YAML file in deploy/k8s."""
    files = {}
    for name in sorted(os.listdir(k8s_dir)):
        if not name.endswith((".yaml", ".yml")):
            continue
        path = os.path.join(k8s_dir, name)
        rel = os.path.relpath(path, source)
        try:
            with open(path, encoding="utf-8") as f:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            problem(rel, f"does not parse as YAML: {e}")
            continue
        for d in docs:
            if not isinstance(d, dict) or not d.get("kind") or not d.get("apiVersion"):
                problem(rel, "a document without apiVersion and kind")
            elif d["kind"] != "Kustomization" and not (d.get("metadata") or {}).get("name"):
                problem(rel, f"a {d['kind']} without metadata.name")
        files[rel] = docs
    return files


def check_kustomization(k8s_dir, files, source):
    rel = os.path.relpath(os.path.join(k8s_dir, "kustomization.yaml"), source)
    docs = files.get(rel)
    if not docs:
        problem(rel, "missing: `kubectl apply -k` needs it")
        return
    k = docs[0]
    namespace["value"] = k.get("namespace")
    resources = k.get("resources") or []
    for r in resources:
        if not os.path.isfile(os.path.join(k8s_dir, r)):
            problem(rel, f"lists {r}, which does not exist")
    for f in files:
        base = os.path.basename(f)
        if base != "kustomization.yaml" and base not in resources:
            problem(rel, f"does not list {base}: `kubectl apply -k` would leave it out")
    # `kubectl kustomize` builds the whole set offline: a check of kustomize's own rules when
    # kubectl happens to be installed (it is not needed otherwise).
    kubectl = shutil.which("kubectl")
    if kubectl:
        try:
            run = subprocess.run([kubectl, "kustomize", k8s_dir], capture_output=True, text=True, timeout=120)
            if run.returncode != 0:
                problem(rel, f"`kubectl kustomize` fails: {run.stderr.strip()[:400]}")
        except subprocess.TimeoutExpired:
            print("note: `kubectl kustomize` took over 120 s; not checked")


class Workload:
    def __init__(self, where, doc):
        self.where = where  # "deploy/k8s/worker.yaml: StatefulSet/pipeshard-worker"
        self.doc = doc
        self.kind = doc["kind"]
        self.spec = doc.get("spec") or {}
        self.template = self.spec.get("template") or {}
        self.pod = self.template.get("spec") or {}
        self.labels = (self.template.get("metadata") or {}).get("labels") or {}
        self.volumes = {v.get("name"): v for v in self.pod.get("volumes") or []}
        self.containers = self.pod.get("containers") or []


def env_values(container, configmaps):
    """NAME -> what $(NAME) stands for: the literal value with earlier references expanded, or a
    {placeholder} naming where Kubernetes takes it from (a pod field, a ConfigMap key found in the
    manifests, a Secret)."""
    values = {}
    for e in container.get("env") or []:
        name = e.get("name")
        if "value" in e:
            values[name] = expand_k8s(str(e["value"]), values)
            continue
        src = e.get("valueFrom") or {}
        if "fieldRef" in src:
            values[name] = "{" + src["fieldRef"].get("fieldPath", "?") + "}"
        elif "configMapKeyRef" in src:
            ref = src["configMapKeyRef"]
            values[name] = configmaps.get((ref.get("name"), ref.get("key")), "{configmap " + str(ref.get("name")) + "}")
        elif "secretKeyRef" in src:
            values[name] = "{secret " + str(src["secretKeyRef"].get("name")) + "}"
        else:
            values[name] = "{" + name + "}"
    return values


def expand_k8s(text, values):
    """Kubernetes' $(VAR) expansion in command, args and env values."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: values.get(m.group(1), m.group(0)), text)


def expand_shell(text, values):
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: values.get(m.group(1), m.group(0)), text)


def check_env_references(where, container):
    """A $(VAR) naming no earlier env entry stays literal, silently: catch the typo here."""
    defined = set()
    if container.get("envFrom"):
        return  # names come from elsewhere too; nothing sure to say
    for e in container.get("env") or []:
        for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(e.get("value", ""))):
            if ref not in defined:
                problem(where, f"env {e.get('name')} uses $({ref}), which no env entry before it defines")
        defined.add(e.get("name"))
    for word in (container.get("command") or []) + (container.get("args") or []):
        for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(word)):
            if ref not in defined:
                problem(where, f"{word!r} uses $({ref}), which the container's env does not define")


def mount_for(path, container, workload):
    """(mount, volume) holding path, the deepest mountPath that is a prefix of it."""
    best = None
    for m in container.get("volumeMounts") or []:
        mp = m.get("mountPath", "").rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best[0].get("mountPath", "")):
                best = (m, workload.volumes.get(m.get("name")))
    return best


def is_secret_volume(volume):
    if not volume:
        return False
    if "secret" in volume:
        return True
    sources = (volume.get("projected") or {}).get("sources") or []
    return bool(sources) and all("secret" in s for s in sources)


def split_address(address):
    host, _, port = (address or "").rpartition(":")
    return host, port


def container_port(container, port):
    """A probe's or Service's port (a number or a container port's name) as a number string."""
    for p in container.get("ports") or []:
        if str(port) in (str(p.get("name")), str(p.get("containerPort"))):
            return str(p.get("containerPort"))
    return None


def check_k8s(k8s_dir, source, bin_dir):
    files = load_k8s(k8s_dir, source)
    check_kustomization(k8s_dir, files, source)

    objects = []  # (file, doc)
    for f, docs in files.items():
        objects.extend((f, d) for d in docs if isinstance(d, dict) and d.get("kind") != "Kustomization")
    kinds = {d.get("kind") for _, d in objects}
    for kind in ("Deployment", "StatefulSet", "Service"):
        if kind not in kinds:
            problem(os.path.relpath(k8s_dir, source), f"has no {kind}")
    configmaps = {}
    for _, d in objects:
        if d.get("kind") == "ConfigMap":
            for key, value in (d.get("data") or {}).items():
                configmaps[(d["metadata"]["name"], key)] = str(value)
    services = {d["metadata"]["name"]: (f, d) for f, d in objects if d.get("kind") == "Service"}

    coordinator = worker = None  # (workload, container, invocation, env)
    workloads = []
    for f, d in objects:
        if d.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            continue
        w = Workload(f"{f}: {d['kind']}/{d['metadata']['name']}", d)
        workloads.append(w)
        if not w.volumes or not any(is_secret_volume(v) for v in w.volumes.values()):
            problem(w.where, "has no Secret volume: its certificates and keys must come from Secrets")
        for c in w.containers:
            where = f"{w.where} container {c.get('name')}"
            check_env_references(where, c)
            env = env_values(c, configmaps)
            argv = [expand_k8s(str(x), env) for x in (c.get("command") or []) + (c.get("args") or [])]
            runs = invocations(argv)
            if not runs:
                continue
            if not c.get("readinessProbe"):
                problem(where, "has no readinessProbe")
            for inv in runs:
                check_flags(where, inv, bin_dir)
                check_files_from_volumes(where, inv, c, w)
                if inv.program == "pipeshard-coordinator":
                    coordinator = (w, c, inv, env)
                elif inv.program == "pipeshard-worker":
                    worker = (w, c, inv, env)
            for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
                probe = c.get(probe_name) or {}
                command = (probe.get("exec") or {}).get("command")
                if not command:
                    continue
                pwhere = f"{where} {probe_name}"
                if any("$(" in str(x) for x in command):
                    problem(pwhere, "uses $(VAR), which Kubernetes does not expand in probes (use sh -c and $VAR)")
                for inv in invocations([str(x) for x in command]):
                    check_flags(pwhere, inv, bin_dir)
                    inv.words = [expand_shell(x, env) for x in inv.words]
                    check_files_from_volumes(pwhere, inv, c, w)
                    check_probe_reaches(pwhere, inv, runs, env)
                script = " ".join(str(x) for x in command)
                for ref in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", script):
                    if ref not in env:
                        problem(pwhere, f"uses ${ref}, which the container's env does not define")

    if coordinator is None:
        problem(os.path.relpath(k8s_dir, source), "no container runs pipeshard-coordinator")
    elif coordinator[0].kind != "Deployment":
        problem(coordinator[0].where, "the coordinator should be a Deployment")
    if worker is None:
        problem(os.path.relpath(k8s_dir, source), "no container runs pipeshard-worker")
    elif worker[0].kind != "StatefulSet":
        problem(worker[0].where, "the workers should be a StatefulSet (stable names, one certificate each)")
    if coordinator:
        check_server(coordinator, "--listen")
    if worker:
        check_worker(worker, services)
    if coordinator and worker:
        check_pair(coordinator, worker)
    for name, (f, svc) in services.items():
        check_service(f"{f}: Service/{name}", svc, workloads)


def check_files_from_volumes(where, inv, container, workload):
    for flag, value in inv.flags():
        if not value:
            continue
        if flag in SECRET_FILE_FLAGS:
            found = mount_for(value, container, workload)
            if not found or not is_secret_volume(found[1]):
                problem(where, f"{flag} {value} is not in a mounted Secret volume")
        elif flag in ("--model", "-m") and inv.program != "pipeshard":
            found = mount_for(value, container, workload)
            if not found:
                problem(where, f"{flag} {value} is not in a mounted volume")
            elif not found[0].get("readOnly"):
                problem(where, f"{flag} {value}: the model's volume should be mounted readOnly")


def check_probe_reaches(where, inv, runs, env):
    """A probe's `pipeshard status --server` must be where the server listens (it binds that
    address only) and carry what the server demands: the CA with TLS, a key with API keys."""
    if inv.program != "pipeshard" or inv.subcommand != "status":
        return
    servers = [r for r in runs if r.program == "pipeshard-coordinator"]
    if not servers:
        return
    server = servers[0]
    if inv.value("--server") != server.value("--listen") and inv.value("-s") != server.value("--listen"):
        problem(where, f"asks --server {inv.value('--server')} but the coordinator listens on "
                       f"{server.value('--listen')}")
    host, _ = split_address(inv.value("--server") or inv.value("-s"))
    host = host.replace("{metadata.namespace}", namespace["value"] or "default")
    if server.value("--tls-ca") and len(host) > MAX_CERTIFICATE_NAME:
        problem(where, f"dials {host} ({len(host)} characters), which the coordinator's certificate must name, "
                       f"but `pipeshard certs issue --san` takes at most {MAX_CERTIFICATE_NAME}")
    if server.value("--tls-ca") and not inv.value("--ca"):
        problem(where, "the coordinator has TLS on: the probe needs --ca")
    if server.value("--api-key-file") and not inv.value("--api-key") and "PIPESHARD_API_KEY" not in env:
        problem(where, "the coordinator takes API keys: the probe needs --api-key or PIPESHARD_API_KEY in the env")


def check_server(entry, listen_flag):
    w, c, inv, _ = entry
    where = f"{w.where} container {c.get('name')}"
    host, port = split_address(inv.value(listen_flag))
    if host in WILDCARD_HOSTS:
        problem(where, f"{listen_flag} {inv.value(listen_flag)}: a wildcard host is advertised as 127.0.0.1, "
                       "which other pods cannot reach; listen on the pod's name")
    if "--insecure" in {f for f, _ in inv.flags()}:
        problem(where, "passes --insecure: the manifests run with TLS")
    if port and container_port(c, port) != port:
        problem(where, f"{listen_flag} port {port} is not one of the container's ports")
    for probe_name in ("readinessProbe", "livenessProbe"):
        tcp = ((c.get(probe_name) or {}).get("tcpSocket") or {})
        if tcp and container_port(c, tcp.get("port")) != port:
            problem(where, f"{probe_name} checks port {tcp.get('port')}, not the listen port {port}")


def check_worker(entry, services):
    w, c, inv, _ = entry
    where = f"{w.where} container {c.get('name')}"
    check_server(entry, "--listen")
    limits = ((c.get("resources") or {}).get("limits") or {})
    if str(limits.get("nvidia.com/gpu")) != "1":
        problem(where, f"resources.limits nvidia.com/gpu is {limits.get('nvidia.com/gpu')!r}, expected 1")
    if inv.value("--device") != "cuda:0":
        problem(where, f"--device {inv.value('--device')}: the device plugin shows the pod its one GPU as cuda:0")
    name = inv.value("--name")
    if name != "{metadata.name}":
        problem(where, f"--name is {name!r}: it should be the pod's name (its certificate is issued for it)")
    for flag in ("--tls-cert", "--tls-key"):
        value = inv.value(flag)
        if value and "{metadata.name}" not in value:
            problem(where, f"{flag} {value} does not depend on the pod's name: every worker would share one identity")
    service = w.spec.get("serviceName")
    if service not in services:
        problem(w.where, f"serviceName {service!r} is not a Service in the manifests")
    else:
        svc = services[service][1].get("spec") or {}
        if svc.get("clusterIP") != "None":
            problem(w.where, f"serviceName {service}: must be headless (clusterIP: None) to give pods their names")
        if not svc.get("publishNotReadyAddresses"):
            problem(w.where, f"serviceName {service}: needs publishNotReadyAddresses, the names are used "
                             "before anything is ready")
        host, _ = split_address(inv.value("--listen"))
        if not host.startswith(f"{{metadata.name}}.{service}."):
            problem(where, f"--listen host {host} is not the pod's name under {service}")


def check_pair(coordinator, worker):
    cw, _, cinv, _ = coordinator
    ww, wc, winv, _ = worker
    where = f"{ww.where} container {wc.get('name')}"
    if winv.value("--coordinator") != cinv.value("--listen"):
        problem(where, f"--coordinator {winv.value('--coordinator')} is not where the coordinator listens "
                       f"({cinv.value('--listen')})")
    host, _ = split_address(cinv.value("--listen"))
    hostname, subdomain = cw.pod.get("hostname"), cw.pod.get("subdomain")
    if not hostname or not subdomain or not host.startswith(f"{hostname}.{subdomain}."):
        problem(f"{cw.where}", f"--listen host {host} is not the pod's hostname.subdomain "
                               f"({hostname}.{subdomain}): it would not resolve to the pod")
    elif subdomain != ww.spec.get("serviceName"):
        problem(cw.where, f"subdomain {subdomain} differs from the workers' serviceName {ww.spec.get('serviceName')}")
    stages, replicas = cinv.value("--stages"), ww.spec.get("replicas", 1)
    try:
        if int(stages or 1) > int(replicas):
            problem(cw.where, f"--stages {stages} but {ww.where} has only {replicas} replicas: it would never serve")
    except ValueError:
        problem(cw.where, f"--stages {stages!r} is not a number")
    if winv.value("--model") and winv.value("--model") != cinv.value("--model"):
        problem(where, f"--model {winv.value('--model')} differs from the coordinator's {cinv.value('--model')}")


def check_service(where, svc, workloads):
    spec = svc.get("spec") or {}
    selector = spec.get("selector") or {}
    matched = [w for w in workloads if selector and all(w.labels.get(k) == v for k, v in selector.items())]
    if not matched:
        problem(where, f"selector {selector} matches no pod template")
        return
    for p in spec.get("ports") or []:
        target = p.get("targetPort", p.get("port"))
        if not any(container_port(c, target) for w in matched for c in w.containers):
            problem(where, f"port {p.get('name') or p.get('port')} targets {target}, "
                           "which no selected container exposes")


# ---------------------------------------------------------------------------------------------
# systemd

def parse_unit(path):
    """[(section, key, value)] with continuation lines joined."""
    entries, section, pending = [], None, ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if pending:
                line = pending + " " + line.strip()
                pending = ""
            if not line.strip() or line.lstrip().startswith(("#", ";")):
                continue
            if line.endswith("\\"):
                pending = line[:-1].rstrip()
                continue
            if line.startswith("["):
                section = line.strip("[] ")
                continue
            key, sep, value = line.partition("=")
            if not sep:
                problem(path, f"line {line!r} is neither [Section] nor KEY=VALUE")
                continue
            entries.append((section, key.strip(), value.strip()))
    return entries


def parse_env_file(path):
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
    return values


def expand_exec(command, env):
    """systemd's ExecStart: ${VAR} is one word, a lone $VAR splits into words (or none)."""
    words = []
    for w in shlex.split(command):
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", w)
        if m:
            words.extend(env.get(m.group(1), "").split())
        else:
            words.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), m.group(0)), w))
    return words


def check_systemd(unit_dir, source, bin_dir):
    units = {
        "pipeshard-coordinator.service": "pipeshard-coordinator",
        "pipeshard-worker@.service": "pipeshard-worker",
    }
    for unit, program in units.items():
        path = os.path.join(unit_dir, unit)
        rel = os.path.relpath(path, source)
        if not os.path.isfile(path):
            problem(rel, "missing")
            continue
        entries = parse_unit(path)
        service = {}
        for section, key, value in entries:
            if section == "Service":
                service.setdefault(key, []).append(value)
        env = {}
        for env_file in service.get("EnvironmentFile", []):
            optional = env_file.startswith("-")
            target = env_file.lstrip("-")
            # The example next to the unit stands for the file it installs as (%i: NAME).
            example = os.path.join(unit_dir, os.path.basename(target).replace("%i", "NAME"))
            if os.path.isfile(example):
                env.update(parse_env_file(example))
            elif not optional:
                problem(rel, f"EnvironmentFile {target} has no example "
                             f"{os.path.relpath(example, source)} beside the unit")
        for line in service.get("Environment", []):
            for assignment in shlex.split(line):
                key, _, value = assignment.partition("=")
                env[key] = value
        execs = service.get("ExecStart", [])
        if len(execs) != 1:
            problem(rel, f"has {len(execs)} ExecStart lines, expected 1")
            continue
        for ref in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", execs[0]):
            if ref not in env:
                problem(rel, f"ExecStart uses ${ref}, which its EnvironmentFile examples do not set")
        words = expand_exec(execs[0], env)
        if not words or words[0] != f"/usr/local/bin/{program}":
            problem(rel, f"ExecStart runs {words[:1]}, expected /usr/local/bin/{program} "
                         "(where deploy/systemd/README.md installs it)")
        words[0] = os.path.basename(words[0]) if words else ""
        runs = invocations(words)
        if not runs:
            problem(rel, f"ExecStart does not run {program}")
        credentials = {v.split(":", 1)[0] for v in service.get("LoadCredential", [])}
        for inv in runs:
            check_flags(rel, inv, bin_dir)
            if "--insecure" in {f for f, _ in inv.flags()}:
                problem(rel, "passes --insecure: the units run with TLS")
            for flag, value in inv.flags():
                if value and value.startswith("%d/") and value[3:] not in credentials:
                    problem(rel, f"{flag} {value}: no LoadCredential={value[3:]}:...")
        expect = {
            "Restart": ["on-failure"],
            "NoNewPrivileges": ["yes"],
            "ProtectSystem": ["strict"],
            "ProtectHome": ["yes", "read-only", "tmpfs"],
            "PrivateTmp": ["yes"],
        }
        for key, allowed in expect.items():
            if not any(v in allowed for v in service.get(key, [])):
                problem(rel, f"needs {key}={allowed[0]}")
        if "yes" not in service.get("DynamicUser", []) and not service.get("User"):
            problem(rel, "needs DynamicUser=yes or User=: it must not run as root")
        model = env.get("PIPESHARD_MODEL", "")
        read_only = [p.lstrip("-") for v in service.get("ReadOnlyPaths", []) for p in v.split()]
        if not any(model == p or model.startswith(p.rstrip("/") + "/") for p in read_only):
            problem(rel, f"the model {model or '(PIPESHARD_MODEL unset)'} is under no ReadOnlyPaths")
        if program == "pipeshard-worker":
            if not any("nvidia" in v for v in service.get("DeviceAllow", [])):
                problem(rel, "needs DeviceAllow for the NVIDIA devices")
            if "closed" not in service.get("DevicePolicy", []) and "strict" not in service.get("DevicePolicy", []):
                problem(rel, "needs DevicePolicy=closed, so that the devices DeviceAllow lists are the only ones")
    verify_units(unit_dir, units, source, bin_dir)


def verify_units(unit_dir, units, source, bin_dir):
    """systemd's own parser, where there is one: it knows every directive and its syntax. The
    units are copied with ExecStart pointing into the build (verify wants the program there)."""
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("note: systemd-analyze not found; the units' directives were not checked by systemd")
        return
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for unit in units:
            src = os.path.join(unit_dir, unit)
            if not os.path.isfile(src):
                continue
            with open(src, encoding="utf-8") as f:
                text = f.read().replace("/usr/local/bin/", os.path.abspath(bin_dir) + "/")
            name = unit.replace("@.", "@check.")  # a template is verified through an instance
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                f.write(text)
            paths.append(os.path.join(tmp, name))
        try:
            run = subprocess.run([analyze, "verify", "--man=no"] + paths, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            print("note: systemd-analyze verify took over 120 s; not checked")
            return
        # Only lines about our units count; the rest is the host (no systemd running, ...).
        for line in (run.stdout + run.stderr).splitlines():
            for unit in units:
                shown = unit.replace("@.", "@check.")
                if shown in line:
                    problem(os.path.relpath(os.path.join(unit_dir, unit), source),
                            "systemd-analyze verify: " + line.replace(tmp + "/", ""))


# ---------------------------------------------------------------------------------------------

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=os.environ.get("PIPESHARD_SOURCE", os.path.join(here, "..", "..")))
    parser.add_argument("--bin", default=os.environ.get("PIPESHARD_BIN"))
    args = parser.parse_args()
    source = os.path.abspath(args.source)
    bin_dir = os.path.abspath(args.bin or os.path.join(source, "build", "bin"))
    check_k8s(os.path.join(source, "deploy", "k8s"), source, bin_dir)
    check_systemd(os.path.join(source, "deploy", "systemd"), source, bin_dir)
    if problems:
        print(f"FAIL: {len(problems)} problem(s) in deploy/ (programs from {bin_dir}):")
        for p in problems:
            print("  " + p)
        return 1
    print(f"ok: deploy/k8s and deploy/systemd agree with the programs in {bin_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
