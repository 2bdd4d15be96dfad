"""Sphinx extension: the API reference pages, generated from the package, and the docstring check.

At ``builder-inited`` it writes ``docs/api/<module>.rst`` for every public module (the list of
``docs/check_api.py``): the module's docstring, a summary table of its ``__all__``, and the full
entry of each name whose home is this module (the module that defines it, or for names defined
in a private module, the public module that exports it).  Every other name links to its home, so
each object is described once.  Missing docstrings or ``__all__`` are reported as warnings, which
``-W`` turns into a failed build.
"""
import importlib
import inspect
import re
import sys
from pathlib import Path

from sphinx.util import logging

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))
import check_api  # noqa: E402

logger = logging.getLogger(__name__)


def homes(modules):
    """Map id(obj) -> the public module that documents it in full."""
    home = {}
    public = set(modules)
    for modname in modules:
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name, None)
            if obj is None or inspect.ismodule(obj):
                continue
            defined = getattr(obj, "__module__", None)
            if not (callable(obj) or inspect.isclass(obj)):
                defined = modname                 # constants: documented where exported
            if defined in public:
                home.setdefault(id(obj), defined)
            elif id(obj) not in home:
                home[id(obj)] = modname           # defined privately: first public exporter
    return home


def page(modname, home):
    mod = importlib.import_module(modname)
    lines = [modname, "=" * len(modname), "", f".. automodule:: {modname}", "   :no-members:", ""]
    names = [n for n in getattr(mod, "__all__", []) if hasattr(mod, n)]
    subs = [n for n in names if inspect.ismodule(getattr(mod, n))]
    objs = [n for n in names if n not in subs]
    if subs:
        lines += ["Submodules: " + ", ".join(f":mod:`{getattr(mod, n).__name__}`" for n in subs), ""]
    if objs:
        lines += [".. list-table::", "   :widths: 30 70", ""]
        for n in objs:
            obj = getattr(mod, n)
            where = home.get(id(obj), modname)
            target = f"{where}.{n}"
            role = "class" if inspect.isclass(obj) else ("func" if callable(obj) else "data")
            doc = (inspect.getdoc(obj) or "").strip().split("\n\n")[0].replace("\n", " ") \
                if role != "data" else ""
            lines += [f"   * - :{role}:`~{target}`", f"     - {_escape(doc)}"]
        lines.append("")
    for n in objs:
        obj = getattr(mod, n)
        if home.get(id(obj), modname) != modname:
            continue
        if inspect.isclass(obj):
            lines += [f".. autoclass:: {modname}::{n}", "   :members:", "   :show-inheritance:", ""]
        elif callable(obj):
            lines += [f".. autofunction:: {modname}::{n}", ""]
        else:
            value = repr(obj)
            lines += [f".. py:data:: {n}", f"   :module: {modname}"]
            if len(value) <= 80 and "\n" not in value:
                lines += [f"   :value: {value}"]
            lines += [""]
    return "\n".join(lines) + "\n"


def _escape(text):
    """The first sentence of ``text``, cut only where no inline literal is open."""
    pos = 0
    while True:
        i = text.find(". ", pos)
        if i < 0:
            return text
        if text[:i].count("``") % 2 == 0 and text[:i].count("`") % 2 == 0:
            return text[:i + 1]
        pos = i + 2


def generate(app):
    modules = check_api.public_modules()
    for problem in check_api.problems(modules):
        logger.warning(f"API documentation: {problem}", type="fastnn", subtype="api")
    out = Path(app.srcdir) / "api"
    out.mkdir(exist_ok=True)
    home = homes(modules)
    index = ["API reference", "=============", "",
             "Every public module of fastnn, generated from the docstrings. Each object is "
             "described in the module that defines it; the modules that re-export it link there.",
             "", ".. toctree::", "   :maxdepth: 1", ""]
    for m in modules:
        text = page(m, home)
        p = out / f"{m}.rst"
        if not p.exists() or p.read_text() != text:
            p.write_text(text)
        index.append(f"   {m}")
    text = "\n".join(index) + "\n"
    p = out / "index.rst"
    if not p.exists() or p.read_text() != text:
        p.write_text(text)


def _resolve(dotted):
    """The object a dotted name refers to (module attribute path), or None."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for p in parts[i:]:
                obj = getattr(obj, p)
        except AttributeError:
            return None
        return obj, parts[i:]
    return None


_HOME = {}


def missing_reference(app, env, node, contnode):
    """Resolve ``fastnn.X`` (a re-export) to the page where X is described."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    candidates = [target]
    if not target.startswith("fastnn"):
        module = node.get("py:module") or ""
        for base in (node.get("py:class") and f"{module}.{node.get('py:class')}", module, "fastnn"):
            if base:
                candidates.append(f"{base}.{target}")
    if not _HOME:
        _HOME.update(homes(check_api.public_modules()))
    domain = env.get_domain("py")
    for cand in candidates:
        found = _resolve(cand) if cand.startswith("fastnn") else None
        if not found:
            continue
        obj, attrs = found
        if not attrs or len(attrs) > 2:
            continue
        head = obj
        if len(attrs) == 2:                        # a method/attribute: its class's home
            owner = _resolve(cand.rsplit(".", 1)[0])
            head = owner[0] if owner else None
        home = _HOME.get(id(head))
        if home is None:
            continue
        full = f"{home}.{attrs[0]}" + (f".{attrs[1]}" if len(attrs) == 2 else "")
        for typ in ("class", "func", "meth", "attr", "data", "obj", "exc", "mod"):
            hit = domain.resolve_xref(env, node["refdoc"], app.builder, typ, full, node, contnode)
            if hit is not None:
                return hit
    return None


_MULTI = re.compile(r"^(\s*)(\w+(?:, \w+)+)(\s*:.*)?$")


def join_attribute_names(app, what, name, obj, options, lines):
    """In an Attributes section, ``a, b, c : type`` becomes ``a,b,c : type`` before napoleon
    reads it: a field name with spaces would be read as "type name" by the Python domain."""
    section = False
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
            section = line.strip() == "Attributes"
            continue
        if section:
            m = _MULTI.match(line)
            if m and len(m.group(1)) == len(lines[i]) - len(lines[i].lstrip()):
                lines[i] = m.group(1) + m.group(2).replace(", ", ",") + (m.group(3) or "")


def setup(app):
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-docstring", join_attribute_names, priority=400)
    app.connect("missing-reference", missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
