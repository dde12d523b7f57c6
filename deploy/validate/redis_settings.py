"""The Redis settings of the deployment files (checks of validate_deploy.py).

- Every `…REDIS_URL` value (REDIS_URL, compose's CONTAINER_REDIS_URL,
  TEST_REDIS_URL), set or shown in a comment as `NAME=url` / `NAME: url`,
  is one of the four forms the programs accept (crates/clickstream
  `settings.rs`): redis://, rediss://, redis+cluster://, rediss+cluster://,
  with host[:port] nodes (several only for a cluster), a database number only
  for one node, and the password never printed.
- CLICKS_STREAM_SHARDS is a whole number from 1 to 1024 and the same for
  ingest and the worker wherever both run (unset counts as the default, 1);
  REDIS_MIN_REPLICAS_ACK is a whole number ≥ 0; REDIS_REPLICA_ACK_TIMEOUT_MS
  ≥ 1 (Redis' WAIT with 0 waits without limit).
- Compose's Redis Cluster: its nodes (`--cluster-enabled yes`) are only in
  profile `cluster`, enough of them for three masters with the replicas
  redis-cli is asked for, each with AOF, a node timeout and, if it announces
  a host name, its own service name; one one-shot service runs
  `redis-cli --cluster create` after every node is healthy; the cluster URLs
  the file documents name its nodes, and REDIS_MIN_REPLICAS_ACK asks for no
  more replicas than a master has.
"""

from __future__ import annotations

import base64
import re
import shlex
from dataclasses import dataclass
from typing import Iterable, Mapping

SCHEMES = {"redis": False, "rediss": False, "redis+cluster": True, "rediss+cluster": True}
DEFAULT_PORT = 6379
SHARDS = "CLICKS_STREAM_SHARDS"
MIN_REPLICAS = "REDIS_MIN_REPLICAS_ACK"
ACK_TIMEOUT = "REDIS_REPLICA_ACK_TIMEOUT_MS"
# The programs that must agree on CLICKS_STREAM_SHARDS (the first word of a
# container's command picks the program).
SHARD_READERS = ("ingest", "worker")
CLUSTER_PROFILE = "cluster"
# `redis-cli --cluster create` wants at least three masters.
MASTERS = 3

NODE = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(?P<port>[0-9]+))?")
DOCUMENTED_URL = re.compile(
    r"\b(?P<name>(?:[A-Z][A-Z0-9_]*_)?REDIS_URL)\s*[=:]\s*[`'\"]?(?P<value>[A-Za-z][A-Za-z0-9+.-]*://[^\s`'\"]+)"
)
DOCUMENTED_NUMBER = re.compile(rf"\b(?P<name>{SHARDS}|{MIN_REPLICAS}|{ACK_TIMEOUT})=(?P<value>[^\s`'\"]+)")


class SettingError(Exception):
    """A Redis setting is wrong; the message says where and why."""


@dataclass(frozen=True)
class RedisUrl:
    cluster: bool
    nodes: tuple[tuple[str, int], ...]


def redact(url: str) -> str:
    """The URL with its password masked, as the programs log it."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    if not sep or not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user + ':***' if colon else '***'}@{hosts}"


def parse_url(url: str) -> RedisUrl:
    """Parses like clickstream's `parse_topology`; raises SettingError with the reason."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise SettingError("is not a URL (expected redis://host:port or redis+cluster://host:port,…)")
    if scheme not in SCHEMES:
        raise SettingError(f"has the scheme {scheme!r}; expected redis, rediss, redis+cluster or rediss+cluster")
    cluster = SCHEMES[scheme]
    hosts_and_path = rest.rpartition("@")[2]
    end = min([i for i in (hosts_and_path.find("/"), hosts_and_path.find("?")) if i >= 0] or [len(hosts_and_path)])
    hosts, path = hosts_and_path[:end], hosts_and_path[end:]
    names = [node.strip() for node in hosts.split(",")]
    if not all(names):
        raise SettingError("names no host (or an empty one in its list)")
    if not cluster and len(names) > 1:
        raise SettingError("lists several hosts; a cluster URL starts with redis+cluster:// (or rediss+cluster://)")
    nodes = []
    for name in names:
        match = NODE.fullmatch(name)
        if not match:
            raise SettingError(f"names {name!r}, not host:port")
        port = int(match["port"] or DEFAULT_PORT)
        if not 1 <= port <= 65535:
            raise SettingError(f"names port {port}")
        nodes.append((match["host"], port))
    database = path.partition("?")[0].strip("/")
    if database and not database.isdigit():
        raise SettingError(f"has the path /{database}; only a database number may follow the host")
    if cluster and database and int(database) != 0:
        raise SettingError(f"selects database {database}; Redis Cluster has only database 0")
    return RedisUrl(cluster, tuple(nodes))


def check_url(where: str, name: str, url: str) -> RedisUrl:
    try:
        return parse_url(url)
    except SettingError as error:
        raise SettingError(f"{where}: {name} {redact(url)} {error}") from None


def check_whole(where: str, name: str, value: str, low: int, high: int | None = None, why: str = "") -> int:
    if not re.fullmatch(r"[0-9]+", value) or int(value) < low or (high is not None and int(value) > high):
        bound = f"from {low} to {high}" if high is not None else f"≥ {low}"
        raise SettingError(f"{where}: {name} is {value!r}, not a whole number {bound}{why}")
    return int(value)


def check_settings(where: str, settings: Mapping[str, object]) -> None:
    """The Redis settings among `settings` (name → value; None: unset)."""
    for name, value in settings.items():
        if value is None:
            continue
        text = str(value)
        if name.endswith("REDIS_URL"):
            check_url(where, name, text)
        elif name == SHARDS:
            check_whole(where, name, text, 1, 1024)
        elif name == MIN_REPLICAS:
            check_whole(where, name, text, 0)
        elif name == ACK_TIMEOUT:
            check_whole(where, name, text, 1, why=" (0 would let WAIT wait without limit)")


def documented(text: str) -> Iterable[tuple[int, str, str]]:
    """(line, name, value) of every Redis setting shown in a comment line of `text`."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.lstrip().startswith("#"):
            continue
        for match in DOCUMENTED_URL.finditer(line):
            yield number, match["name"], match["value"].rstrip(".,;:)")
        for match in DOCUMENTED_NUMBER.finditer(line):
            yield number, match["name"], match["value"].rstrip(".,;:)")


def check_documented(name: str, text: str) -> None:
    for line, setting, value in documented(text):
        check_settings(f"{name}: line {line}", {setting: value})


def check_same_shards(where: str, runs: Iterable[tuple[str, str | None, Mapping[str, object]]]) -> None:
    """`runs`: (label, program, environment) of every service or container."""
    values: dict[str, tuple[str, str]] = {}
    for label, program, env in runs:
        if program in SHARD_READERS:
            value = str(env.get(SHARDS) or "1")
            values[label] = (program, str(int(value)) if value.isdigit() else value)
    programs = {program for program, _ in values.values()}
    if programs == set(SHARD_READERS) and len({value for _, value in values.values()}) > 1:
        listed = ", ".join(f"{label} {value}" for label, (_, value) in values.items())
        raise SettingError(
            f"{where}: {SHARDS} differs between ingest and worker ({listed}); every ingest and worker must use the same"
        )


def check_env_file(name: str, text: str, values: Mapping[str, str]) -> None:
    check_settings(name, values)
    check_documented(name, text)


# ----------------------------------------------------------------- compose


def environment(service: dict) -> dict[str, object]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def words(value) -> list[str]:
    """A command or entrypoint as words (each string of a list split as a shell would)."""
    items = [value] if isinstance(value, str) else list(value or [])
    out = []
    for item in items:
        try:
            out += shlex.split(str(item))
        except ValueError:
            out += str(item).split()
    return out


def program(command) -> str | None:
    command = words(command)
    return command[0] if command else None


def option(tokens: list[str], flag: str) -> str | None:
    for i, token in enumerate(tokens[:-1]):
        if token == flag:
            return tokens[i + 1]
    return None


def check_compose(name: str, text: str, services: dict) -> None:
    for service_name, service in services.items():
        check_settings(f"{name}: services.{service_name}.environment", environment(service))
    check_documented(name, text)
    check_same_shards(
        name, ((f"services.{n}", program(s.get("command")), environment(s)) for n, s in services.items())
    )
    check_cluster_profile(name, text, services)


def check_cluster_profile(name: str, text: str, services: dict) -> None:
    tokens = {n: words(s.get("entrypoint")) + words(s.get("command")) for n, s in services.items()}
    nodes = {n: s for n, s in services.items() if option(tokens[n], "--cluster-enabled") == "yes"}
    inits = [n for n, s in services.items() if "--cluster create" in " ".join(tokens[n])]
    for node, service in nodes.items():
        if CLUSTER_PROFILE not in (service.get("profiles") or []):
            raise SettingError(
                f"{name}: services.{node}: a Redis Cluster node (cluster-enabled yes) outside profile "
                f"`{CLUSTER_PROFILE}` would start with the default stack"
            )
    if nodes and len(inits) != 1:
        raise SettingError(
            f"{name}: profile {CLUSTER_PROFILE} needs one service running redis-cli --cluster create, not {len(inits)}"
        )
    replicas = 0
    if inits:
        init = inits[0]
        service = services[init]
        where = f"{name}: services.{init}"
        if CLUSTER_PROFILE not in (service.get("profiles") or []):
            raise SettingError(f"{where}: creates the cluster but is not in profile `{CLUSTER_PROFILE}`")
        if service.get("restart", "no") in ("always", "unless-stopped"):
            raise SettingError(
                f"{where}: restart {service['restart']} would create the cluster again and again; use \"no\""
            )
        replicas = int(option(tokens[init], "--cluster-replicas") or 0)
        needed = MASTERS * (1 + replicas)
        if len(nodes) < needed:
            raise SettingError(
                f"{name}: profile {CLUSTER_PROFILE} has {len(nodes)} nodes with cluster-enabled yes; "
                f"{MASTERS} masters with --cluster-replicas {replicas} need {needed}"
            )
        depends = service.get("depends_on") or {}
        for node in nodes:
            condition = depends.get(node, {}).get("condition") if isinstance(depends, dict) else None
            if condition != "service_healthy":
                raise SettingError(f"{where}.depends_on: does not wait for {node} to be healthy")
    ports = {}
    for node, service in nodes.items():
        where = f"{name}: services.{node}"
        if option(tokens[node], "--appendonly") != "yes":
            raise SettingError(
                f"{where}: no --appendonly yes (the node would lose its stream entries when it restarts)"
            )
        timeout = option(tokens[node], "--cluster-node-timeout")
        if timeout is None:
            raise SettingError(f"{where}: no --cluster-node-timeout (how long a silent master waits for its failover)")
        check_whole(where, "--cluster-node-timeout", timeout, 1)
        announced = option(tokens[node], "--cluster-announce-hostname")
        if announced in ("$HOSTNAME", "${HOSTNAME}"):
            announced = service.get("hostname")
        if announced is not None and announced != node:
            raise SettingError(
                f"{where}: announces the host name {announced!r}, but the programs resolve the service name {node!r}"
            )
        ports[node] = int(option(tokens[node], "--port") or DEFAULT_PORT)
    shown = [(f"line {line}", setting, value) for line, setting, value in documented(text)] + [
        (f"services.{n}.environment", setting, str(value))
        for n, s in services.items()
        for setting, value in environment(s).items()
        if value is not None
    ]
    for where, setting, value in shown:
        if setting.endswith("REDIS_URL"):
            url = parse_url(value)
            for host, port in url.nodes if url.cluster else ():
                if ports.get(host) != port:
                    raise SettingError(
                        f"{name}: {where}: {setting} names {host}:{port}, not a node of profile {CLUSTER_PROFILE}"
                    )
        if setting == MIN_REPLICAS and nodes and int(value) > replicas:
            raise SettingError(
                f"{name}: {where}: {MIN_REPLICAS} {value}, but each master of profile {CLUSTER_PROFILE} has "
                f"{replicas} replica(s): every webhook would be answered 503"
            )


# -------------------------------------------------------------- kubernetes


def secret_values(doc: dict) -> dict[str, str]:
    values = {key: base64.b64decode(value).decode(errors="replace") for key, value in (doc.get("data") or {}).items()}
    values.update(doc.get("stringData") or {})
    return values


def check_k8s(
    documents: list[tuple[str, dict]], containers: list[tuple[str, dict]], texts: list[tuple[str, str]]
) -> None:
    """`documents`: (file name, document); `containers`: (label, container) of every pod template;
    `texts`: (file name, text) of the manifests, for the settings their comments show."""
    config_maps: dict[str, dict] = {}
    secrets: dict[str, dict] = {}
    for file, doc in documents:
        label = f"{file}: {doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "ConfigMap":
            config_maps[doc["metadata"]["name"]] = doc.get("data") or {}
            check_settings(f"{label}: data", config_maps[doc["metadata"]["name"]])
        if doc["kind"] == "Secret":
            secrets[doc["metadata"]["name"]] = secret_values(doc)
            check_settings(label, secrets[doc["metadata"]["name"]])
    runs = []
    for label, container in containers:
        literal = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        check_settings(f"{label}: env", literal)
        effective: dict[str, object] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                values = config_maps.get(source["configMapRef"]["name"], {})
            else:
                values = secrets.get(source.get("secretRef", {}).get("name"), {})
            effective.update({source.get("prefix", "") + key: value for key, value in values.items()})
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {})
            if "value" in entry:
                effective[entry["name"]] = entry["value"]
            elif "configMapKeyRef" in ref:
                key = ref["configMapKeyRef"]
                effective[entry["name"]] = config_maps.get(key["name"], {}).get(key["key"])
            elif "secretKeyRef" in ref:
                key = ref["secretKeyRef"]
                effective[entry["name"]] = secrets.get(key["name"], {}).get(key["key"])
        runs.append((label, program(container.get("args") or container.get("command")), effective))
    check_same_shards("deploy/k8s", runs)
    for file, text in texts:
        check_documented(file, text)
