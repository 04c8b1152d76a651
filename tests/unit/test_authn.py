"""Authentication without a server: token files, service-account JWTs, certificate subjects, the union's rules."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from cryptography import x509

from kubeling.api import errors
from kubeling.api.rbac import UserInfo
from kubeling.apiserver.authn import (
    LISTENER,
    PEER_CERTIFICATE,
    Authenticator,
    PeerCertificate,
    ServiceAccountTokens,
    load_token_file,
)
from support.pki import CA, signing_key

ACCOUNT = {"metadata": {"name": "robot", "namespace": "ns", "uid": "uid-1"}}


def certificate(pair) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pair.cert.read_bytes())


def test_token_file_reads_upstreams_csv(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text('t1,alice,1,"dev,ops"\nt2, bob, 2\n\n')
    users = load_token_file(str(path))
    assert (users["t1"].name, users["t1"].uid, users["t1"].groups) == ("alice", "1", ("dev", "ops"))
    assert (users["t2"].name, users["t2"].groups) == ("bob", ())
    path.write_text("t3,carol\n")
    with pytest.raises(ValueError, match="at least 3 columns"):
        load_token_file(str(path))


def test_certificates_name_users_and_groups(tmp_path: Path) -> None:
    ca = CA.create(tmp_path, "ca")
    auth = Authenticator()
    environ = {LISTENER: "secure", PEER_CERTIFICATE: PeerCertificate(certificate(ca.issue("alice", ["dev", "qa"])))}
    user = auth.authenticate(environ, None)
    assert (user.name, user.groups) == ("alice", ("dev", "qa", "system:authenticated"))
    # A certificate that failed verification is a 401, even with nothing else presented.
    bad = {LISTENER: "secure", PEER_CERTIFICATE: PeerCertificate(certificate(ca.issue("x")), "certificate has expired")}
    with pytest.raises(errors.StatusError) as refused:
        auth.authenticate(bad, None)
    assert (refused.value.code, refused.value.reason) == (401, "Unauthorized")
    expired = {LISTENER: "secure", PEER_CERTIFICATE: PeerCertificate(certificate(ca.issue("y", expired=True)))}
    with pytest.raises(errors.StatusError):
        auth.authenticate(expired, None)


def test_the_union_and_the_insecure_port(tmp_path: Path) -> None:
    tokens = {"good": UserInfo("bob", ("dev",))}
    auth = Authenticator(tokens)
    assert auth.authenticate({LISTENER: "secure"}, None) is None  # anonymous: the caller decides
    assert auth.authenticate({LISTENER: "secure"}, "Bearer good").name == "bob"
    with pytest.raises(errors.StatusError):
        auth.authenticate({LISTENER: "secure"}, "Bearer wrong")
    # The plain port is the superuser only when the operator says so.
    assert auth.authenticate({LISTENER: "insecure"}, None) is None
    admin = Authenticator(insecure_is_admin=True).authenticate({LISTENER: "insecure"}, None)
    assert (admin.name, "system:masters" in admin.groups) == ("system:admin", True)
    assert Authenticator(insecure_is_admin=True).authenticate({LISTENER: "secure"}, None) is None


def service_accounts(tmp_path: Path, live: dict | None = None) -> ServiceAccountTokens:
    private, public = signing_key(tmp_path / "sa")
    objects = {("serviceaccounts", "ns", "robot"): ACCOUNT} if live is None else live
    return ServiceAccountTokens("https://issuer.test", str(private), [str(public)],
                                lambda resource, ns, name: objects.get((resource, ns, name)))


def test_service_account_tokens_round_trip(tmp_path: Path) -> None:
    tokens = service_accounts(tmp_path)
    token, _ = tokens.issue(ACCOUNT, ["https://issuer.test"], 3600)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "system:serviceaccount:ns:robot" and claims["iss"] == "https://issuer.test"
    assert claims["kubernetes.io"]["serviceaccount"] == {"name": "robot", "uid": "uid-1"}
    user = tokens.verify(token)
    assert user.name == "system:serviceaccount:ns:robot"
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated")


def test_service_account_tokens_are_refused_when_wrong(tmp_path: Path) -> None:
    from kubeling.apiserver.authn import AuthenticationFailed

    live: dict = {("serviceaccounts", "ns", "robot"): ACCOUNT}
    tokens = service_accounts(tmp_path, live)
    (tmp_path / "other").mkdir()
    other = service_accounts(tmp_path / "other", live)
    foreign, _ = other.issue(ACCOUNT, ["https://issuer.test"], 3600)
    with pytest.raises(AuthenticationFailed):
        tokens.verify(foreign)  # signed by another key
    wrong_audience, _ = tokens.issue(ACCOUNT, ["https://elsewhere"], 3600)
    with pytest.raises(AuthenticationFailed):
        tokens.verify(wrong_audience)
    expired, _ = tokens.issue(ACCOUNT, ["https://issuer.test"], -10)
    with pytest.raises(AuthenticationFailed):
        tokens.verify(expired)
    good, _ = tokens.issue(ACCOUNT, ["https://issuer.test"], 3600)
    live[("serviceaccounts", "ns", "robot")] = {"metadata": {**ACCOUNT["metadata"], "uid": "uid-2"}}  # recreated
    with pytest.raises(AuthenticationFailed):
        tokens.verify(good)
