"""Label and field selectors: parse once, match many.

The API server filters every list and watch event through these, and controllers match pods against their owners'
selectors, so parsing and validation happen once and `matches()` only walks precompiled checks (no regex, no
string splitting). Syntax, canonical strings and error messages follow k8s.io/apimachinery `pkg/labels` and
`pkg/fields`, because clients show the server's messages verbatim.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from kubeling.api.errors import bad_request

# Operator spellings are upstream's `selection.Operator` values.
EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "=", "==", "!="
IN, NOT_IN, EXISTS, DOES_NOT_EXIST = "in", "notin", "exists", "!"
GREATER_THAN, LESS_THAN = "gt", "lt"
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"  # listed in parse errors, in upstream's order

Requirement = tuple[str, str, tuple[str, ...]]  # (key, operator, values)
_Check = Callable[[Mapping[str, str]], bool]
_NO_LABELS: Mapping[str, str] = {}

# --- label key and value validation (util/validation IsQualifiedName / IsValidLabelValue) ---

_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    # Upstream's RegexError, double spaces included: "(e.g. 'MyName',  or 'my.name', regex used ...)".
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


_NAME_PART_MSG = _regex_error(
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc",
)
_SUBDOMAIN_MSG = _regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character",
    _DNS1123_SUBDOMAIN_FMT, "example.com",
)
_LABEL_VALUE_MSG = _regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character",
    _LABEL_VALUE_FMT, "MyValue", "my_value", "12345",
)


def label_key_errors(key: str) -> list[str]:
    """Why `key` is not a valid label key (`[prefix/]name`); empty when it is. Messages as upstream's."""
    parts = key.split("/")
    if len(parts) > 2:
        return [f"a qualified name {_NAME_PART_MSG} with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"]
    errors = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errors.append("prefix part must be no more than 253 characters")
            if not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
                errors.append(f"prefix part {_SUBDOMAIN_MSG}")
    name = parts[-1]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errors.append(f"name part {_NAME_PART_MSG}")
    return errors


def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a valid label value; empty when it is."""
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _LABEL_VALUE_RE.fullmatch(value):
        errors.append(_LABEL_VALUE_MSG)
    return errors


def _go_quote(value: Any) -> str:
    """Render a bad value the way Go's field.Invalid does (%q for strings, %#v for string slices)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return "[]string{" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "}"


def _invalid(path: str, value: Any, detail: str) -> str:
    return f"{path}: Invalid value: {_go_quote(value)}: {detail}"


def _aggregate(errors: list[str]) -> str:
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def _is_go_int(text: str) -> bool:
    digits = text[1:] if text[:1] in ("+", "-") else text
    return digits.isascii() and digits.isdecimal()


def _requirement_errors(key: str, op: str, values: tuple[str, ...]) -> list[str]:
    """Upstream NewRequirement's checks, with its field paths (`key`, `values[i][key]`)."""
    errors = []
    if key_errors := label_key_errors(key):
        errors.append(_invalid("key", key, "; ".join(key_errors)))
    values_path = "values"
    if op in (IN, NOT_IN) and not values:
        errors.append(_invalid(values_path, values, "for 'in', 'notin' operators, values set can't be empty"))
    elif op in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        errors.append(_invalid(values_path, values, "exact-match compatibility requires one single value"))
    elif op in (EXISTS, DOES_NOT_EXIST) and values:
        errors.append(_invalid(values_path, values, "values set must be empty for exists and does not exist"))
    elif op in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errors.append(_invalid(values_path, values, "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, value in enumerate(values):
            if not _is_go_int(value):
                errors.append(_invalid(f"{values_path}[{i}]", value,
                                       "for 'Gt', 'Lt' operators, the value must be an integer"))
    for i, value in enumerate(values):
        if value_errors := label_value_errors(value):
            errors.append(_invalid(f"{values_path}[{i}][{key}]", value, "; ".join(value_errors)))
    return errors


# --- label selectors ---


def _compile(key: str, op: str, values: tuple[str, ...]) -> _Check:
    """One requirement as a closure over precomputed values: the only thing `matches` runs."""
    if op in (EXISTS, DOES_NOT_EXIST):
        return (lambda labels: key in labels) if op == EXISTS else (lambda labels: key not in labels)
    if op in (GREATER_THAN, LESS_THAN):
        bound, greater = int(values[0]), op == GREATER_THAN

        def compare(labels: Mapping[str, str]) -> bool:
            value = labels.get(key)
            if value is None or not _is_go_int(value):
                return False
            return int(value) > bound if greater else int(value) < bound

        return compare
    negate = op in (NOT_EQUALS, NOT_IN)  # true when the key is absent, as upstream
    if len(values) == 1:
        only = values[0]
        if negate:
            return lambda labels: labels.get(key) != only
        return lambda labels: labels.get(key) == only
    allowed = frozenset(values)
    if negate:
        return lambda labels: labels.get(key) not in allowed
    return lambda labels: labels.get(key) in allowed


def _requirement_string(key: str, op: str, values: tuple[str, ...]) -> str:
    if op == EXISTS:
        return key
    if op == DOES_NOT_EXIST:
        return f"!{key}"
    if op in (IN, NOT_IN):
        return f"{key} {op} ({','.join(sorted(values))})"
    symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
    return f"{key}{symbol}{values[0]}"


class LabelSelector:
    """An AND of label requirements, sorted by key as upstream does so `str()` is canonical.

    `LabelSelector.nothing()` matches no labels at all (a nil API selector); a selector without requirements
    matches everything (`empty` is true).
    """

    __slots__ = ("_checks", "_nothing", "_requirements")

    def __init__(self, requirements: Iterable[Requirement] = (), *, nothing: bool = False) -> None:
        # Values are kept sorted and unique: the parser already yields them that way, and it makes equality
        # and the string form independent of the order in an API object.
        reqs = [(key, op, tuple(sorted(set(values)))) for key, op, values in requirements]
        reqs.sort(key=lambda r: r[0])
        self._requirements: tuple[Requirement, ...] = tuple(reqs)
        self._checks: tuple[_Check, ...] = tuple(_compile(*r) for r in reqs)
        self._nothing = nothing

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls(nothing=True)

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self._nothing:
            return False
        if labels is None:
            labels = _NO_LABELS
        return all(check(labels) for check in self._checks)

    @property
    def empty(self) -> bool:
        """True when the selector matches everything."""
        return not self._nothing and not self._requirements

    def requirements(self) -> list[Requirement]:
        """(key, operator, sorted values) per requirement, sorted by key."""
        return list(self._requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The one value `key` must have (`k=v`, `k==v`, `k in (v)`), or None."""
        for req_key, op, values in self._requirements:
            if req_key == key:
                return values[0] if op in (EQUALS, DOUBLE_EQUALS, IN) and len(values) == 1 else None
        return None

    def __str__(self) -> str:
        return ",".join(_requirement_string(*r) for r in self._requirements)

    def __repr__(self) -> str:
        return "LabelSelector.nothing()" if self._nothing else f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSelector):
            return NotImplemented
        return (self._nothing, self._requirements) == (other._nothing, other._requirements)

    def __hash__(self) -> int:
        return hash((self._nothing, self._requirements))


# Token kinds of the label selector lexer; symbols and keywords are their own kind.
_ID, _END = "identifier", "end of string"
_SPECIAL = frozenset("=!(),<>")
_SYMBOLS = frozenset(["=", "==", "!=", "!", "(", ")", ",", "<", ">"])
_KEYWORDS = frozenset([IN, NOT_IN])
_WHITESPACE = frozenset(" \t\r\n")
_OPERATOR_TOKENS = {IN: IN, NOT_IN: NOT_IN, "=": EQUALS, "==": DOUBLE_EQUALS, "!=": NOT_EQUALS,
                    ">": GREATER_THAN, "<": LESS_THAN}


def _lex(text: str) -> list[tuple[str, str]]:
    """Split into (kind, literal) pairs, ending with an end-of-string token, like upstream's Lexer."""
    tokens, i, n = [], 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i == n:
            tokens.append((_END, ""))
            return tokens
        j = i + 1
        if text[i] in _SPECIAL:  # the longest run of symbol characters that is still an operator
            while j < n and text[i : j + 1] in _SYMBOLS:
                j += 1
            tokens.append((text[i:j], text[i:j]))
        else:
            while j < n and text[j] not in _SPECIAL and text[j] not in _WHITESPACE:
                j += 1
            word = text[i:j]
            tokens.append((word if word in _KEYWORDS else _ID, word))
        i = j


class _LabelParser:
    """Recursive descent over the tokens, mirroring upstream's Parser so errors read the same."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, as_value: bool = True) -> tuple[str, str]:
        kind, literal = self.tokens[self.pos]
        # `in` and `notin` are plain identifiers wherever a key or value is expected: `x in (in)`.
        return (_ID, literal) if as_value and kind in _KEYWORDS else (kind, literal)

    def take(self, as_value: bool = True) -> tuple[str, str]:
        token = self.peek(as_value)
        self.pos += 1
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, literal = self.peek()
            if kind == _END:
                return requirements
            if kind not in (_ID, "!"):
                raise bad_request(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except _SyntaxError as e:
                raise bad_request(f"unable to parse requirement: {e}") from None
            kind, literal = self.take()
            if kind == _END:
                return requirements
            if kind != ",":
                raise bad_request(f"found '{literal}', expected: ',' or 'end of string'")
            kind, literal = self.peek()
            if kind not in (_ID, "!"):
                raise bad_request(f"found '{literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        kind, key = self.take()
        negated = kind == "!"
        if negated:
            kind, key = self.take()
        if kind != _ID:
            raise _SyntaxError(f"found '{key}', expected: identifier")
        if errors := label_key_errors(key):
            raise _SyntaxError(_invalid("<nil>", key, "; ".join(errors)))
        if negated:
            return self.checked(key, DOES_NOT_EXIST, ())
        if self.peek()[0] in (_END, ","):
            return self.checked(key, EXISTS, ())
        kind, literal = self.take(as_value=False)
        op = _OPERATOR_TOKENS.get(kind)
        if op is None:
            raise _SyntaxError(f"found '{literal}', expected: {_BINARY_OPERATORS}")
        values = self.value_set() if op in (IN, NOT_IN) else self.exact_value()
        return self.checked(key, op, tuple(sorted(values)))

    @staticmethod
    def checked(key: str, op: str, values: tuple[str, ...]) -> Requirement:
        if errors := _requirement_errors(key, op, values):
            raise _SyntaxError(_aggregate(errors))
        return key, op, values

    def value_set(self) -> set[str]:
        kind, literal = self.take()
        if kind != "(":
            raise _SyntaxError(f"found '{literal}' expected: '('")
        kind, literal = self.peek()
        if kind == ")":  # `k in ()` is the set holding only the empty value
            self.take()
            return {""}
        if kind not in (_ID, ","):
            raise _SyntaxError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self.identifiers()
        self.take()  # the closing parenthesis `identifiers` stopped at
        return values

    def identifiers(self) -> set[str]:
        """A comma-separated list in which empty entries are the empty value: `(a,,b)`, `(,a)`."""
        values: set[str] = set()
        while True:
            kind, literal = self.take()
            if kind == _ID:
                values.add(literal)
                next_kind, next_literal = self.peek()
                if next_kind == ")":
                    return values
                if next_kind != ",":
                    raise _SyntaxError(f"found '{next_literal}', expected: ',' or ')'")
            elif kind == ",":
                next_kind = self.peek()[0]
                if not values or next_kind in (",", ")"):
                    values.add("")
                if next_kind == ")":
                    return values
            else:
                raise _SyntaxError(f"found '{literal}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.peek()[0] in (_END, ","):  # `k=` selects the empty value
            return {""}
        kind, literal = self.take()
        if kind != _ID:
            raise _SyntaxError(f"found '{literal}', expected: identifier")
        return {literal}


class _SyntaxError(Exception):
    """A requirement-level parse error; the parser prefixes it with 'unable to parse requirement: '."""


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the `labelSelector` query form (`a=b,c in (d,e),!f`); None or blank matches everything.

    Raises StatusError(400, BadRequest) with upstream's message on bad syntax or invalid keys and values.
    """
    if not text:
        return LabelSelector()
    return LabelSelector(_LabelParser(text).parse())


_OBJECT_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def selector_from_label_selector(sel: Mapping[str, Any] | None) -> LabelSelector:
    """Convert an API `LabelSelector` object (`matchLabels` and `matchExpressions`).

    As upstream's LabelSelectorAsSelector: None (the field is missing) matches NOTHING, so a controller without
    a selector never adopts anything, while `{}` (no terms at all) matches everything.
    Raises ValueError with a readable message for unknown operators or invalid keys and values.
    """
    if sel is None:
        return LabelSelector.nothing()
    match_labels = sel.get("matchLabels") or {}
    expressions = sel.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        raise ValueError("matchLabels must be an object and matchExpressions a list")
    requirements: list[Requirement] = []
    errors: list[str] = []
    for key, value in match_labels.items():
        if not isinstance(value, str):
            raise ValueError(f"matchLabels[{key}]: value must be a string")
        requirements.append((key, EQUALS, (value,)))
    for i, expr in enumerate(expressions):
        if not isinstance(expr, Mapping):
            raise ValueError(f"matchExpressions[{i}] must be an object")
        operator = expr.get("operator")
        if operator not in _OBJECT_OPERATORS:
            raise ValueError(f"{_go_quote(str(operator or ''))} is not a valid label selector operator")
        values = expr.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"matchExpressions[{i}].values must be a list of strings")
        requirements.append((str(expr.get("key") or ""), _OBJECT_OPERATORS[operator], tuple(values)))
    for key, op, values in requirements:
        errors += _requirement_errors(key, op, values)
    if errors:
        raise ValueError(_aggregate(errors))
    return LabelSelector(requirements)


def label_selector_string(sel: Mapping[str, Any] | None) -> str:
    """The query form of an API LabelSelector, e.g. `app=web` for Scale `status.selector`; "" for none."""
    return str(selector_from_label_selector(sel))


# --- field selectors ---

# Selectable names that are not plain paths into the object (upstream's per-type ToSelectableFields).
_FIELD_PATHS = {"source": "source.component", "status.successful": "status.succeeded"}
# Upstream formats these from non-pointer Go fields, so an absent value reads as the zero value.
_FIELD_DEFAULTS = {"spec.unschedulable": "false", "spec.hostNetwork": "false", "status.successful": "0",
                   "status.replicas": "0"}


def _render(value: Any, default: str) -> str:
    if value is None:
        return default
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return default  # maps and lists are never selectable


def _field_reader(path: str) -> Callable[[Mapping[str, Any]], str]:
    parts = tuple(_FIELD_PATHS.get(path, path).split("."))
    default = _FIELD_DEFAULTS.get(path, "")

    def read(obj: Mapping[str, Any]) -> str:
        value: Any = obj
        for part in parts:
            if not isinstance(value, Mapping):
                return default
            value = value.get(part)
        return _render(value, default)

    return read


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string a field selector compares for `path` ("" when missing, booleans as "true"/"false")."""
    return _field_reader(path)(obj)


def _escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


class FieldSelector:
    """An AND of `field=value` / `field!=value` terms; values compare as strings."""

    __slots__ = ("_checks", "_requirements")

    def __init__(self, requirements: Iterable[tuple[str, str, str]] = ()) -> None:
        self._requirements = tuple(requirements)
        self._checks = tuple((_field_reader(f), op == NOT_EQUALS, v) for f, op, v in self._requirements)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((read(obj) == value) != negate for read, negate, value in self._checks)

    @property
    def empty(self) -> bool:
        return not self._requirements

    def requirements(self) -> list[tuple[str, str, str]]:
        """(field, "=" or "!=", value) per term, in upstream's order (sorted by the raw term text)."""
        return list(self._requirements)

    def requires_exact_match(self, field: str) -> str | None:
        """The value an `=` term demands of `field` (e.g. kubectl's `metadata.name=x`), or None."""
        for name, op, value in self._requirements:
            if name == field and op == EQUALS:
                return value
        return None

    def __str__(self) -> str:
        return ",".join(f"{f}{op}{_escape_field_value(v)}" for f, op, v in self._requirements)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"


def _split_unescaped(text: str, separator: str) -> list[str]:
    """Split on `separator` except where a backslash escapes it; the escapes stay in the pieces."""
    pieces, start, escaped = [], 0, False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    return pieces


def _unescape_field_value(value: str) -> str:
    out, escaped = [], False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise bad_request(f"invalid field selector: invalid escape sequence: \\{char}")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            # Upstream formats the rune with %v, which prints its code point.
            raise bad_request(f"invalid field selector: unescaped character in value: {ord(char)}")
        else:
            out.append(char)
    if escaped:
        raise bad_request("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_term(term: str) -> tuple[str, str, str] | None:
    # The field name cannot be escaped, so the first operator found splits; `!=` and `==` win over `=`.
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def parse_field_selector(text: str | None, allowed: Collection[str]) -> FieldSelector:
    """Parse the `fieldSelector` query form (`a=b,c!=d`, values backslash-escaped), checking names against
    `allowed` (e.g. a resource strategy's `field_selectors`).

    Raises StatusError(400, BadRequest): syntax errors first, then `field label not supported: <field>`.
    """
    if not text:
        return FieldSelector()
    requirements = []
    for term in sorted(_split_unescaped(text, ",")):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, op, value = split
        requirements.append((field, NOT_EQUALS if op == NOT_EQUALS else EQUALS, _unescape_field_value(value)))
    for field, _, _ in requirements:
        if field not in allowed:
            raise bad_request(f"field label not supported: {field}")
    return FieldSelector(requirements)

