"""Encryption at rest: the transformers (storage/transformers.py), the EncryptionConfiguration they are built from
(apiserver/encryption.py), and the API server's application on an in-memory etcd with a configuration."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeling.api.resources import RESOURCES
from kubeling.apiserver import encryption
from kubeling.apiserver.app import create_app
from kubeling.storage.memory import MemoryEtcd
from kubeling.storage.store import Store
from kubeling.storage.transformers import Transformer, TransformError

KEY = b"/registry/secrets/default/s1"
PLAIN = b'{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}'


def secret_key(size: int = 32) -> str:
    return base64.b64encode(os.urandom(size)).decode()


def config(*providers: dict[str, Any], resources: tuple[str, ...] = ("secrets",)) -> dict[str, Any]:
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": list(resources), "providers": list(providers)}]}


def keyed(provider: str, *keys: tuple[str, str]) -> dict[str, Any]:
    return {provider: {"keys": [{"name": name, "secret": secret} for name, secret in keys]}}


def secrets_transformer(document: dict[str, Any]) -> Transformer:
    return encryption.for_resources(encryption.parse(document), RESOURCES)["secrets"]


# Round trips and the stored layout


@pytest.mark.parametrize("provider", ["aescbc", "aesgcm", "secretbox"])
def test_each_provider_round_trips_behind_upstreams_prefix(provider: str) -> None:
    transformer = secrets_transformer(config(keyed(provider, ("key1", secret_key()))))
    stored = transformer.to_storage(PLAIN, KEY)
    assert stored.startswith(f"k8s:enc:{provider}:v1:key1:".encode())
    assert b"password" not in stored and b"aHVudGVyMg" not in stored
    assert transformer.from_storage(stored, KEY) == (PLAIN, False)
    assert transformer.to_storage(PLAIN, KEY) != stored  # a fresh IV or nonce every time


@pytest.mark.parametrize("size", [16, 24, 32])
def test_aes_keys_of_every_aes_size_work(size: int) -> None:
    for provider in ("aescbc", "aesgcm"):
        transformer = secrets_transformer(config(keyed(provider, ("k", secret_key(size)))))
        assert transformer.from_storage(transformer.to_storage(PLAIN, KEY), KEY)[0] == PLAIN


def test_aesgcm_binds_the_value_to_its_etcd_key() -> None:
    transformer = secrets_transformer(config(keyed("aesgcm", ("k", secret_key()))))
    stored = transformer.to_storage(PLAIN, KEY)
    with pytest.raises(TransformError, match="authentication failed"):
        transformer.from_storage(stored, b"/registry/secrets/default/other")


def test_identity_first_writes_plain_text_and_still_reads_encrypted_values() -> None:
    old = secret_key()
    encrypted = secrets_transformer(config(keyed("aescbc", ("old", old)))).to_storage(PLAIN, KEY)
    transformer = secrets_transformer(config({"identity": {}}, keyed("aescbc", ("old", old))))
    assert transformer.to_storage(PLAIN, KEY) == PLAIN
    assert transformer.from_storage(encrypted, KEY) == (PLAIN, True)  # stale: the next write decrypts it


def test_plain_values_from_before_encryption_are_read_through_identity_and_marked_stale() -> None:
    transformer = secrets_transformer(config(keyed("aesgcm", ("k", secret_key()))))
    with pytest.raises(TransformError, match="no matching prefix found"):
        transformer.from_storage(PLAIN, KEY)
    transformer = secrets_transformer(config(keyed("aesgcm", ("k", secret_key())), {"identity": {}}))
    assert transformer.from_storage(PLAIN, KEY) == (PLAIN, True)


# Rotation


def test_a_second_key_reads_what_the_first_wrote_and_marks_it_stale() -> None:
    old, new = secret_key(), secret_key()
    before = secrets_transformer(config(keyed("aescbc", ("key1", old))))
    during = secrets_transformer(config(keyed("aescbc", ("key2", new), ("key1", old))))
    stored = before.to_storage(PLAIN, KEY)
    assert during.from_storage(stored, KEY) == (PLAIN, True)
    rewritten = during.to_storage(PLAIN, KEY)
    assert rewritten.startswith(b"k8s:enc:aescbc:v1:key2:")
    assert during.from_storage(rewritten, KEY) == (PLAIN, False)


def test_two_providers_of_one_kind_with_different_keys_read_each_others_values() -> None:
    old, new = secret_key(), secret_key()
    stored = secrets_transformer(config(keyed("aescbc", ("a", old)))).to_storage(PLAIN, KEY)
    # Same prefix and key name, different secrets: the first match fails to open it, the second does.
    both = secrets_transformer(config(keyed("aescbc", ("a", new)), keyed("aescbc", ("a", old))))
    assert both.from_storage(stored, KEY) == (PLAIN, True)


def test_a_value_written_with_a_key_no_longer_configured_is_a_clear_error() -> None:
    stored = secrets_transformer(config(keyed("aescbc", ("key1", secret_key())))).to_storage(PLAIN, KEY)
    after = secrets_transformer(config(keyed("aescbc", ("key2", secret_key())), {"identity": {}}))
    with pytest.raises(TransformError, match="no matching key was found for the provided AES transformer"):
        after.from_storage(stored, KEY)
    gone = secrets_transformer(config(keyed("secretbox", ("key1", secret_key()))))
    with pytest.raises(TransformError, match="no matching prefix found"):
        gone.from_storage(stored, KEY)


# Which resources a configuration covers


def test_wildcards_cover_groups_and_exact_names_win() -> None:
    document = {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration", "resources": [
        {"resources": ["secrets"], "providers": [keyed("aesgcm", ("g", secret_key()))]},
        {"resources": ["*.apps"], "providers": [keyed("aescbc", ("c", secret_key()))]},
        {"resources": ["*."], "providers": [{"identity": {}}]},
    ]}
    chosen = encryption.for_resources(encryption.parse(document), RESOURCES)
    assert chosen["secrets"].to_storage(PLAIN, KEY).startswith(b"k8s:enc:aesgcm:")
    assert chosen["deployments.apps"].to_storage(PLAIN, KEY).startswith(b"k8s:enc:aescbc:")
    assert chosen["configmaps"].to_storage(PLAIN, KEY) == PLAIN
    assert "jobs.batch" not in chosen
    everything = encryption.for_resources(encryption.parse(config({"identity": {}}, resources=("*.*",))), RESOURCES)
    assert "jobs.batch" in everything and "configmaps" in everything


# Malformed configurations: refused with a message naming the field


@pytest.mark.parametrize(("document", "message"), [
    (config(), "resources[0].providers: Required value: at least one provider"),
    (config({"aescbcc": {"keys": []}}), "unknown provider 'aescbcc'"),
    (config(keyed("aescbc", ("k", secret_key(10)))), "secret is not of the expected length, got 10"),
    (config(keyed("secretbox", ("k", secret_key(16)))), "expected one of [32]"),
    (config(keyed("aesgcm", ("k", "not base64!"))), "secrets must be base64 encoded"),
    (config({"aescbc": {"keys": []}}), "aescbc.keys: Required value"),
    (config(keyed("aescbc", ("k", secret_key()), ("k", secret_key()))), "Duplicate value: 'k'"),
    (config({"identity": {}, "aescbc": {"keys": []}}), "more than one provider specified in a single element"),
    (config({"kms": {"name": "x"}}), "no KMS plugin support"),
    ({**config({"identity": {}}), "kind": "Config"}, "expected apiVersion apiserver.config.k8s.io/v1"),
    ({**config({"identity": {}}), "resources": []}, "at least one resource"),
    (config({"identity": {}}, resources=("*",)), "use '*.'"),
])
def test_malformed_configurations_are_refused(document: dict[str, Any], message: str) -> None:
    with pytest.raises(encryption.ConfigError) as caught:
        encryption.parse(document)
    assert message in str(caught.value)


def test_a_file_that_is_not_yaml_or_is_missing_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("resources: [\n  - {providers: ")
    with pytest.raises(encryption.ConfigError, match="error while parsing file"):
        encryption.load(str(bad))
    with pytest.raises(encryption.ConfigError, match="error opening encryption provider configuration file"):
        encryption.load(str(tmp_path / "missing.yaml"))
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(encryption.ConfigError, match="is empty"):
        encryption.load(str(tmp_path / "empty.yaml"))


# The API server on an in-memory etcd


@pytest.fixture
def encrypted_api() -> Iterator[tuple[Any, MemoryEtcd, dict[str, str]]]:
    keys = {"key1": secret_key(), "key2": secret_key()}
    etcd = MemoryEtcd()
    transformers = encryption.for_resources(encryption.parse(config(keyed("aescbc", ("key1", keys["key1"])))),
                                            RESOURCES)
    app = create_app(Store(etcd, transformers=transformers))
    yield app, etcd, keys
    app.extensions["kubeling.watcher"].stop()


def test_the_api_stores_secrets_encrypted_and_serves_them_plain(encrypted_api: Any) -> None:
    app, etcd, _ = encrypted_api
    client = app.test_client()
    body = {"metadata": {"name": "s1"}, "stringData": {"password": "hunter2"}}
    assert client.post("/api/v1/namespaces/default/secrets", json=body).status_code == 201
    kv, _ = etcd.get("/registry/secrets/default/s1")
    assert kv.value.startswith(b"k8s:enc:aescbc:v1:key1:")
    assert b"hunter2" not in kv.value and base64.b64encode(b"hunter2") not in kv.value
    got = client.get("/api/v1/namespaces/default/secrets/s1").get_json()
    assert base64.b64decode(got["data"]["password"]) == b"hunter2"
    listed = client.get("/api/v1/secrets").get_json()["items"]
    assert [s["metadata"]["name"] for s in listed] == ["s1"]
    client.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "c"}, "data": {"a": "b"}})
    assert etcd.get("/registry/configmaps/default/c")[0].value.startswith(b"{")  # not listed: plain JSON


def test_an_unchanged_replace_after_rotation_rewrites_with_the_new_key(encrypted_api: Any) -> None:
    app, etcd, keys = encrypted_api
    client = app.test_client()
    client.post("/api/v1/namespaces/default/secrets", json={"metadata": {"name": "s1"}, "data": {"a": "YQ=="}})
    app.extensions["kubeling.watcher"].stop()
    rotated = encryption.for_resources(encryption.parse(config(
        keyed("aescbc", ("key2", keys["key2"]), ("key1", keys["key1"])))), RESOURCES)
    app = create_app(Store(etcd, transformers=rotated))
    client = app.test_client()
    try:
        current = client.get("/api/v1/namespaces/default/secrets/s1").get_json()
        replaced = client.put("/api/v1/namespaces/default/secrets/s1", json=current)
        assert replaced.status_code == 200
        assert replaced.get_json()["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]
        assert etcd.get("/registry/secrets/default/s1")[0].value.startswith(b"k8s:enc:aescbc:v1:key2:")
        again = client.put("/api/v1/namespaces/default/secrets/s1", json=replaced.get_json()).get_json()
        assert again["metadata"]["resourceVersion"] == replaced.get_json()["metadata"]["resourceVersion"]
    finally:
        app.extensions["kubeling.watcher"].stop()


def test_reading_a_value_whose_key_is_gone_is_a_500_naming_the_problem(encrypted_api: Any) -> None:
    app, etcd, _ = encrypted_api
    app.test_client().post("/api/v1/namespaces/default/secrets", json={"metadata": {"name": "s1"}})
    app.extensions["kubeling.watcher"].stop()
    other = encryption.for_resources(encryption.parse(config(keyed("aescbc", ("key9", secret_key())))), RESOURCES)
    app = create_app(Store(etcd, transformers=other))
    try:
        response = app.test_client().get("/api/v1/namespaces/default/secrets/s1")
        assert response.status_code == 500
        status = response.get_json()
        assert status["reason"] == "InternalError"
        assert status["message"] == ('Internal error occurred: unable to transform key "/registry/secrets/default/'
                                     's1": no matching key was found for the provided AES transformer')
        assert app.test_client().get("/api/v1/secrets").status_code == 500
    finally:
        app.extensions["kubeling.watcher"].stop()
