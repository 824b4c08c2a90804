"""A small validator built from the spec's TypeScript interfaces (``spec_interfaces.ts``, copied verbatim).

It understands what those interfaces use: ``interface Name { field?: type; }``,
``string``/``number``/``boolean``/``any``, ``T[]``, unions of string literals,
inline object types, ``Record<string, T>``, ``Partial<T>`` and references to
other interfaces. :func:`check` returns every mismatch of a JSON value against
an interface (missing required keys, wrong types, values outside an enum,
keys the interface doesn't have, dates not in ISO-8601 UTC with ``Z``).

WedSync's documented additions (extra keys, the ``queued`` run state, the
nullable ``syncStats`` dates) are passed in explicitly by the tests, so that an
undocumented addition still fails.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).with_name("spec_interfaces.ts")


@dataclass
class T:
    kind: str  # string number boolean any literal union array object record ref partial
    of: object = None
    fields: dict = field(default_factory=dict)  # name -> (T, optional)


class _Parser:
    def __init__(self, text: str):
        text = re.sub(r"//[^\n]*", "", text)
        self.tokens = re.findall(r"'[^']*'|\"[^\"]*\"|[A-Za-z_@][\w.@]*|\[\]|[{}()<>;:?|,\[\]]", text)
        self.i = 0

    def peek(self, n=0):
        return self.tokens[self.i + n] if self.i + n < len(self.tokens) else None

    def take(self, expected=None):
        token = self.tokens[self.i]
        if expected is not None and token != expected:
            raise SyntaxError(f"expected {expected!r}, got {token!r} at token {self.i}")
        self.i += 1
        return token

    def interfaces(self) -> dict[str, T]:
        out = {}
        while self.peek() is not None:
            if self.peek() == "interface":
                self.take()
                name = self.take()
                out[name] = self.object()
            else:
                self.take()
        return out

    def object(self) -> T:
        self.take("{")
        fields = {}
        while self.peek() != "}":
            name = self.take().strip("'\"")
            optional = self.peek() == "?"
            if optional:
                self.take()
            self.take(":")
            fields[name] = (self.union(), optional)
            if self.peek() in (";", ","):
                self.take()
        self.take("}")
        return T("object", fields=fields)

    def union(self) -> T:
        options = [self.postfix()]
        while self.peek() == "|":
            self.take()
            options.append(self.postfix())
        if len(options) == 1:
            return options[0]
        if all(o.kind == "literal" for o in options):
            return T("literal", of=[v for o in options for v in o.of])
        return T("union", of=options)

    def postfix(self) -> T:
        base = self.primary()
        while self.peek() == "[]":
            self.take()
            base = T("array", of=base)
        return base

    def primary(self) -> T:
        token = self.peek()
        if token == "{":
            return self.object()
        self.take()
        if token[0] in "'\"":
            return T("literal", of=[token[1:-1]])
        if token in ("string", "number", "boolean", "any"):
            return T(token)
        if token in ("Record", "Partial"):
            self.take("<")
            if token == "Record":
                self.union()
                self.take(",")
            inner = self.union()
            self.take(">")
            return T("record", of=inner) if token == "Record" else T("partial", of=inner)
        return T("ref", of=token)


INTERFACES: dict[str, T] = _Parser(SOURCE.read_text()).interfaces()

_ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Field names that hold timestamps in the spec's interfaces.
TIMESTAMP_FIELDS = {"lastSyncAt", "lastFullSync", "nextScheduledSync", "expiresAt", "startedAt", "completedAt", "lastSynced",
                    "subscriptionExpirationDateTime", "start", "end", "beganAt", "throttledUntil", "retryAt"}
#: ... and those that may also be an all-day event's date (documented in the OpenAPI schema).
EVENT_DATE_FIELDS = {"wedSyncEventDate", "outlookEventDate"}


@dataclass
class Additions:
    """WedSync's documented additions to the spec: extra keys per interface path, extra enum values, nullable fields."""

    keys: dict[str, set] = field(default_factory=dict)  # "OutlookIntegration" -> {"needsReauthorization", ...}
    enum_values: dict[str, set] = field(default_factory=dict)  # "OutlookSyncJobResponse.status" -> {"queued"}
    nullable: set = field(default_factory=set)  # {"OutlookSyncStatusResponse.syncStats.lastFullSync"}
    empty_event_date: bool = True  # an event Outlook was never read for has "" as outlookEventDate/Title


def check(value, interface: str, additions: Additions | None = None) -> list[str]:
    """Every way ``value`` breaks ``interface`` (an empty list when it conforms)."""
    additions = additions or Additions()
    problems: list[str] = []
    _check(value, T("ref", of=interface), interface, interface, additions, problems, partial=False)
    return problems


def _check(value, t: T, path: str, owner: str, add: Additions, out: list, *, partial: bool, name: str = "") -> None:
    if t.kind == "ref":
        target = INTERFACES[t.of]
        return _check(value, target, path, t.of, add, out, partial=partial, name=name)
    if t.kind == "partial":
        return _check(value, t.of, path, owner, add, out, partial=True, name=name)
    if value is None:
        if t.kind == "any" or path in add.nullable:  # TypeScript's ``any`` includes null
            return
        out.append(f"{path}: null where the spec wants {t.kind}")
        return
    if t.kind == "any":
        return
    if t.kind == "string":
        if not isinstance(value, str):
            out.append(f"{path}: {value!r} is not a string")
        elif name in TIMESTAMP_FIELDS and not _ISO_Z.match(value):
            out.append(f"{path}: {value!r} is not an ISO-8601 UTC timestamp ending in Z")
        elif name in EVENT_DATE_FIELDS and not (_ISO_Z.match(value) or _DATE.match(value) or (value == "" and add.empty_event_date)):
            out.append(f"{path}: {value!r} is neither an ISO-8601 UTC timestamp with Z nor an all-day date")
        elif name in TIMESTAMP_FIELDS | EVENT_DATE_FIELDS and value:
            try:
                dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else dt.date.fromisoformat(value)
            except ValueError:
                out.append(f"{path}: {value!r} is not a real date")
        return
    if t.kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append(f"{path}: {value!r} is not a number")
        return
    if t.kind == "boolean":
        if not isinstance(value, bool):
            out.append(f"{path}: {value!r} is not a boolean")
        return
    if t.kind == "literal":
        allowed = set(t.of) | add.enum_values.get(path, set())
        if value not in allowed:
            out.append(f"{path}: {value!r} is not one of {sorted(allowed)}")
        return
    if t.kind == "union":
        for option in t.of:
            trial: list[str] = []
            _check(value, option, path, owner, add, trial, partial=partial, name=name)
            if not trial:
                return
        out.append(f"{path}: {value!r} matches none of the union's types")
        return
    if t.kind == "array":
        if not isinstance(value, list):
            out.append(f"{path}: {value!r} is not an array")
            return
        for n, item in enumerate(value):
            _check(item, t.of, f"{path}[]", owner, add, out, partial=False, name=name)
            if len(out) > 50:
                return
        return
    if t.kind == "record":
        if not isinstance(value, dict):
            out.append(f"{path}: {value!r} is not an object")
            return
        for key, item in value.items():
            _check(item, t.of, f"{path}{{}}", owner, add, out, partial=False)
        return
    if t.kind == "object":
        if not isinstance(value, dict):
            out.append(f"{path}: {str(value)[:80]!r} is not an object")
            return
        for key, (ftype, optional) in t.fields.items():
            if key not in value:
                if not (optional or partial):
                    out.append(f"{path}.{key}: missing (required)")
                continue
            if value[key] is None and optional and f"{path}.{key}" not in add.nullable:
                out.append(f"{path}.{key}: null; an optional field is left out rather than null")
                continue
            _check(value[key], ftype, f"{path}.{key}", owner, add, out, partial=False, name=key)
        extra = set(value) - set(t.fields) - add.keys.get(path, set()) - add.keys.get(owner, set())
        if extra:
            out.append(f"{path}: keys not in the spec and not documented as WedSync additions: {sorted(extra)}")
