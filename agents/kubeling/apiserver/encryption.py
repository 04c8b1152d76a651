"""`--encryption-provider-config`: which resources are encrypted in etcd, and with which providers and keys.

The file is upstream's `EncryptionConfiguration` (apiserver.config.k8s.io/v1):

    resources:
      - resources: [secrets]            # also `deployments.apps`, `*.apps`, `*.` (the core group), `*.*`
        providers:                      # the first writes; every one reads
          - aescbc: {keys: [{name: key1, secret: <base64 of 32 random bytes>}]}
          - identity: {}                # reads what was stored before encryption was turned on

Anything wrong in it is a `ConfigError`, and the API server refuses to start: a server that cannot read its
encryption configuration must never go on writing plain text.

Upstream: staging/src/k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go (one prefix transformer per
resource, a nested one per provider choosing among its keys) and staging/src/k8s.io/apiserver/pkg/apis/config/
validation/validation.go (what a valid file is: key lengths, one provider per list element, no duplicates).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from typing import Any

import yaml

from kubeling.api.resources import ResourceType
from kubeling.storage.transformers import (
    AESCBC,
    AESGCMTransformer,
    Identity,
    Prefixed,
    PrefixTransformers,
    Secretbox,
    Transformer,
)

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
AES_KEY_SIZES = (16, 24, 32)
SECRETBOX_KEY_SIZES = (32,)
PROVIDERS = ("aescbc", "aesgcm", "secretbox", "identity", "kms")


class ConfigError(Exception):
    """The encryption configuration cannot be used; the message names the file's field at fault."""


def load(path: str) -> dict[str, Transformer]:
    """The transformer of each resource pattern in the file at `path` (`secrets`, `*.apps`, `*.*`)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"error opening encryption provider configuration file {path!r}: {exc.strerror}") from exc
    if not text.strip():
        raise ConfigError(f"encryption provider configuration file {path!r} is empty")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"error while parsing file: {exc}") from exc
    try:
        return parse(document)
    except ConfigError as exc:
        raise ConfigError(f"error while parsing file: {exc}") from exc


def parse(document: Any) -> dict[str, Transformer]:
    """The transformer of each resource pattern of an `EncryptionConfiguration` document."""
    if not isinstance(document, dict):
        raise ConfigError("the file is not a YAML or JSON object")
    if document.get("apiVersion") != API_VERSION or document.get("kind") != KIND:
        raise ConfigError(f"expected apiVersion {API_VERSION} and kind {KIND}, got apiVersion "
                          f"{document.get('apiVersion')!r} and kind {document.get('kind')!r}")
    entries = document.get("resources")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("resources: Required value: at least one resource has to be specified")
    transformers: dict[str, Transformer] = {}
    for index, entry in enumerate(entries):
        where = f"resources[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be an object with `resources` and `providers`")
        names = entry.get("resources")
        if not isinstance(names, list) or not names:
            raise ConfigError(f"{where}.resources: Required value: at least one resource has to be specified")
        transformer = _resource_transformer(entry.get("providers"), f"{where}.providers")
        for position, name in enumerate(names):
            field = f"{where}.resources[{position}]"
            if not isinstance(name, str) or not name or name != name.lower():
                raise ConfigError(f"{field}: Invalid value: {name!r}: resource name must be lower case")
            if name == "*":
                raise ConfigError(f"{field}: Invalid value: '*': use '*.' for every core resource or '*.*' for all")
            if name in transformers:
                raise ConfigError(f"{field}: Duplicate value: {name!r}: each resource may be listed only once")
            transformers[name] = transformer
    return transformers


def for_resources(transformers: dict[str, Transformer], resources: Iterable[ResourceType]) -> dict[str, Transformer]:
    """Each served resource's transformer by its qualified name: its own entry, else its group's `*.<group>`,
    else `*.*` (upstream's precedence). Resources the file does not cover are left out: stored as plain JSON."""
    chosen: dict[str, Transformer] = {}
    for rtype in resources:
        for pattern in (rtype.qualified, f"*.{rtype.group}", "*.*"):
            if pattern in transformers:
                chosen[rtype.qualified] = transformers[pattern]
                break
    return chosen


def _resource_transformer(providers: Any, where: str) -> Transformer:
    if not isinstance(providers, list) or not providers:
        raise ConfigError(f"{where}: Required value: at least one provider has to be specified")
    prefixed = [_provider(provider, f"{where}[{index}]") for index, provider in enumerate(providers)]
    return PrefixTransformers(prefixed, "no matching prefix found")


def _provider(provider: Any, where: str) -> Prefixed:
    if not isinstance(provider, dict) or not provider:
        raise ConfigError(f"{where}: Required value: a provider (one of {', '.join(PROVIDERS[:4])})")
    if len(provider) > 1:
        raise ConfigError(f"{where}: Invalid value: more than one provider specified in a single element, should "
                          "split into different list elements")
    (name, body), = provider.items()
    if name == "identity":
        return Prefixed(b"", Identity())
    if name == "aescbc":
        return _keyed(body, f"{where}.aescbc", "aescbc", AES_KEY_SIZES, AESCBC, "AES")
    if name == "aesgcm":
        return _keyed(body, f"{where}.aesgcm", "aesgcm", AES_KEY_SIZES, AESGCMTransformer, "AES")
    if name == "secretbox":
        return _keyed(body, f"{where}.secretbox", "secretbox", SECRETBOX_KEY_SIZES, Secretbox, "Secretbox")
    if name == "kms":
        raise ConfigError(f"{where}.kms: Unsupported value: kubeling has no KMS plugin support; use aescbc, aesgcm "
                          "or secretbox")
    raise ConfigError(f"{where}: Unsupported value: unknown provider {name!r} (expected one of "
                      f"{', '.join(PROVIDERS[:4])})")


def _keyed(body: Any, where: str, provider: str, sizes: tuple[int, ...],
           cipher: Callable[[bytes], Transformer], label: str) -> Prefixed:
    """A provider with named keys: its prefix `k8s:enc:<provider>:v1:`, then one transformer per key behind
    `<key name>:`; the first key writes."""
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ConfigError(f"{where}.keys: Required value: at least one key has to be specified")
    seen: set[str] = set()
    by_key: list[Prefixed] = []
    for index, key in enumerate(keys):
        field = f"{where}.keys[{index}]"
        if not isinstance(key, dict):
            raise ConfigError(f"{field}: must be an object with `name` and `secret`")
        name, secret = key.get("name"), key.get("secret")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{field}.name: Required value: key name is required")
        if ":" in name:
            raise ConfigError(f"{field}.name: Invalid value: {name!r}: a key name may not contain ':'")
        if name in seen:
            raise ConfigError(f"{field}.name: Duplicate value: {name!r}")
        seen.add(name)
        if not isinstance(secret, str) or not secret:
            raise ConfigError(f"{field}.secret: Required value: key {name} has no provided secret")
        try:
            raw = base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"{field}.secret: Invalid value: REDACTED: secrets must be base64 encoded") from exc
        if len(raw) not in sizes:
            raise ConfigError(f"{field}.secret: Invalid value: REDACTED: secret is not of the expected length, got "
                              f"{len(raw)}, expected one of {list(sizes)}")
        by_key.append(Prefixed(f"{name}:".encode(), cipher(raw)))
    no_match = f"no matching key was found for the provided {label} transformer"
    return Prefixed(f"k8s:enc:{provider}:v1:".encode(), PrefixTransformers(by_key, no_match))
