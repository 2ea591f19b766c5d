"""The installed source of an upstream function named as in ``WrittenAgainst.sources``, and its fingerprint."""
from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from functools import reduce
from pathlib import Path

import bokeh

BOKEHJS = Path(bokeh.__file__).parent / "server" / "static" / "js" / "bokeh.js"
_MODULE = re.compile(r"^/\* (\S+\.js) \*/ function _\(", re.M)


def fingerprint(source: str) -> str:
    """12 hex digits of SHA-256 over ``source`` with its whitespace collapsed (re-indenting changes nothing)."""
    return hashlib.sha256(" ".join(source.split()).encode()).hexdigest()[:12]


def source_of(name: str) -> str:
    """``module:Qualified.name`` (Python, unwrapped) or ``bokeh.js:module/path.js:Class.method`` (BokehJS)."""
    if name.startswith("bokeh.js:"):
        _, module, qualname = name.split(":")
        return bokehjs_method(module, qualname)
    module, qualname = name.split(":")
    return inspect.getsource(reduce(getattr, qualname.split("."), importlib.import_module(module)))


def bokehjs_method(module: str, qualname: str, bundle: Path = BOKEHJS) -> str:
    """A method's text in the unminified BokehJS bundle: ``name(args) { ... }``."""
    text = bundle.read_text()
    starts = {m.group(1): m.start() for m in _MODULE.finditer(text)}
    if module not in starts:
        raise LookupError(f"no module {module} in {bundle}")
    following = [s for s in starts.values() if s > starts[module]]
    body = text[starts[module]:min(following, default=len(text))]
    cls, method = qualname.split(".")
    found = re.search(rf"^\s*class {cls}\b", body, re.M)
    if found is None:
        raise LookupError(f"no class {cls} in {module}")
    after = re.search(r"^\s*class \w+", body[found.end():], re.M)
    klass = body[found.start():found.end() + (after.start() if after else len(body))]
    head = re.search(rf"^\s*{method}\([^)]*\)\s*{{", klass, re.M)
    if head is None:
        raise LookupError(f"no method {qualname} in {module}")
    depth = 0
    for i in range(head.end() - 1, len(klass)):
        depth += {"{": 1, "}": -1}.get(klass[i], 0)
        if depth == 0:
            return klass[head.start():i + 1].strip()
    raise LookupError(f"unbalanced braces in {qualname} of {module}")
