import time

import pytest

from kubeling.api import selectors
from kubeling.api.errors import StatusError
from kubeling.api.selectors import (
    FieldSelector,
    LabelSelector,
    field_value,
    label_selector_string,
    parse_field_selector,
    parse_label_selector,
    selector_from_label_selector,
)

POD_FIELDS = {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"}


def bad_request_message(fn, *args) -> str:
    with pytest.raises(StatusError) as info:
        fn(*args)
    assert info.value.code == 400
    assert info.value.reason == "BadRequest"
    return info.value.message


# --- label selectors: operators ---


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app=web", {}, False),
        ("app==web", {"app": "web"}, True),
        ("app!=web", {"app": "db"}, True),
        ("app!=web", {"app": "web"}, False),
        ("app!=web", {}, True),  # true when the key is absent
        ("env in (prod,staging)", {"env": "prod"}, True),
        ("env in (prod,staging)", {"env": "dev"}, False),
        ("env in (prod,staging)", {}, False),
        ("env notin (prod,staging)", {"env": "dev"}, True),
        ("env notin (prod,staging)", {"env": "prod"}, False),
        ("env notin (prod,staging)", {}, True),  # true when absent
        ("tier", {"tier": ""}, True),
        ("tier", {}, False),
        ("!tier", {}, True),
        ("!tier", {"tier": "x"}, False),
        ("app=", {"app": ""}, True),
        ("app=", {"app": "web"}, False),
        ("app=web,tier", {"app": "web", "tier": "fe"}, True),
        ("app=web,tier", {"app": "web"}, False),
        ("replicas>2", {"replicas": "3"}, True),
        ("replicas>2", {"replicas": "2"}, False),
        ("replicas<2", {"replicas": "1"}, True),
        ("replicas<2", {"replicas": "abc"}, False),
        ("replicas<2", {}, False),
    ],
)
def test_label_operators(text, labels, expected):
    assert parse_label_selector(text).matches(labels) is expected


def test_in_with_empty_parentheses_selects_the_empty_value():
    # Upstream parses `k in ()` as the set {""}.
    selector = parse_label_selector("k in ()")
    assert selector.requirements() == [("k", "in", ("",))]
    assert selector.matches({"k": ""})
    assert not selector.matches({"k": "a"})
    assert not selector.matches({})
    assert parse_label_selector("k notin ()").matches({})


def test_empty_entries_in_a_value_list_are_the_empty_value():
    assert parse_label_selector("x in (foo,,baz)").requirements() == [("x", "in", ("", "baz", "foo"))]
    assert parse_label_selector("x in (,a)").requirements() == [("x", "in", ("", "a"))]


def test_keywords_are_plain_identifiers_as_keys_and_values():
    assert parse_label_selector("in in (in,notin)").matches({"in": "notin"})
    assert parse_label_selector("notin=in").matches({"notin": "in"})


def test_none_labels_are_treated_as_no_labels():
    assert parse_label_selector("!a").matches(None)
    assert not parse_label_selector("a").matches(None)
    assert parse_label_selector("").matches(None)


def test_empty_and_blank_selectors_match_everything():
    for text in (None, "", "   "):
        selector = parse_label_selector(text)
        assert selector.empty
        assert selector.matches({"any": "thing"})
        assert str(selector) == ""


def test_whitespace_is_tolerated():
    selector = parse_label_selector("  app = web ,\tenv  in ( a , b ) , ! gone ")
    assert str(selector) == "app=web,env in (a,b),!gone"
    assert selector.matches({"app": "web", "env": "b"})


def test_prefixed_keys():
    selector = parse_label_selector("app.kubernetes.io/name=web")
    assert selector.matches({"app.kubernetes.io/name": "web"})


# --- label selectors: canonical strings ---


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("b=2,a=1", "a=1,b=2"),
        ("z,!y,x!=1", "x!=1,!y,z"),
        ("env in (b,a,c)", "env in (a,b,c)"),
        ("env notin(c,a)", "env notin (a,c)"),
        ("app==web", "app==web"),  # upstream keeps `==` in String()
        ("n>5", "n>5"),
        ("n<5", "n<5"),
    ],
)
def test_canonical_string(text, canonical):
    assert str(parse_label_selector(text)) == canonical
    assert str(parse_label_selector(canonical)) == canonical


def test_requirements_listing_is_sorted_by_key():
    assert parse_label_selector("tier,app=web,!x").requirements() == [
        ("app", "=", ("web",)),
        ("tier", "exists", ()),
        ("x", "!", ()),
    ]


def test_requires_exact_match():
    selector = parse_label_selector("app=web,env in (prod),tier in (a,b)")
    assert selector.requires_exact_match("app") == "web"
    assert selector.requires_exact_match("env") == "prod"
    assert selector.requires_exact_match("tier") is None
    assert selector.requires_exact_match("other") is None


def test_selectors_compare_by_meaning():
    assert parse_label_selector("b=2, a=1") == parse_label_selector("a=1,b=2")
    assert parse_label_selector("a=1") != parse_label_selector("a!=1")


# --- label selectors: errors ---


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a=(", "unable to parse requirement: found '(', expected: identifier"),
        ("! =a", "unable to parse requirement: found '=', expected: identifier"),
        ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
        ("a>x", 'unable to parse requirement: values[0]: Invalid value: "x": '
                "for 'Gt', 'Lt' operators, the value must be an integer"),
        ("a=b,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        ("=a", "found '=', expected: !, identifier, or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ],
)
def test_label_syntax_errors(text, message):
    assert bad_request_message(parse_label_selector, text) == message


def test_invalid_label_key_message():
    message = bad_request_message(parse_label_selector, "-a=b")
    assert message.startswith('unable to parse requirement: <nil>: Invalid value: "-a": name part must consist of ')
    assert "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'" in message
    assert "prefix part a lowercase RFC 1123 subdomain" in bad_request_message(parse_label_selector, "Ex.com/a")
    assert "name part must be no more than 63 characters" in bad_request_message(parse_label_selector, "a" * 64)


def test_invalid_label_value_message():
    message = bad_request_message(parse_label_selector, "app in (ok,-bad)")
    assert message.startswith('unable to parse requirement: values[0][app]: Invalid value: "-bad": a valid label must')
    assert "must be no more than 63 characters" in bad_request_message(parse_label_selector, "a=" + "v" * 64)


# --- label selectors: the API object form ---


def test_object_form_none_matches_nothing_and_empty_matches_everything():
    nothing = selector_from_label_selector(None)
    assert not nothing.matches({})
    assert not nothing.matches({"app": "web"})
    assert not nothing.empty
    everything = selector_from_label_selector({})
    assert everything.empty
    assert everything.matches({})
    assert everything.matches({"app": "web"})
    assert selector_from_label_selector({"matchLabels": {}, "matchExpressions": []}).empty


def test_object_form_match_labels_and_expressions():
    selector = selector_from_label_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "canary"]},
                {"key": "track", "operator": "NotIn", "values": ["legacy"]},
                {"key": "tier", "operator": "Exists"},
                {"key": "debug", "operator": "DoesNotExist", "values": []},
            ],
        }
    )
    assert selector.matches({"app": "web", "env": "canary", "tier": "fe"})
    assert not selector.matches({"app": "web", "env": "canary", "tier": "fe", "debug": "1"})
    assert not selector.matches({"app": "web", "env": "canary", "tier": "fe", "track": "legacy"})
    assert not selector.matches({"app": "web", "env": "dev", "tier": "fe"})
    assert str(selector) == "app=web,!debug,env in (canary,prod),tier,track notin (legacy)"


def test_object_form_errors_are_readable_value_errors():
    with pytest.raises(ValueError, match='"Equals" is not a valid label selector operator'):
        selector_from_label_selector({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]})
    with pytest.raises(ValueError, match="values set can't be empty"):
        selector_from_label_selector({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})
    with pytest.raises(ValueError, match="values set must be empty for exists"):
        selector_from_label_selector({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]})
    with pytest.raises(ValueError, match='key: Invalid value: "bad key"'):
        selector_from_label_selector({"matchLabels": {"bad key": "x"}})
    with pytest.raises(ValueError, match=r"values\[0\]\[app\]: Invalid value: \"no good\""):
        selector_from_label_selector({"matchLabels": {"app": "no good"}})


def test_label_selector_string():
    assert label_selector_string({"matchLabels": {"app": "web"}}) == "app=web"
    assert label_selector_string({"matchLabels": {"tier": "fe", "app": "web"}}) == "app=web,tier=fe"
    assert label_selector_string(
        {"matchExpressions": [{"key": "env", "operator": "In", "values": ["b", "a"]}]}
    ) == "env in (a,b)"
    assert label_selector_string({}) == ""


# --- field selectors ---


POD = {
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "node-a"},
    "status": {"phase": "Running"},
}


def test_field_equals_and_not_equals():
    assert parse_field_selector("metadata.name=web-1", POD_FIELDS).matches(POD)
    assert parse_field_selector("metadata.name==web-1", POD_FIELDS).matches(POD)
    assert not parse_field_selector("metadata.name=web-2", POD_FIELDS).matches(POD)
    assert parse_field_selector("status.phase!=Pending", POD_FIELDS).matches(POD)
    assert not parse_field_selector("status.phase!=Running", POD_FIELDS).matches(POD)


def test_field_commas_are_and():
    selector = parse_field_selector("metadata.namespace=default,spec.nodeName=node-a", POD_FIELDS)
    assert selector.matches(POD)
    assert not selector.matches({**POD, "spec": {"nodeName": "node-b"}})
    assert selector.requirements() == [("metadata.namespace", "=", "default"), ("spec.nodeName", "=", "node-a")]


def test_missing_fields_read_as_empty():
    unscheduled = {"metadata": {"name": "p"}, "spec": {}}
    assert parse_field_selector("spec.nodeName=", POD_FIELDS).matches(unscheduled)
    assert parse_field_selector("spec.nodeName!=", POD_FIELDS).matches(POD)
    assert not parse_field_selector("spec.nodeName!=", POD_FIELDS).matches(unscheduled)
    assert parse_field_selector("status.phase!=Running", POD_FIELDS).matches(unscheduled)  # != on a missing field


def test_empty_field_selector_matches_everything():
    for text in (None, ""):
        selector = parse_field_selector(text, POD_FIELDS)
        assert selector.empty
        assert selector.matches({})


def test_field_escapes():
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d", POD_FIELDS)
    assert selector.requirements() == [("metadata.name", "=", "a,b=c\\d")]
    assert selector.matches({"metadata": {"name": "a,b=c\\d"}})
    assert str(selector) == r"metadata.name=a\,b\=c\\d"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("status.phase=Running,oops", "invalid selector: 'status.phase=Running,oops'; can't understand 'oops'"),
        (r"metadata.name=a\x", r"invalid field selector: invalid escape sequence: \x"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
        ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
    ],
)
def test_field_syntax_errors(text, message):
    assert bad_request_message(parse_field_selector, text, POD_FIELDS) == message


def test_unsupported_field_is_a_bad_request():
    assert bad_request_message(parse_field_selector, "spec.hostname=x", POD_FIELDS) == (
        "field label not supported: spec.hostname"
    )
    # Fields are not trimmed, as upstream.
    assert bad_request_message(parse_field_selector, "metadata.name =x", POD_FIELDS) == (
        "field label not supported: metadata.name "
    )


def test_field_requires_exact_match():
    selector = parse_field_selector("metadata.name=web,status.phase!=Failed", POD_FIELDS)
    assert selector.requires_exact_match("metadata.name") == "web"
    assert selector.requires_exact_match("status.phase") is None


def test_field_value_rendering():
    assert field_value(POD, "spec.nodeName") == "node-a"
    assert field_value({}, "spec.nodeName") == ""
    assert field_value({"spec": "not-a-map"}, "spec.nodeName") == ""
    assert field_value({"spec": {"unschedulable": True}}, "spec.unschedulable") == "true"
    assert field_value({"spec": {}}, "spec.unschedulable") == "false"  # upstream formats the zero value
    assert field_value({"status": {"succeeded": 3}}, "status.successful") == "3"
    assert field_value({"status": {}}, "status.successful") == "0"
    assert field_value({"source": {"component": "kubelet", "host": "n1"}}, "source") == "kubelet"


def test_boolean_and_integer_fields_match_as_strings():
    node = {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}}
    allowed = {"metadata.name", "spec.unschedulable"}
    assert parse_field_selector("spec.unschedulable=true", allowed).matches(node)
    assert parse_field_selector("spec.unschedulable=false", allowed).matches({"spec": {}})
    job = {"status": {"succeeded": 1}}
    assert parse_field_selector("status.successful=1", {"status.successful"}).matches(job)


# --- performance: parse once, match many ---


def test_matching_uses_only_precomputed_checks(monkeypatch):
    selector = parse_label_selector("app=web,env in (prod,staging),!debug")
    fields = parse_field_selector("metadata.namespace=default,spec.nodeName!=", POD_FIELDS)

    def no_validation(*args):
        raise AssertionError("matching must not validate or parse")

    # Validation (the regexes) and lexing are parse-time only.
    for name in ("label_key_errors", "label_value_errors", "_lex", "_split_unescaped", "_unescape_field_value"):
        monkeypatch.setattr(selectors, name, no_validation)

    label_sets = [
        {"app": "web" if i % 2 else "db", "env": ("prod", "staging", "dev")[i % 3], "pod-template-hash": str(i)}
        for i in range(10_000)
    ]
    start = time.perf_counter()
    matched = sum(selector.matches(labels) for labels in label_sets)
    elapsed = time.perf_counter() - start
    assert matched == sum(1 for i in range(10_000) if i % 2 and i % 3 != 2)
    assert elapsed < 0.5, f"10k matches took {elapsed:.3f}s"

    assert all(fields.matches(POD) for _ in range(1000))


def test_selector_objects_are_plain_values():
    assert isinstance(LabelSelector.everything(), LabelSelector)
    assert LabelSelector.nothing() == selector_from_label_selector(None)
    assert FieldSelector().empty
    assert repr(parse_label_selector("a=b")) == "LabelSelector('a=b')"
