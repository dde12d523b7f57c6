"""Offline checks of the deployment files (run by scripts/validate-deploy.sh).

- docker-compose.yml: interpolated the way `docker compose` does it, with the
  variables of .env.example (what a user who copied it gets), then checked
  against the Compose Specification's JSON schema (vendored in
  check-jsonschema) and for what the schema cannot say: services that
  `depends_on` names exist, have a healthcheck when waited for healthy, and
  are optional (`required: false`) when only a profile the dependent lacks
  starts them; named volumes are declared, bind-mounted files and build
  contexts exist, no host port is published twice.
- deploy/k8s/*.yaml: every document against the Kubernetes API's schemas
  (kubernetes-validate, strict: unknown fields are errors) for the oldest and
  the newest version we support, then cross-references: selectors match pod
  labels, Services' target ports exist, HPAs and PDBs point at Deployments,
  ConfigMaps and Secrets referred to exist, every long-running container has
  probes and resource requests and limits. The kustomizations list files
  that exist, and every manifest is listed.
- .env.example documents every variable of the contract's settings.
- Everywhere: the Redis settings and compose's Redis Cluster profile
  (redis_settings.py says what exactly).

With --expect-failure FILE… it checks that each broken fixture is rejected
with the message its first line announces (`# expect: <text>`), so that a
validator accepting everything cannot pass unnoticed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

# The Redis checks live next to this file; importing them must not leave a
# __pycache__ in the repository.
sys.dont_write_bytecode = True
import redis_settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
K8S_DIR = ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = [K8S_DIR / "kustomization.yaml", ROOT / "deploy" / "gateway" / "kustomization.yaml"]
# The oldest Kubernetes we claim (CronJob time zones, autoscaling/v2 and
# policy/v1 are all GA there) and the newest the schemas cover.
K8S_VERSIONS = ["1.29.0", kubernetes_validate.utils.latest_version()]
CONTRACT_VARIABLES = [
    "DATABASE_URL",
    "DATABASE_READ_URL",
    "REDIS_URL",
    "WEBHOOK_SECRET_KEY",
    "CLICKS_QUEUE_NAME",
    "CLICKS_BATCH_SIZE",
    "FINANCE_SERVICE_URL",
    "FINANCE_SERVICE_TIMEOUT",
    "REPORTING_API_KEYS",
    "INGEST_BIND",
    "REPORTING_BIND",
    "WORKER_BIND",
]
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}


class Invalid(Exception):
    """A deployment file is wrong; the message says where and why."""


# ----------------------------------------------------------------- compose

INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def dotenv(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        values[name.removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def interpolate(value, env: dict[str, str], where: str):
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
    ${VAR?error}, ${VAR:+alt}, ${VAR+alt} and $$, applied to every string."""
    if isinstance(value, dict):
        return {key: interpolate(item, env, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env, f"{where}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        present = name in env
        non_empty = present and env[name] != ""
        if op in (":-", "-"):
            return env[name] if (non_empty if op == ":-" else present) else arg
        if op in (":?", "?"):
            if non_empty if op == ":?" else present:
                return env[name]
            raise Invalid(f"{where}: required variable {name} is unset ({arg})")
        if op in (":+", "+"):
            return arg if (non_empty if op == ":+" else present) else ""
        return env.get(name, "")

    return INTERPOLATION.sub(replace, value)


def compose_schema() -> dict:
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(vendored.read_text())


def check_compose(path: Path, env: dict[str, str]) -> str:
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise Invalid(f"{path.name}: not a mapping")
    doc = interpolate(raw, env, path.name)
    validator = jsonschema.Draft202012Validator(compose_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        raise Invalid(
            "\n".join(
                f"{path.name}: {'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in errors[:10]
            )
        )
    services = doc.get("services") or {}
    volumes = set((doc.get("volumes") or {}).keys())
    published: dict[str, str] = {}
    for name, service in services.items():
        where = f"{path.name}: services.{name}"
        depends = service.get("depends_on") or {}
        for target in depends if isinstance(depends, (list, dict)) else []:
            if target not in services:
                raise Invalid(f"{where}.depends_on: no service {target!r}")
            wait = depends[target] if isinstance(depends, dict) else {}
            healthcheck = services[target].get("healthcheck") or {}
            # An image built here may bring its own HEALTHCHECK; a pulled one is not looked into.
            if wait.get("condition") == "service_healthy" and "build" not in services[target]:
                if not healthcheck or healthcheck.get("disable"):
                    raise Invalid(f"{where}.depends_on: {target} has no healthcheck to wait for")
            # Without the target's profile compose refuses to start a required dependency.
            gated = set(services[target].get("profiles") or [])
            own = set(service.get("profiles") or [])
            if gated and (not own or own - gated) and wait.get("required", True):
                raise Invalid(
                    f"{where}.depends_on: {target} starts only with profile {', '.join(sorted(gated))}; "
                    "without required: false the stack without it does not start"
                )
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source", "")
            if source.startswith((".", "/")):
                if not (path.parent / source).exists():
                    raise Invalid(f"{where}.volumes: {source} does not exist")
            elif source and source not in volumes:
                raise Invalid(f"{where}.volumes: volume {source!r} is not declared")
        build = service.get("build")
        if isinstance(build, dict):
            context = path.parent / build.get("context", ".")
            if not (context / build.get("dockerfile", "Dockerfile")).is_file():
                raise Invalid(f"{where}.build: no {build.get('dockerfile', 'Dockerfile')} in {context}")
        for port in service.get("ports") or []:
            text = str(port) if not isinstance(port, dict) else str(port.get("published", ""))
            host = text.rsplit(":", 1)[0] if ":" in text else ""
            if host:
                if host in published:
                    raise Invalid(f"{where}.ports: {host} is published by {published[host]} too")
                published[host] = name
    redis_settings.check_compose(path.name, path.read_text(), services)
    return f"{len(services)} services"


# -------------------------------------------------------------- kubernetes


def load_documents(path: Path) -> list[dict]:
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    for doc in documents:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise Invalid(f"{path.name}: a document without kind and apiVersion")
    return documents


def check_schema(path: Path, doc: dict) -> None:
    name = f"{doc['kind']}/{doc.get('metadata', {}).get('name', '?')}"
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(p) for p in error.path) or "(top)"
            raise Invalid(f"{path.name}: {name} (Kubernetes {version}): {where}: {error.message}") from None
        except kubernetes_validate.utils.SchemaNotFoundError:
            raise Invalid(f"{path.name}: {name}: no schema for {doc['apiVersion']} {doc['kind']}") from None


def pod_spec(doc: dict) -> dict | None:
    spec = doc.get("spec", {})
    if doc["kind"] in WORKLOAD_KINDS or doc["kind"] == "Job":
        return spec.get("template", {}).get("spec")
    if doc["kind"] == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    return None


def matches(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_references(documents: list[tuple[Path, dict]], generated: dict[str, set[str]]) -> None:
    by_kind: dict[str, dict[str, tuple[Path, dict]]] = {}
    for path, doc in documents:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = (path, doc)
    config_maps = set(by_kind.get("ConfigMap", {})) | set(generated)
    secrets = by_kind.get("Secret", {})
    workloads = by_kind.get("Deployment", {})

    for path, doc in documents:
        name = f"{path.name}: {doc['kind']}/{doc['metadata']['name']}"
        spec = pod_spec(doc)
        if doc["kind"] in WORKLOAD_KINDS:
            selector = doc["spec"]["selector"].get("matchLabels", {})
            labels = doc["spec"]["template"].get("metadata", {}).get("labels", {})
            if not matches(selector, labels):
                raise Invalid(f"{name}: selector {selector} does not match the pod labels {labels}")
        if spec is None:
            continue
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            where = f"{name}: container {container['name']}"
            resources_ = container.get("resources", {})
            for need in ("requests.cpu", "requests.memory", "limits.memory"):
                part, key = need.split(".")
                if key not in resources_.get(part, {}):
                    raise Invalid(f"{where}: no resources.{need}")
            if doc["kind"] in WORKLOAD_KINDS:
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in container:
                        raise Invalid(f"{where}: no {probe}")
                    port = container[probe].get("httpGet", {}).get("port")
                    ports = {p.get("name") for p in container.get("ports", [])} | {
                        p["containerPort"] for p in container.get("ports", [])
                    }
                    if port is not None and port not in ports:
                        raise Invalid(f"{where}: {probe} port {port!r} is not a container port")
            refs = [
                ("ConfigMap", e["configMapRef"]["name"], False) for e in container.get("envFrom", []) if "configMapRef" in e
            ] + [("Secret", e["secretRef"]["name"], False) for e in container.get("envFrom", []) if "secretRef" in e]
            for env in container.get("env", []):
                source = env.get("valueFrom", {})
                if "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    refs.append(("Secret", ref["name"], ref.get("optional", False)))
                    secret = secrets.get(ref["name"])
                    if secret and not ref.get("optional", False):
                        keys = set(secret[1].get("stringData", {})) | set(secret[1].get("data", {}))
                        if ref["key"] not in keys:
                            raise Invalid(f"{where}: Secret {ref['name']} has no key {ref['key']}")
                if "configMapKeyRef" in source:
                    refs.append(("ConfigMap", source["configMapKeyRef"]["name"], False))
            for kind, ref, optional in refs:
                known = config_maps if kind == "ConfigMap" else set(secrets)
                if ref not in known and not optional:
                    raise Invalid(f"{where}: {kind} {ref!r} is not defined")
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                ref = volume["configMap"]["name"]
                if ref not in config_maps:
                    raise Invalid(f"{name}: volume {volume['name']}: ConfigMap {ref!r} is not defined")
                keys = generated.get(ref)
                for item in volume["configMap"].get("items", []):
                    if keys is not None and item["key"] not in keys:
                        raise Invalid(f"{name}: volume {volume['name']}: ConfigMap {ref} has no key {item['key']}")

    for path, doc in documents:
        name = f"{path.name}: {doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "Service":
            selector = doc["spec"].get("selector", {})
            targets = [
                d for _, d in workloads.values() if matches(selector, d["spec"]["template"]["metadata"]["labels"])
            ]
            if not targets:
                raise Invalid(f"{name}: selector {selector} matches no Deployment")
            for port in doc["spec"]["ports"]:
                target = port.get("targetPort", port["port"])
                offered = {
                    p.get(field)
                    for d in targets
                    for c in d["spec"]["template"]["spec"]["containers"]
                    for p in c.get("ports", [])
                    for field in ("name", "containerPort")
                }
                if target not in offered:
                    raise Invalid(f"{name}: targetPort {target!r} is no port of the selected pods")
        if doc["kind"] == "HorizontalPodAutoscaler":
            ref = doc["spec"]["scaleTargetRef"]
            if ref["kind"] != "Deployment" or ref["name"] not in workloads:
                raise Invalid(f"{name}: scaleTargetRef {ref['kind']}/{ref['name']} is not defined")
        if doc["kind"] == "PodDisruptionBudget":
            selector = doc["spec"]["selector"].get("matchLabels", {})
            if not any(matches(selector, d["spec"]["template"]["metadata"]["labels"]) for _, d in workloads.values()):
                raise Invalid(f"{name}: selector {selector} matches no Deployment")


def check_kustomization(path: Path) -> tuple[set[Path], dict[str, set[str]]]:
    """The files it lists (which must exist) and the ConfigMaps it generates with their keys."""
    doc = yaml.safe_load(path.read_text())
    if doc.get("kind") != "Kustomization":
        raise Invalid(f"{path}: not a Kustomization")
    listed = set()
    for entry in doc.get("resources", []):
        target = (path.parent / entry).resolve()
        if target.is_dir():
            if not (target / "kustomization.yaml").is_file():
                raise Invalid(f"{path.name}: resource {entry} is a directory without kustomization.yaml")
        elif not target.is_file():
            raise Invalid(f"{path.name}: resource {entry} does not exist")
        listed.add(target)
    generated = {}
    for generator in doc.get("configMapGenerator", []):
        keys = set()
        for entry in generator.get("files", []):
            key, _, file = entry.rpartition("=")
            if not (path.parent / file).is_file():
                raise Invalid(f"{path.name}: configMapGenerator {generator['name']}: {file} does not exist")
            keys.add(key or Path(file).name)
        generated[generator["name"]] = keys
    return listed, generated


def check_k8s(files: list[Path], kustomizations: list[Path]) -> int:
    listed: set[Path] = set()
    generated: dict[str, set[str]] = {}
    for kustomization in kustomizations:
        files_, generated_ = check_kustomization(kustomization)
        listed |= files_
        generated |= generated_
    documents = []
    for path in files:
        if kustomizations and path.resolve() not in listed:
            raise Invalid(f"{path.name}: not listed in {kustomizations[0].name}")
        for doc in load_documents(path):
            check_schema(path, doc)
            documents.append((path, doc))
    check_references(documents, generated)
    containers = []
    for path, doc in documents:
        spec = pod_spec(doc) or {}
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            containers.append((f"{path.name}: {doc['kind']}/{doc['metadata']['name']}", container))
    redis_settings.check_k8s(
        [(path.name, doc) for path, doc in documents], containers, [(path.name, path.read_text()) for path in files]
    )
    return len(documents)


# ---------------------------------------------------------------------- env


def check_env_example(path: Path) -> None:
    text = path.read_text()
    for name in CONTRACT_VARIABLES:
        if not re.search(rf"^#?\s*{name}=", text, re.MULTILINE):
            raise Invalid(f"{path.name}: contract variable {name} is not documented")
    redis_settings.check_env_file(path.name, text, dotenv(path))


# --------------------------------------------------------------------- main


OBSERVABILITY = Path(__file__).resolve().parent.parent / "observability"


def check_prometheus_rule(rule_path: Path, alerts_path: Path) -> int:
    """The PrometheusRule carries exactly the groups of the plain rules file."""
    (doc,) = load_documents(rule_path)
    if doc.get("kind") != "PrometheusRule" or doc.get("apiVersion") != "monitoring.coreos.com/v1":
        raise Invalid(f"{rule_path.name}: not a monitoring.coreos.com/v1 PrometheusRule")
    groups = yaml.safe_load(alerts_path.read_text())["groups"]
    if doc.get("spec", {}).get("groups") != groups:
        raise Invalid(f"{rule_path.name}: its groups differ from {alerts_path.name}")
    known = registered_metrics()
    for group in groups:
        for rule in group["rules"]:
            # Alerts may also read kube-state-metrics; the service's own names must exist.
            service_metrics(rule["expr"], known, f"{alerts_path.name}: {rule.get('alert')}")
    return sum(len(group["rules"]) for group in groups)


REPO = Path(__file__).resolve().parent.parent.parent
# What a metric's name ends with; an identifier in a panel's query that ends
# so must be a metric some binary registers.
METRIC_SUFFIXES = ("_total", "_seconds", "_bytes", "_entries", "_lag", "_pending")
HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")


def registered_metrics() -> set[str]:
    """The metric names the Rust code declares (`pub const …: &str = "…";`)."""
    names = set()
    for source in (REPO / "crates").glob("*/src/**/*.rs"):
        for name in re.findall(r'pub const [A-Z0-9_]+: &str = "([a-z][a-z0-9_]*)";', source.read_text()):
            if name.endswith(METRIC_SUFFIXES):
                names.add(name)
    return names


def check_dashboard(path: Path, known: set[str]) -> tuple[int, list[str]]:
    """Every panel queries Prometheus with metrics the binaries register;
    returns the panel count and the queries (for promtool to parse)."""
    try:
        dashboard = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise Invalid(f"{path.name}: not JSON: {error}") from None
    panels = dashboard.get("panels")
    if not isinstance(panels, list) or not panels:
        raise Invalid(f"{path.name}: no panels")
    queries = []
    for panel in panels:
        title = panel.get("title", "?")
        targets = panel.get("targets") or []
        if not targets:
            raise Invalid(f"{path.name}: panel {title!r} has no query")
        for target in targets:
            expr = target.get("expr", "")
            if not service_metrics(expr, known, f"{path.name}: panel {title!r}"):
                raise Invalid(f"{path.name}: panel {title!r} queries no metric of the service: {expr}")
            queries.append(expr.replace("$__rate_interval", "5m"))
    return len(panels), queries


def service_metrics(expr: str, known: set[str], where: str) -> set[str]:
    """The service's metrics a PromQL expression names; an unknown name that
    looks like one of them (`…_total`, `…_seconds`, …) is an error."""
    used = set()
    for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        base = word
        for suffix in HISTOGRAM_SERIES:
            if base.endswith(suffix) and base.removesuffix(suffix) in known:
                base = base.removesuffix(suffix)
        if base.endswith(METRIC_SUFFIXES):
            if base not in known:
                raise Invalid(f"{where} queries {word}, which no binary exports")
            used.add(base)
    return used


def scraped_metrics(scrapes: list[Path]) -> set[str]:
    """The metric names in `/metrics` scrapes (Prometheus text format)."""
    names = set()
    for scrape in scrapes:
        for line in scrape.read_text().splitlines():
            if line.startswith("# TYPE "):
                names.add(line.split()[2])
            elif line and not line.startswith("#"):
                names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def check_live(scrapes: list[Path]) -> int:
    """Every metric the dashboard and the alert rules name is in what the
    running binaries export (their scrapes together); returns how many."""
    live = scraped_metrics(scrapes)
    if not live:
        raise Invalid("the scrapes hold no metric")
    named = set()
    _, queries = check_dashboard(OBSERVABILITY / "grafana-dashboard.json", registered_metrics())
    groups = yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text())["groups"]
    queries += [rule["expr"] for group in groups for rule in group["rules"]]
    for query in queries:
        named |= service_metrics(query, registered_metrics(), "a query")
    missing = sorted(name for name in named if name not in live)
    if missing:
        raise Invalid(f"named by the dashboard or the alerts but exported by no binary: {', '.join(missing)}")
    return len(named)


def validate(path: Path) -> str:
    """Validates one file the way its kind calls for; returns a summary."""
    if path.name.startswith("docker-compose") or path.name.startswith("compose"):
        return check_compose(path, dotenv(ENV_EXAMPLE))
    if path.suffix == ".env" or path.name.startswith(".env"):
        check_env_example(path)
        return "every contract variable"
    if path.name.startswith("grafana-dashboard"):
        return f"{check_dashboard(path, registered_metrics())[0]} panels"
    if path.name.startswith("prometheus-rule"):
        return f"{check_prometheus_rule(path, OBSERVABILITY / 'alerts.yml')} rules"
    return f"{check_k8s([path], [])} documents"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect-failure", nargs="+", type=Path, metavar="FIXTURE")
    parser.add_argument(
        "--live-metrics", nargs="+", type=Path, metavar="SCRAPE",
        help="check the dashboard's and the alerts' metrics against these /metrics scrapes",
    )
    args = parser.parse_args()

    if args.live_metrics:
        try:
            count = check_live(args.live_metrics)
        except Invalid as error:
            print(f"FAIL {error}")
            return 1
        print(f"ok   the {count} metrics the dashboard and the alerts name are in the live scrapes")
        return 0
    if args.expect_failure:
        for fixture in args.expect_failure:
            if fixture.suffix == ".json":
                # JSON has no comments: the expectation is its "_expect" key.
                expected = json.loads(fixture.read_text())["_expect"]
            else:
                expected = fixture.read_text().splitlines()[0].removeprefix("# expect:").strip()
            try:
                validate(fixture)
            except (Invalid, redis_settings.SettingError) as error:
                if expected not in str(error):
                    print(f"FAIL {fixture.name}: rejected, but not for {expected!r}: {error}")
                    return 1
                print(f"ok   {fixture.name}: rejected ({expected})")
                continue
            print(f"FAIL {fixture.name}: accepted, expected a rejection for {expected!r}")
            return 1
        return 0

    manifests = sorted(p for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")
    try:
        print(f"ok   {COMPOSE_FILE.name}: {check_compose(COMPOSE_FILE, dotenv(ENV_EXAMPLE))}")
        check_env_example(ENV_EXAMPLE)
        print(f"ok   {ENV_EXAMPLE.name}: every contract variable, the Redis settings")
        count = check_k8s(manifests, KUSTOMIZATIONS)
        print(
            f"ok   deploy/k8s: {len(manifests)} files, {count} documents "
            f"(Kubernetes {' and '.join(map(kubernetes_validate.utils.major_minor, K8S_VERSIONS))}, strict)"
        )
        count = check_prometheus_rule(OBSERVABILITY / "prometheus-rule.yaml", OBSERVABILITY / "alerts.yml")
        print(f"ok   deploy/observability/prometheus-rule.yaml: the {count} rules of alerts.yml")
        known = registered_metrics()
        panels, queries = check_dashboard(OBSERVABILITY / "grafana-dashboard.json", known)
        queries_file = os.environ.get("DASHBOARD_QUERIES")
        if queries_file:
            # scripts/validate-deploy.sh has promtool parse them as recording rules.
            rules = [{"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)]
            Path(queries_file).write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        print(f"ok   deploy/observability/grafana-dashboard.json: {panels} panels, {len(queries)} queries of {len(known)} known metrics")
        rendered = os.environ.get("KUSTOMIZE_OUTPUT")
        if rendered:
            path = Path(rendered)
            docs = load_documents(path)
            for doc in docs:
                check_schema(path, doc)
            print(f"ok   kustomize build deploy/k8s: {len(docs)} documents")
    except (Invalid, redis_settings.SettingError) as error:
        print(f"FAIL {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
