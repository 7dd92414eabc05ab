"""singer-sdk's private names are used in each plugin's seam module (`sdk_seams.py`) and nowhere else, and every one
the seams use is still in the installed singer-sdk.

Upgrading singer-sdk: bump it, run this file (and the plugins' suites), read the seam modules against the new
singer-sdk. "Private" is read off singer-sdk's own source: a `_`-prefixed method or attribute of one of its classes,
a `_`-prefixed module or name imported from it, `super(Class, ...)` (a jump over an SDK method), and the state
manager a stream hands out from the private `streams/_state.py`.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from functools import cache
from pathlib import Path

import pytest
import singer_sdk

from tap_klaviyo.sdk_seams import OtherGroupsNotLogged

ROOT = Path(__file__).resolve().parents[2]
SDK = Path(singer_sdk.__file__).parent
SEAM = "sdk_seams.py"
PLUGINS = {
    "tap_klaviyo": ROOT / "tap-klaviyo" / "tap_klaviyo",
    "tap_csv": ROOT / "tap-csv" / "tap_csv",
    "target_klaviyo": ROOT / "target-klaviyo" / "target_klaviyo",
    "tap_support": ROOT / "tap-support" / "tap_support",
}
# Reached through a public attribute, defined in a private module: singer-sdk's stream state manager.
PRIVATE_OBJECTS = {"state_manager": SDK / "streams" / "_state.py"}


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@cache
def sdk_private_names() -> frozenset[str]:
    """The private names singer-sdk's classes define (methods, class and instance attributes), and the public names
    of the objects in PRIVATE_OBJECTS."""
    names: set[str] = set(PRIVATE_OBJECTS)
    for path in SDK.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef) and private(inner.name):
                    names.add(inner.name)
                elif isinstance(inner, ast.Attribute) and isinstance(inner.ctx, ast.Store) and private(inner.attr):
                    names.add(inner.attr)
                elif isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store) and private(inner.id):
                    names.add(inner.id)
    public = {name for path in SDK.rglob("*.py") if path not in PRIVATE_OBJECTS.values() for name in public_names(path)}
    for path in PRIVATE_OBJECTS.values():
        names |= public_names(path) - public  # e.g. `is_flushed`; not `stream_name`, which public classes have too
    return frozenset(names)


def public_names(path: Path) -> set[str]:
    """Public methods and attributes the classes of a singer-sdk module define."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.FunctionDef) and not inner.name.startswith("_"):
                    names.add(inner.name)
                elif (
                    isinstance(inner, ast.Attribute)
                    and isinstance(inner.ctx, ast.Store)
                    and not inner.attr.startswith("_")
                ):
                    names.add(inner.attr)
    return names


def sdk_derived(package: str, module: Path, class_name: str) -> bool:
    """Whether a class of the plugin inherits from a singer-sdk class (its overrides are then SDK overrides)."""
    relative = module.relative_to(PLUGINS[package]).with_suffix("")
    loaded = importlib.import_module(".".join([package, *relative.parts]))
    cls = getattr(loaded, class_name, None)
    return isinstance(cls, type) and any(base.__module__.startswith("singer_sdk") for base in cls.__mro__)


@cache
def own_names(package: str) -> frozenset[str]:
    """Private names the plugin defines on classes of its own that are not singer-sdk's (a `self._lock` of its own)."""
    names: set[str] = set()
    for path in PLUGINS[package].rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and not sdk_derived(package, path, node.name):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.FunctionDef):
                        names.add(inner.name)
                    elif isinstance(inner, ast.Attribute) and isinstance(inner.ctx, ast.Store):
                        names.add(inner.attr)
    return frozenset(names)


def private_uses(package: str, path: Path, source: str | None = None) -> list[str]:
    """Each use of a private singer-sdk name in one file of the plugin (or in `source`, read as that file):
    `line: what`."""
    sdk_names, ours = sdk_private_names(), own_names(package)
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    uses: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("singer_sdk"):
            parts = (node.module or "").split(".")
            names = [alias.name for alias in node.names]
            if any(part.startswith("_") for part in parts) or any(private(name) for name in names):
                uses.append(f"{node.lineno}: from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            uses += [
                f"{node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.startswith("singer_sdk") and any(p.startswith("_") for p in alias.name.split("."))
            ]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super" and node.args:
            uses.append(f"{node.lineno}: super({', '.join(ast.unparse(a) for a in node.args)})")
        elif isinstance(node, ast.Attribute) and node.attr in sdk_names and node.attr not in ours:
            uses.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ClassDef) and sdk_derived(package, path, node.name):
            uses += [
                f"{item.lineno}: {node.name}.{item.name} overrides singer-sdk's"
                for item in node.body
                if isinstance(item, ast.FunctionDef) and private(item.name) and item.name in sdk_names
            ]
    return uses


def plugin_files() -> list[tuple[str, Path]]:
    return [(package, path) for package, folder in PLUGINS.items() for path in sorted(folder.rglob("*.py"))]


@pytest.mark.parametrize(
    ("package", "path"), plugin_files(), ids=[str(path.relative_to(ROOT)) for _, path in plugin_files()]
)
def test_private_singer_sdk_names_are_used_in_the_seam_module_only(package: str, path: Path):
    if path.name == SEAM:
        return
    assert private_uses(package, path) == [], f"move these into {path.parent / SEAM}, each with its reason"


@pytest.mark.parametrize("package", [p for p in PLUGINS if (PLUGINS[p] / SEAM).exists()])
def test_every_private_name_a_seam_uses_is_still_in_singer_sdk(package: str):
    seam = PLUGINS[package] / SEAM
    uses = private_uses(package, seam)
    assert uses, f"{seam} uses no private name: it should not exist"
    names = {use.split(": ", 1)[1].lstrip(".").split(" ")[0].split(".")[-1] for use in uses if ": ." in use}
    missing = sorted(name for name in names if name not in sdk_private_names())
    assert not missing, f"singer-sdk no longer has {missing}: read {seam} against the new singer-sdk"
    module = importlib.import_module(f"{package}.sdk_seams")
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ != module.__name__:
            continue
        for name, member in vars(cls).items():
            if private(name) and callable(member):  # every private override still overrides something
                assert any(name in vars(base) for base in cls.__mro__[1:]), f"{cls.__name__}.{name} overrides nothing"
    # Each private use is explained: a TODO (with its upstream issue where one exists) precedes each seam's class
    # or function, and the module's docstring names what each private name is for.
    source = seam.read_text(encoding="utf-8")
    assert "TODO" in source and "The private names, and what each is for" in source


def test_the_check_finds_what_it_is_for():
    """The check itself: private uses put outside a seam module are found (the test above would pass otherwise)."""
    probe = PLUGINS["tap_klaviyo"] / "klaviyo_stream.py"
    text = probe.read_text(encoding="utf-8")
    assert "set_record_version(self, self.table_version)" in text and private_uses("tap_klaviyo", probe) == []
    broken = text.replace("set_record_version(self, self.table_version)", "self._stream_version = self.table_version")
    broken += "\nfrom singer_sdk.helpers._util import utc_now\n"
    broken += "\n\ndef skip(self):\n    return super(Stream, self)\n"
    found = private_uses("tap_klaviyo", probe, broken)
    assert any(use.endswith(": ._stream_version") for use in found)
    assert any("singer_sdk.helpers._util" in use for use in found)
    assert any("super(Stream, self)" in use for use in found)
    override = text.replace("    def stamp_table_version(self)", "    def _sync_records(self)")  # in an SDK subclass
    assert any("KlaviyoStream._sync_records overrides" in use for use in private_uses("tap_klaviyo", probe, override))


def test_the_skipped_stream_line_a_seam_drops_is_still_singer_sdks():
    """tap-klaviyo's group processes drop singer-sdk's line for each stream they skip by its wording
    (sdk_seams.OtherGroupsNotLogged): a new wording would bring the lines back, silently."""
    assert OtherGroupsNotLogged.SKIPPED in inspect.getsource(singer_sdk.Tap.sync_all)
