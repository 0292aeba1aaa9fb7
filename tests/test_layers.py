"""The package's architecture, checked: layers import one way, packages keep their private modules
to themselves, Ray's internals live in one module and are patched only when Ray starts."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "radas"

# lowest first; a module may import its own layer and the layers below it
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("radas.errors", "radas._config", "radas._names", "radas._reporter", "radas._aio", "radas._safefile",
              "radas._deps", "radas._ray", "radas.utils", "radas._explode")),
    ("clusters, storage and plots", ("radas.clusters", "radas.cloud_artifact", "radas.email", "radas._tracking",
                                    "radas.rwandb", "radas.rswanlab", "radas.plots")),
    ("folders", ("radas.core",)),
    ("sweep runtime", ("radas.sweep",)),
    ("targets", ("radas.backends",)),
    ("experiment", ("radas.experiment",)),
    ("front", ("radas.tuner", "radas.grpo", "radas.cli", "radas")),
]
# where Ray's private internals may be used: nowhere else
RAY_INTERNALS_MODULE = "radas._ray"
# private attributes of other libraries than Ray, used on purpose
NOT_RAYS = {"radas.email": {"_login"}, "radas.experiment._choice": {"_allow_stdin"},
            "radas.grpo._trainable": {"_name_or_path"},
            "radas.sweep._stall": {"_current_frames", "_exit"}}  # Python's: every thread's frame, exit now


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int:
    best, rank = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank >= 0, f"{module} is in no layer: add it to LAYERS"
    return rank


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, at any depth (functions included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            submodules = [n for n in names if (PACKAGE.parent / n.replace(".", "/")).with_suffix(".py").exists()]
            # `from radas import _ray` uses the module _ray, not what the package exports
            if len(submodules) < len(node.names):
                found.append((node.lineno, node.module))
            found += [(node.lineno, module) for module in submodules]
    return found


def package_of(module: str) -> str:
    """``radas.backends`` for ``radas.sweep._sweep``; ``radas`` for top-level modules."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (PACKAGE / parts[-1]).is_dir() else "radas"


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_layers_import_one_way() -> None:
    upward = []
    for path in SOURCES:
        here = module_name(path)
        for line, target in imports(path):
            if target.split(".")[0] != "radas":
                continue
            if layer_of(target) > layer_of(here):
                upward.append(f"{path.relative_to(ROOT)}:{line}: {here} ({LAYERS[layer_of(here)][0]}) imports "
                              f"{target} ({LAYERS[layer_of(target)][0]})")
    assert not upward, "imports that run back up the layers:\n" + "\n".join(upward)


def test_packages_keep_their_private_modules() -> None:
    """``radas.sweep._sweep`` is imported by ``radas.backends`` only; other packages use what
    a package exports (top-level base modules such as ``radas._reporter`` are for everyone)."""
    leaks = []
    for path in SOURCES:
        here = module_name(path)
        for line, target in imports(path):
            parts = target.split(".")
            if parts[0] != "radas" or len(parts) < 3 or not parts[2].startswith("_"):
                continue
            if package_of(here) != ".".join(parts[:2]):
                leaks.append(f"{path.relative_to(ROOT)}:{line}: {here} imports {target}")
    assert not leaks, "private modules used from another package:\n" + "\n".join(leaks)


def _private(name: str) -> bool:
    name = name.strip().strip("'\"")
    return name.startswith("_") and not name.startswith("__")


def test_rays_internals_are_used_in_one_module() -> None:
    users = []
    for path in SOURCES:
        text = path.read_text()
        here = module_name(path)
        if here == RAY_INTERNALS_MODULE:
            continue
        tree = ast.parse(text)
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ray"):
                name = node.module
            elif isinstance(node, ast.Import):
                name = next((a.name for a in node.names if a.name.startswith("ray.")), None)
            elif isinstance(node, ast.Attribute) and _private(node.attr):
                base = node.value  # an object's private attribute (not self's): Ray's unless known
                if not (isinstance(base, ast.Name) and base.id in ("self", "cls")):
                    name = ast.unparse(node)
                    if node.attr in NOT_RAYS.get(here, ()):
                        name = None
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "setattr", "hasattr") and len(node.args) > 1
                  and isinstance(node.args[1], ast.Constant) and _private(str(node.args[1].value))
                  and node.args[1].value not in NOT_RAYS.get(here, ())):
                name = ast.unparse(node)
            if name and any(_private(part) for part in name.replace("(", ".").replace(",", ".").split(".")):
                users.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert not users, f"Ray internals outside {RAY_INTERNALS_MODULE}:\n" + "\n".join(users)


def test_import_radas_patches_nothing() -> None:
    code = textwrap.dedent("""
        from ray.tune import tune as tune_module
        from ray.tune.execution import class_cache
        setup, get = tune_module._setup_signal_catching, class_cache._ActorClassCache.get
        import radas, radas.grpo, radas.plots, radas.cli, radas.email, radas.cloud_artifact
        from radas import _ray
        assert not _ray.installed()
        assert tune_module._setup_signal_catching is setup and class_cache._ActorClassCache.get is get
        _ray.install()
        assert _ray.installed() and class_cache._ActorClassCache.get is not get
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


def test_the_supported_ray_range_is_the_packages_and_is_enforced() -> None:
    from radas import _ray
    from radas.errors import VersionMismatchError

    low, high = _ray.SUPPORTED_RAY
    assert f'"ray[default,tune]>={low},<{high}"' in (ROOT / "pyproject.toml").read_text()
    import ray

    assert _ray.supported(ray.__version__)
    assert not _ray.supported("2.39.0") and not _ray.supported(high + ".0") and _ray.supported(low + ".3")
    with pytest.raises(VersionMismatchError, match=rf"radas supports ray>={low},<{high}; this environment has ray 9.1"):
        _ray.check_version("9.1.0")
