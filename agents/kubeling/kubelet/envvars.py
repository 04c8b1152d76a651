"""A container's environment, command and args as upstream's kubelet works them out (pure: lookups are passed in).

Order as upstream: `envFrom` sources first, then `env` (later names win), then the Service variables not defined
already; `$(VAR)` in an env value refers to the variables defined before it and to the Service variables, and
`$(VAR)` in command and args to the final environment; `$$` escapes a `$`.
"""

from __future__ import annotations

import base64
import decimal
import re
from collections.abc import Callable

from kubeling.api import quantity
from kubeling.api.types import Obj

Lookup = Callable[[str, str], Obj | None]  # (namespace, name) → the ConfigMap/Secret object, or None

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
# Services of the default namespace whose variables every pod gets, even with enableServiceLinks: false.
MASTER_SERVICES = ("kubernetes",)


class ConfigError(Exception):
    """The container cannot be created yet (CreateContainerConfigError): a referenced object or key is missing."""


def expand(text: str, mapping: dict[str, str]) -> str:
    """Upstream's `expansion.Expand`: `$(NAME)` becomes its value when NAME is defined, `$$` becomes `$`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    out.append(mapping[name] if name in mapping else text[i:end + 1])
                    i = end + 1
                    continue
        out.append(char)
        i += 1
    return "".join(out)


def configmap_data(cm: Obj) -> dict[str, str]:
    data = dict(cm.get("data") or {})
    for key, value in (cm.get("binaryData") or {}).items():
        data.setdefault(key, base64.b64decode(value).decode(errors="replace"))
    return data


def secret_data(secret: Obj) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


def field_value(pod: Obj, path: str, pod_ip: str, host_ip: str) -> str:
    """`fieldRef.fieldPath` as the downward API resolves it."""
    metadata, spec = pod.get("metadata", {}), pod.get("spec", {})
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((metadata.get(match[1]) or {}).get(match[2], ""))
    simple = {
        "metadata.name": metadata.get("name", ""), "metadata.namespace": metadata.get("namespace", ""),
        "metadata.uid": metadata.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip, "status.podIPs": pod_ip, "status.hostIP": host_ip, "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path] or "")
    if path in ("metadata.labels", "metadata.annotations"):
        items = metadata.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise ConfigError(f"unsupported fieldPath: {path}")


def resource_value(container: Obj, ref: Obj, allocatable: dict[str, str]) -> str:
    """`resourceFieldRef`: a limit (the node's allocatable when unset) or request, divided by `divisor`."""
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name)
    if raw is None:
        raw = allocatable.get(name, "0") if kind == "limits" else "0"
    divisor = quantity.parse_quantity(ref.get("divisor") or "1") or decimal.Decimal(1)
    result = quantity.parse_quantity(raw) / divisor
    return str(int(result.to_integral_value(rounding=decimal.ROUND_CEILING)))


def _service_name(name: str) -> str:
    return name.upper().replace("-", "_")


def service_variables(service: Obj) -> dict[str, str]:
    """Upstream's envvars.FromServices for one Service: `<NAME>_SERVICE_HOST`, `_SERVICE_PORT[_<PORT NAME>]`, and
    the Docker-link style `<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`."""
    spec = service.get("spec") or {}
    ip, ports = spec.get("clusterIP") or "", spec.get("ports") or []
    if ip in ("", "None") or not ports:
        return {}
    prefix = _service_name(service["metadata"]["name"])
    env = {f"{prefix}_SERVICE_HOST": ip, f"{prefix}_SERVICE_PORT": str(ports[0].get("port", ""))}
    for port in ports:
        if port.get("name"):
            env[f"{prefix}_SERVICE_PORT_{_service_name(port['name'])}"] = str(port.get("port", ""))
    host = f"[{ip}]" if ":" in ip else ip
    for index, port in enumerate(ports):
        protocol = str(port.get("protocol") or "TCP")
        number = port.get("port", "")
        url = f"{protocol.lower()}://{host}:{number}"
        if index == 0:
            env[f"{prefix}_PORT"] = url  # Docker special-cases the first port
        port_prefix = f"{prefix}_PORT_{number}_{protocol.upper()}"
        env.update({port_prefix: url, f"{port_prefix}_PROTO": protocol.lower(), f"{port_prefix}_PORT": str(number),
                    f"{port_prefix}_ADDR": ip})
    return env


def service_env(services: list[Obj], namespace: str, enable_service_links: bool = True) -> dict[str, str]:
    """The Service variables of a pod in `namespace`: the `kubernetes` Service's always, and those of every Service
    of its own namespace when `enableServiceLinks` (the default) is on."""
    chosen: dict[str, Obj] = {}
    for service in sorted(services, key=lambda s: (s["metadata"].get("namespace", ""), s["metadata"]["name"])):
        metadata = service["metadata"]
        name, where = metadata["name"], metadata.get("namespace", "")
        if not service_variables(service):
            continue
        if where == "default" and name in MASTER_SERVICES:
            chosen.setdefault(name, service)
        elif where == namespace and enable_service_links:
            chosen[name] = service
    env: dict[str, str] = {}
    for name in sorted(chosen):
        env.update(service_variables(chosen[name]))
    return env


def container_env(pod: Obj, container: Obj, configmap: Lookup, secret: Lookup, *, pod_ip: str = "",
                  host_ip: str = "", allocatable: dict[str, str] | None = None,
                  services: dict[str, str] | None = None) -> dict[str, str]:
    """The environment, in definition order; raises ConfigError for a missing, non-optional reference.
    `services` are the pod's Service variables (`service_env`)."""
    namespace = pod.get("metadata", {}).get("namespace", "")
    services = services or {}
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        if source.get("configMapRef"):
            ref = source["configMapRef"]
            obj = configmap(namespace, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'configmap "{ref.get("name", "")}" not found')
            values = configmap_data(obj)
        elif source.get("secretRef"):
            ref = source["secretRef"]
            obj = secret(namespace, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'secret "{ref.get("name", "")}" not found')
            values = secret_data(obj)
        else:
            continue
        for key, text in values.items():
            if _ENV_NAME.match(prefix + key):  # upstream skips invalid names (and records an event)
                env[prefix + key] = text
    for var in container.get("env") or []:
        name = var.get("name", "")
        if "valueFrom" not in var:
            env[name] = expand(str(var.get("value") or ""), {**services, **env})
            continue
        source = var["valueFrom"] or {}
        value: str | None
        if source.get("configMapKeyRef"):
            value = _key_ref(source["configMapKeyRef"], namespace, configmap, "configmap", "ConfigMap",
                             configmap_data)
        elif source.get("secretKeyRef"):
            value = _key_ref(source["secretKeyRef"], namespace, secret, "secret", "Secret", secret_data)
        elif source.get("fieldRef"):
            value = field_value(pod, source["fieldRef"].get("fieldPath", ""), pod_ip, host_ip)
        elif source.get("resourceFieldRef"):
            value = resource_value(container, source["resourceFieldRef"], allocatable or {})
        else:
            value = ""
        if value is not None:
            env[name] = value
    for name, value in services.items():
        env.setdefault(name, value)
    return env


def _key_ref(ref: Obj, namespace: str, lookup: Lookup, lower: str, kind: str,
             decode: Callable[[Obj], dict[str, str]]) -> str | None:
    name, key = ref.get("name", ""), ref.get("key", "")
    obj = lookup(namespace, name)
    if obj is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'{lower} "{name}" not found')
    data = decode(obj)
    if key not in data:
        if ref.get("optional"):
            return None
        raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data[key]


def command_and_args(container: Obj, env: dict[str, str]) -> tuple[list[str] | None, list[str] | None]:
    """`command` replaces the image's entrypoint (and drops its CMD); `args` replaces its CMD."""
    command = container.get("command")
    args = container.get("args")
    return ([expand(str(c), env) for c in command] if command else None,
            [expand(str(a), env) for a in args] if args else ([] if command else None))
