"""Authentication: who sent a request, from a client certificate, a bearer token, or a service-account token.

As upstream's union authenticator: the first credential that checks out names the user; a credential that was
presented but does not check out (a certificate from another CA, an expired one, an unknown token) makes the request
fail with 401 unless another credential succeeds; a request with no credential at all is anonymous, which the
caller refuses everywhere but the health and version endpoints. Nothing here ever logs a token.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime
import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from kubeling.api import errors
from kubeling.api.rbac import AUTHENTICATED, MASTERS, SERVICE_ACCOUNT_PREFIX, UserInfo
from kubeling.api.types import Obj

log = logging.getLogger(__name__)


# Set by the TLS layer (tls.py) in each request's WSGI environ.
PEER_CERTIFICATE = "kubeling.peer_certificate"
LISTENER = "kubeling.listener"  # "secure" or "insecure"

# Who a request on the loopback plain-HTTP port is when the operator lets that port act as the superuser.
INSECURE_SUPERUSER = UserInfo("system:admin", (MASTERS, AUTHENTICATED))
DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclasses.dataclass(frozen=True)
class PeerCertificate:
    """The client certificate a TLS connection presented; `error` is why it did not verify (None: it did)."""

    certificate: x509.Certificate
    error: str | None = None


def unauthorized() -> errors.StatusError:
    return errors.StatusError(401, "Unauthorized", "Unauthorized")


class AuthenticationFailed(Exception):
    """A credential was presented and is not valid; the message is for the log, never for the client."""


def with_authenticated(user: UserInfo) -> UserInfo:
    """Every authenticated user is also in system:authenticated (upstream's AuthenticatedGroupAdder)."""
    if AUTHENTICATED in user.groups:
        return user
    return dataclasses.replace(user, groups=(*user.groups, AUTHENTICATED))


# X.509 client certificates


def user_from_certificate(certificate: x509.Certificate) -> UserInfo:
    """CN is the user name, each O a group: what the upstream x509 authenticator reads."""
    now = datetime.datetime.now(datetime.UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise AuthenticationFailed("the client certificate has expired or is not yet valid")  # checked twice: cheap
    subject = certificate.subject
    common = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    groups = tuple(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    if not common or not common[0].value:
        raise AuthenticationFailed("the client certificate has no common name")
    return UserInfo(str(common[0].value), groups)


# Static tokens (--token-auth-file)


def load_token_file(path: str) -> dict[str, UserInfo]:
    """Upstream's CSV: `token,user,uid[,"group1,group2"]`, one credential a line."""
    users: dict[str, UserInfo] = {}
    with open(path, newline="") as handle:
        for number, record in enumerate(csv.reader(handle, skipinitialspace=True), start=1):
            if not record or not "".join(record).strip():
                continue
            if len(record) < 3:
                raise ValueError(f"token file {path!r} must have at least 3 columns (token, user name, user uid), "
                                 f"found {len(record)} on line {number}")
            token, name, uid = (field.strip() for field in record[:3])
            if not token:
                log.warning("empty token in token file %s, line %d: skipped", path, number)
                continue
            groups = tuple(g.strip() for g in record[3].split(",") if g.strip()) if len(record) > 3 else ()
            users[token] = UserInfo(name, groups, uid)
    return users


# Service-account tokens: JWTs signed by the API server


def _load_pem_keys(path: str) -> list[Any]:
    """Every public key in a PEM file: public keys, certificates, or private keys (their public half)."""
    data = Path(path).read_bytes()
    keys: list[Any] = []
    for block in data.split(b"-----END ")[:-1]:
        start = block.find(b"-----BEGIN ")
        if start < 0:
            continue
        label = block[start + 11:block.find(b"-----", start + 11)]
        pem = block[start:] + b"-----END " + label + b"-----\n"
        if label == b"CERTIFICATE":
            keys.append(x509.load_pem_x509_certificate(pem).public_key())
        elif b"PRIVATE KEY" in label:
            keys.append(serialization.load_pem_private_key(pem, password=None).public_key())
        elif b"PUBLIC KEY" in label:
            keys.append(serialization.load_pem_public_key(pem))
    if not keys:
        raise ValueError(f"no public keys found in {path}")
    return keys


def _algorithm(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
    raise ValueError("service-account keys must be RSA or ECDSA")


def key_id(public_key: Any) -> str:
    """Upstream's `kid`: the unpadded base64url SHA-256 of the DER public key."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


class ServiceAccountTokens:
    """Issues (TokenRequest) and verifies bound service-account tokens.

    `lookup(resource, namespace, name)` returns the live object or None: a token is only good while the service
    account (and the pod it is bound to) still exists with the same uid, as with upstream's --service-account-lookup.
    """

    def __init__(
        self,
        issuer: str,
        signing_key_file: str | None,
        key_files: list[str],
        lookup: Callable[[str, str, str], Obj | None],
        audiences: list[str] | None = None,
        max_expiration: int = 0,
    ) -> None:
        self.issuer = issuer
        self.audiences = audiences or [issuer]
        self.lookup = lookup
        self.max_expiration = max_expiration
        self.signing_key: Any = None
        if signing_key_file:
            self.signing_key = serialization.load_pem_private_key(Path(signing_key_file).read_bytes(), password=None)
        self.verify_keys: list[Any] = [k for path in key_files for k in _load_pem_keys(path)]
        if self.signing_key is not None and not self.verify_keys:
            self.verify_keys = [self.signing_key.public_key()]
        self._by_kid = {key_id(k): k for k in self.verify_keys}

    @property
    def can_issue(self) -> bool:
        return self.signing_key is not None

    def issue(self, account: Obj, audiences: list[str], seconds: int, bound: Obj | None = None) -> tuple[str, int]:
        """A signed token for `account`, optionally bound to a pod; returns (token, expiry as Unix time)."""
        meta = account["metadata"]
        now = int(datetime.datetime.now(datetime.UTC).timestamp())
        private: Obj = {"namespace": meta["namespace"],
                        "serviceaccount": {"name": meta["name"], "uid": meta.get("uid", "")}}
        if bound is not None:
            kind = bound["kind"].lower()
            private[kind] = {"name": bound["metadata"]["name"], "uid": bound["metadata"].get("uid", "")}
        claims = {
            "iss": self.issuer, "sub": f"{SERVICE_ACCOUNT_PREFIX}{meta['namespace']}:{meta['name']}",
            "aud": audiences, "iat": now, "nbf": now, "exp": now + seconds, "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
        }
        token = jwt.encode(claims, self.signing_key, algorithm=_algorithm(self.signing_key),
                           headers={"kid": key_id(self.signing_key.public_key())})
        return token, now + seconds

    def verify(self, token: str) -> UserInfo:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(f"not a JWT: {exc}") from exc
        keys = [self._by_kid[header["kid"]]] if header.get("kid") in self._by_kid else self.verify_keys
        claims: Obj | None = None
        failure = "no service-account verification key"
        for key in keys:
            try:
                claims = jwt.decode(token, key, algorithms=[_algorithm(key)], audience=self.audiences,
                                    issuer=self.issuer, options={"require": ["exp", "iss", "sub"]})
                break
            except jwt.PyJWTError as exc:
                failure = str(exc)
        if claims is None:
            raise AuthenticationFailed(f"service-account token rejected: {failure}")
        return self._user(claims)

    def _user(self, claims: Obj) -> UserInfo:
        private = claims.get("kubernetes.io") or {}
        namespace = private.get("namespace", "")
        account = private.get("serviceaccount") or {}
        name = account.get("name", "")
        if not namespace or not name or claims["sub"] != f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}":
            raise AuthenticationFailed("service-account token has an inconsistent subject")
        live = self.lookup("serviceaccounts", namespace, name)
        if live is None or (account.get("uid") and live["metadata"].get("uid") != account["uid"]):
            raise AuthenticationFailed(f"service account {namespace}/{name} no longer exists")
        extra: list[tuple[str, tuple[str, ...]]] = []
        if pod := private.get("pod"):
            live_pod = self.lookup("pods", namespace, pod.get("name", ""))
            if live_pod is None or live_pod["metadata"].get("uid") != pod.get("uid"):
                raise AuthenticationFailed(f"the pod {namespace}/{pod.get('name')} the token is bound to is gone")
            extra += [("authentication.kubernetes.io/pod-name", (pod["name"],)),
                      ("authentication.kubernetes.io/pod-uid", (pod.get("uid", ""),))]
        if claims.get("jti"):
            extra.append(("authentication.kubernetes.io/credential-id", (f"JTI={claims['jti']}",)))
        groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED)
        return UserInfo(claims["sub"], groups, account.get("uid", ""), tuple(extra))


# The union


class Authenticator:
    def __init__(self, tokens: dict[str, UserInfo] | None = None,
                 service_accounts: ServiceAccountTokens | None = None, insecure_is_admin: bool = False) -> None:
        self.tokens = tokens or {}
        self.service_accounts = service_accounts
        self.insecure_is_admin = insecure_is_admin

    def authenticate(self, environ: dict[str, Any], authorization: str | None) -> UserInfo | None:
        """The request's user; None when it brings no credential. Raises a 401 StatusError for bad credentials."""
        if environ.get(LISTENER) != "secure" and self.insecure_is_admin:
            return INSECURE_SUPERUSER
        failures: list[str] = []
        peer: PeerCertificate | None = environ.get(PEER_CERTIFICATE)
        if peer is not None:
            if peer.error is None:
                try:
                    return with_authenticated(user_from_certificate(peer.certificate))
                except AuthenticationFailed as exc:
                    failures.append(str(exc))
            else:
                failures.append(f"client certificate rejected: {peer.error}")
        token = _bearer(authorization)
        if token:
            try:
                return with_authenticated(self._token_user(token))
            except AuthenticationFailed as exc:
                failures.append(str(exc))
        if failures:
            log.info("unable to authenticate the request: %s", "; ".join(failures))
            raise unauthorized()
        return None

    def authenticate_token(self, token: str) -> UserInfo:
        """The user of a bearer token (a TokenReview's question); raises AuthenticationFailed."""
        return with_authenticated(self._token_user(token))

    def _token_user(self, token: str) -> UserInfo:
        for known, user in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        if self.service_accounts is not None and token.count(".") == 2:
            return self.service_accounts.verify(token)
        raise AuthenticationFailed("invalid bearer token")


def _bearer(header: str | None) -> str:
    scheme, _, value = (header or "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
