"""The security filter every request passes (authenticate, then authorize) and the API's access endpoints:
SelfSubjectAccessReview (`kubectl auth can-i`), SelfSubjectReview (`kubectl auth whoami`), TokenReview and
(Local)SubjectAccessReview (what webhooks and aggregated servers ask), and TokenRequest (`kubectl create token`,
and the kubelet's projected service-account tokens).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, request

from kubeling.api import errors, meta
from kubeling.api.rbac import ANONYMOUS, MASTERS, UNAUTHENTICATED, Attributes, UserInfo, request_attributes
from kubeling.api.resources import ResourceType, lookup
from kubeling.api.types import Obj
from kubeling.apiserver.authn import (
    AuthenticationFailed,
    Authenticator,
    ServiceAccountTokens,
    load_token_file,
    unauthorized,
)
from kubeling.apiserver.authz import Authorizer, parse_modes
from kubeling.apiserver.registry import Registry
from kubeling.storage.store import Store

# What anyone may read without a credential, so that health checks and the kubectl dispatcher's version probe work.
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})
ANONYMOUS_USER = UserInfo(ANONYMOUS, (UNAUTHENTICATED,))
MIN_TOKEN_SECONDS = 600
DEFAULT_TOKEN_SECONDS = 3600


def build(config: dict[str, Any], store: Store, hubs: dict[str, Any]) -> tuple[Authenticator, Authorizer,
                                                                               ServiceAccountTokens | None]:
    """The authenticator, authorizer and token issuer the configuration asks for (app.py's DEFAULTS name them)."""
    tokens: ServiceAccountTokens | None = None
    if config["SERVICE_ACCOUNT_SIGNING_KEY_FILE"] or config["SERVICE_ACCOUNT_KEY_FILES"]:
        def live(resource: str, namespace: str, name: str) -> Obj | None:
            return store.try_get(lookup("", resource), namespace, name)

        tokens = ServiceAccountTokens(
            config["SERVICE_ACCOUNT_ISSUER"], config["SERVICE_ACCOUNT_SIGNING_KEY_FILE"] or None,
            list(config["SERVICE_ACCOUNT_KEY_FILES"]), live, list(config["API_AUDIENCES"]) or None,
            int(config["SERVICE_ACCOUNT_MAX_TOKEN_EXPIRATION"]),
        )
    static = load_token_file(config["TOKEN_AUTH_FILE"]) if config["TOKEN_AUTH_FILE"] else {}
    authenticator = Authenticator(static, tokens, insecure_is_admin=bool(config["INSECURE_IS_ADMIN"]))
    authorizer = Authorizer(parse_modes(",".join(config["AUTHORIZATION_MODES"])), store, hubs)
    return authenticator, authorizer, tokens


def install(app: Flask, authenticator: Authenticator, authorizer: Authorizer,
            tokens: ServiceAccountTokens | None) -> None:
    app.extensions["kubeling.authenticator"] = authenticator
    app.extensions["kubeling.authorizer"] = authorizer
    app.extensions["kubeling.tokens"] = tokens
    app.before_request(check_request)


def check_request() -> None:
    """Set `g.user`, or raise 401 (no or bad credential) or 403 (not allowed)."""
    extensions, environ = current_app.extensions, request.environ
    authenticator: Authenticator = extensions["kubeling.authenticator"]
    user = authenticator.authenticate(environ, environ.get("HTTP_AUTHORIZATION"))
    public = request.path in PUBLIC_PATHS
    if user is None:
        if not public:
            raise unauthorized()
        user = ANONYMOUS_USER
    g.user = user
    authorizer: Authorizer = extensions["kubeling.authorizer"]
    if public or MASTERS in user.groups or authorizer.always_allow:
        return  # the common cases cost nothing more
    authorizer.check(user, request_attributes(request.method, request.path, request.args.to_dict(flat=False)))


def current_user() -> UserInfo:
    return g.get("user") or ANONYMOUS_USER


def admit_create(rtype: ResourceType, namespace: str | None, body: Obj) -> None:
    """Admission checks on a create that need the object itself (a kubelet creating its own Node or Lease)."""
    authorizer: Authorizer | None = current_app.extensions.get("kubeling.authorizer")
    if authorizer is None:
        return
    attrs = Attributes(verb="create", resource_request=True, api_group=rtype.group, api_version=rtype.version,
                       namespace=namespace or "", resource=rtype.plural)
    authorizer.admit_create(current_user(), attrs, body)


# Reviews


# Reviews are not stored objects, so they have no strategy: like upstream's
# `pkg/registry/authorization/selfsubjectaccessreview/rest.go`, each is a create that answers and forgets.


def create_review(rtype: ResourceType, namespace: str | None, body: Obj) -> Obj:
    """POST to a create-only resource (`ResourceType.create_only`): the answer to the review in `body`."""
    review = REVIEWS.get((rtype.group, rtype.plural))
    if review is None:
        raise errors.StatusError(405, "the server does not allow this method on the requested resource")
    if not isinstance(body, dict):
        raise errors.bad_request(f"a {rtype.kind} must be a JSON object")
    return review(body, namespace or "")


def self_subject_review(body: Obj, namespace: str) -> Obj:
    """`kubectl auth whoami` (upstream's `pkg/registry/authentication/selfsubjectreview/rest.go`)."""
    return {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": meta.now()}, "status": {"userInfo": current_user().to_json()}}


def token_review(body: Obj, namespace: str) -> Obj:
    """Who does this bearer token belong to? (upstream's `pkg/registry/authentication/tokenreview/storage.go`):
    what webhook token authenticators and aggregated API servers ask. A bad token is an answer
    (`authenticated: false` and the error), not a failed request."""
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise errors.bad_request("token is required for TokenReview in authentication")
    authenticator: Authenticator = current_app.extensions["kubeling.authenticator"]
    status: Obj
    try:
        user = authenticator.authenticate_token(token)
    except AuthenticationFailed as exc:
        status = {"user": {}, "error": str(exc)}
    else:
        audiences = [str(a) for a in spec.get("audiences") or []]
        status = {"authenticated": True, "user": user.to_json()}
        if audiences:
            status["audiences"] = audiences
    return {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}


def _review_attributes(kind: str, spec: Obj) -> Attributes:
    """The request a SubjectAccessReview of any flavour asks about (exactly one of its two attribute sets)."""
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if bool(resource) == bool(non_resource):
        raise errors.invalid(kind, "authorization.k8s.io", "", [errors.cause(
            "spec.resourceAttributes", "Invalid value: \"null\": exactly one of nonResourceAttributes or "
            "resourceAttributes must be specified")])
    if resource:
        return Attributes(verb=str(resource.get("verb", "")), resource_request=True,
                          api_group=str(resource.get("group", "")), api_version=str(resource.get("version", "")),
                          namespace=str(resource.get("namespace", "")), resource=str(resource.get("resource", "")),
                          subresource=str(resource.get("subresource", "")), name=str(resource.get("name", "")))
    return Attributes(verb=str(non_resource.get("verb", "")), resource_request=False,
                      path=str(non_resource.get("path", "")))


def _answer(kind: str, user: UserInfo, attrs: Attributes, spec: Obj, namespace: str) -> Obj:
    authorizer: Authorizer = current_app.extensions["kubeling.authorizer"]
    decision = authorizer.authorize(user, attrs)
    status: Obj = {"allowed": bool(decision.allowed)}
    if decision.allowed is False and decision.message:
        status["denied"] = True
    if decision.reason:
        status["reason"] = decision.reason
    metadata: Obj = {"creationTimestamp": None}
    if namespace:
        metadata["namespace"] = namespace
    return {"kind": kind, "apiVersion": "authorization.k8s.io/v1", "metadata": metadata, "spec": spec,
            "status": status}


def self_subject_access_review(body: Obj, namespace: str) -> Obj:
    """`kubectl auth can-i` (upstream's `pkg/registry/authorization/selfsubjectaccessreview/rest.go`)."""
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    attrs = _review_attributes("SelfSubjectAccessReview", spec)
    return _answer("SelfSubjectAccessReview", current_user(), attrs, spec, "")


def _reviewed_user(kind: str, spec: Obj) -> UserInfo:
    """The user a SubjectAccessReview asks about, as its spec names them (upstream's
    `pkg/registry/authorization/util/helpers.go`, ResourceAttributesFrom and the user info)."""
    user, groups = spec.get("user") or "", spec.get("groups") or []
    if not user and not groups:
        raise errors.invalid(kind, "authorization.k8s.io", "", [errors.cause(
            "spec.user", 'Invalid value: "": at least one of user or group must be specified')])
    extra = spec.get("extra") if isinstance(spec.get("extra"), dict) else {}
    return UserInfo(str(user), tuple(str(g) for g in groups), str(spec.get("uid") or ""),
                    tuple((str(k), tuple(str(v) for v in values or ())) for k, values in extra.items()))


def subject_access_review(body: Obj, namespace: str) -> Obj:
    """May this user do this? (upstream's `pkg/registry/authorization/subjectaccessreview/rest.go`): asked by
    webhooks and aggregated API servers, and `kubectl auth can-i --as`."""
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    attrs = _review_attributes("SubjectAccessReview", spec)
    return _answer("SubjectAccessReview", _reviewed_user("SubjectAccessReview", spec), attrs, spec, "")


def local_subject_access_review(body: Obj, namespace: str) -> Obj:
    """A SubjectAccessReview about one namespace (upstream's
    `pkg/registry/authorization/localsubjectaccessreview/rest.go`): its resource attributes must be in it."""
    kind = "LocalSubjectAccessReview"
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    resource = spec.get("resourceAttributes")
    if not isinstance(resource, dict) or spec.get("nonResourceAttributes"):
        raise errors.invalid(kind, "authorization.k8s.io", "", [errors.cause(
            "spec.nonResourceAttributes", "Invalid value: \"null\": disallowed on this kind of request")])
    if resource.get("namespace") and resource["namespace"] != namespace:
        raise errors.bad_request(f"spec.resourceAttributes.namespace must match namespace: {namespace}")
    resource["namespace"] = namespace
    attrs = _review_attributes(kind, spec)
    return _answer(kind, _reviewed_user(kind, spec), attrs, spec, namespace)


REVIEWS: dict[tuple[str, str], Callable[[Obj, str], Obj]] = {
    ("authorization.k8s.io", "selfsubjectaccessreviews"): self_subject_access_review,
    ("authorization.k8s.io", "subjectaccessreviews"): subject_access_review,
    ("authorization.k8s.io", "localsubjectaccessreviews"): local_subject_access_review,
    ("authentication.k8s.io", "selfsubjectreviews"): self_subject_review,
    ("authentication.k8s.io", "tokenreviews"): token_review,
}


# TokenRequest


def token_request(registry: Registry, namespace: str, name: str, body: Obj) -> Obj:
    tokens: ServiceAccountTokens | None = current_app.extensions.get("kubeling.tokens")
    if tokens is None or not tokens.can_issue:
        raise errors.StatusError(404, "the server could not find the requested resource", "NotFound")
    account = registry.get(lookup("", "serviceaccounts"), namespace, name)
    spec = dict(body.get("spec") or {}) if isinstance(body.get("spec"), dict) else {}
    seconds = spec.get("expirationSeconds") or DEFAULT_TOKEN_SECONDS
    if not isinstance(seconds, int) or seconds < MIN_TOKEN_SECONDS:
        raise _invalid_token_request(name, f"Invalid value: {seconds}: may not specify a duration less than 10 "
                                           "minutes")
    if seconds > 1 << 32:
        raise _invalid_token_request(name, f"Invalid value: {seconds}: may not specify a duration larger than 2^32 "
                                           "seconds")
    if tokens.max_expiration:
        seconds = min(seconds, tokens.max_expiration)
    audiences = [str(a) for a in spec.get("audiences") or []] or list(tokens.audiences)
    bound = _bound_object(registry, namespace, spec.get("boundObjectRef"))
    token, expires = tokens.issue(account, audiences, seconds, bound)
    spec.update({"audiences": audiences, "expirationSeconds": seconds})
    spec.setdefault("boundObjectRef", None)
    expiry = datetime.datetime.fromtimestamp(expires, datetime.UTC)
    return {
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": meta.now()},
        "spec": spec, "status": {"token": token, "expirationTimestamp": meta.format_time(expiry)},
    }


def _invalid_token_request(name: str, message: str) -> errors.StatusError:
    return errors.invalid("TokenRequest", "authentication.k8s.io", name, [errors.cause("spec.expirationSeconds",
                                                                                      message)])


def _bound_object(registry: Registry, namespace: str, ref: Any) -> Obj | None:
    """The pod a token is bound to (it dies with the pod), checked against the uid the caller expects."""
    if not isinstance(ref, dict) or not ref:
        return None
    kind = ref.get("kind")
    if kind != "Pod":
        raise errors.bad_request(f"cannot bind token to object of type {ref.get('apiVersion', 'v1')}, Kind={kind}")
    pod = registry.get(lookup("", "pods"), namespace, str(ref.get("name", "")))
    uid = ref.get("uid")
    if uid and uid != pod["metadata"].get("uid"):
        raise errors.conflict("pods", "", pod["metadata"]["name"],
                              f"the UID in the bound object reference ({uid}) does not match the UID in record. The "
                              "object might have been deleted and then recreated")
    return pod
