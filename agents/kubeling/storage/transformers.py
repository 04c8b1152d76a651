"""How a value is sealed on its way into etcd and opened on its way out: encryption at rest.

A transformer turns the JSON of an object into what etcd stores (`to_storage`) and back (`from_storage`). The
stored value says what wrote it: `k8s:enc:<provider>:v1:<key name>:` and then the provider's ciphertext
(`identity` writes the plain JSON, with no prefix). So one API server can read values written with any provider
and key in its configuration, while it writes with the first one only: that is how a key is rotated.

Upstream: staging/src/k8s.io/apiserver/pkg/storage/value/transformer.go (the prefix transformers: the first writes,
every one reads, a value read by any but the first is "stale" and gets written again even if unchanged) and
value/encrypt/aes/aes.go, value/encrypt/secretbox/secretbox.go, value/encrypt/identity/identity.go (the ciphers and
their byte layouts, kept identical so that a value is laid out in etcd as upstream lays it out).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

# Every encrypting provider's prefix starts so; identity refuses to read such a value (so a later provider is tried).
ENCRYPTED_PREFIX = b"k8s:enc:"
AES_BLOCK = 16
GCM_NONCE = 12


class TransformError(Exception):
    """A stored value that cannot be opened: no provider or key of the configuration wrote it, or it was altered."""


class Transformer(Protocol):
    def to_storage(self, data: bytes, context: bytes) -> bytes:
        """The bytes to store for `data`. `context` (the etcd key) is authenticated by providers that can."""
        ...

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        """(the plain bytes, stale): stale says that the value was not written as `to_storage` would write it now."""
        ...


class Identity:
    """Stores the plain bytes. Listed first, it writes plain text; listed last, it reads what was stored before
    encryption was turned on."""

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        return data

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if data.startswith(ENCRYPTED_PREFIX):
            raise TransformError("identity transformer tried to read encrypted data")
        return data, False


class AESCBC:
    """AES in CBC mode: a random 16-byte IV, then the PKCS#7-padded ciphertext. Nothing authenticates the value."""

    def __init__(self, key: bytes) -> None:
        self.algorithm = algorithms.AES(key)

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        iv = os.urandom(AES_BLOCK)
        pad = AES_BLOCK - len(data) % AES_BLOCK
        encryptor = Cipher(self.algorithm, modes.CBC(iv)).encryptor()
        return iv + encryptor.update(data + bytes([pad]) * pad) + encryptor.finalize()

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if len(data) < AES_BLOCK:
            raise TransformError("the stored data was shorter than the required size")
        iv, body = data[:AES_BLOCK], data[AES_BLOCK:]
        if len(body) % AES_BLOCK:
            raise TransformError("the stored data is not a multiple of the block size")
        decryptor = Cipher(self.algorithm, modes.CBC(iv)).decryptor()
        plain = decryptor.update(body) + decryptor.finalize()
        pad = plain[-1] if plain else 0
        if pad == 0 or pad > len(plain):
            raise TransformError("invalid PKCS7 data (empty or not padded)")
        if plain[-pad:] != bytes([pad]) * pad:
            raise TransformError("invalid padding on input")
        return plain[:-pad], False


class AESGCMTransformer:
    """AES-GCM: a random 12-byte nonce, then the ciphertext and its tag; the etcd key is authenticated with it, so
    a value copied to another key does not open."""

    def __init__(self, key: bytes) -> None:
        self.aead = AESGCM(key)

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(GCM_NONCE)
        return nonce + self.aead.encrypt(nonce, data, context)

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if len(data) < GCM_NONCE:
            raise TransformError("the stored data was shorter than the required size")
        try:
            return self.aead.decrypt(data[:GCM_NONCE], data[GCM_NONCE:], context), False
        except InvalidTag as exc:
            raise TransformError("cipher: message authentication failed") from exc


class Secretbox:
    """NaCl's secretbox (XSalsa20-Poly1305): a random 24-byte nonce, then the tag and the ciphertext."""

    def __init__(self, key: bytes) -> None:
        self.box = SecretBox(key)

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        return bytes(self.box.encrypt(data))  # PyNaCl lays it out as upstream: nonce, then tag and ciphertext

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if len(data) < SecretBox.NONCE_SIZE:
            raise TransformError("the stored data was shorter than the required size")
        try:
            return self.box.decrypt(data), False
        except CryptoError as exc:
            raise TransformError("secretbox could not open the value: wrong key or altered data") from exc


@dataclasses.dataclass(frozen=True)
class Prefixed:
    """A transformer and the prefix of the values it writes (empty for identity)."""

    prefix: bytes
    transformer: Transformer


class PrefixTransformers:
    """Writes with the first transformer, behind its prefix; reads with the first whose prefix the value has.

    Prefixes may overlap (two `aescbc` providers, the new key's and the old key's): a match that fails to open
    the value is not the answer, the next match is tried. `no_match` is the error when none opens it.
    """

    def __init__(self, transformers: list[Prefixed], no_match: str) -> None:
        if not transformers:
            raise ValueError("at least one transformer is needed")
        self.transformers = transformers
        self.no_match = no_match

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        first = self.transformers[0]
        return first.prefix + first.transformer.to_storage(data, context)

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        problems: list[str] = []
        for index, candidate in enumerate(self.transformers):
            if not data.startswith(candidate.prefix):
                continue
            try:
                plain, stale = candidate.transformer.from_storage(data[len(candidate.prefix):], context)
            except TransformError as exc:
                if candidate.prefix:  # identity's refusal of encrypted data is no finding: it just is not the one
                    problems.append(str(exc))
                continue
            return plain, stale or index != 0
        if problems:
            raise TransformError(problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]")
        raise TransformError(self.no_match)
