"""Check that fastnn's public API is documented: every public module has a docstring and an
``__all__``, and every public callable it exports (functions, classes, and the public methods
and properties of those classes) has a docstring.

    python docs/check_api.py          # prints each problem, exits 1 if there is any

Public modules are every module of the installed package except the private ones (a path
component starting with ``_``) and the command-line internals (``fastnn.cli``,
``fastnn.commands``, ``fastnn.benchmarks``).  :func:`public_modules` is also what the Sphinx
build (``docs/conf.py``) documents, so the API reference covers exactly what is checked.
"""
import importlib
import inspect
import pkgutil
import sys

INTERNAL = ("fastnn.cli", "fastnn.commands", "fastnn.benchmarks", "fastnn.__main__")


def public_modules():
    """Names of fastnn's public modules, sorted."""
    import fastnn
    names = ["fastnn"]
    for info in pkgutil.walk_packages(fastnn.__path__, "fastnn."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]):
            continue
        if info.name.startswith(INTERNAL):
            continue
        names.append(info.name)
    return sorted(names)


def _members(cls):
    """Public methods and properties defined in ``cls`` itself."""
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            yield name, value


def problems(modules=None):
    """A list of human-readable problems (empty when the public API is fully documented)."""
    found = []
    for modname in modules or public_modules():
        mod = importlib.import_module(modname)
        if not (mod.__doc__ or "").strip():
            found.append(f"{modname}: module has no docstring")
        names = getattr(mod, "__all__", None)
        if names is None:
            found.append(f"{modname}: module has no __all__")
            continue
        for name in names:
            if not hasattr(mod, name):
                found.append(f"{modname}.{name}: listed in __all__ but not defined")
                continue
            obj = getattr(mod, name)
            if inspect.ismodule(obj) or not (callable(obj) or inspect.isclass(obj)):
                continue
            if not (getattr(obj, "__doc__", None) or "").strip():
                found.append(f"{modname}.{name}: no docstring")
            if inspect.isclass(obj):
                for mname, member in _members(obj):
                    if not (inspect.getdoc(member) or _inherited_doc(obj, mname)):
                        found.append(f"{modname}.{name}.{mname}: no docstring")
    return sorted(set(found))


def _inherited_doc(cls, name):
    for base in cls.__mro__[1:]:
        member = vars(base).get(name)
        if member is not None and (getattr(member, "__doc__", None) or "").strip():
            return True
    return False


def main():
    found = problems()
    for p in found:
        print(p)
    print(f"{len(found)} problem(s) in {len(public_modules())} public modules", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
