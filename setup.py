"""Maps the top-level folders pipeline/, schemas/, flows/ into the `lmforge` namespace (DESIGN.md), and builds the
optional C accelerators (`pipeline/**/_*.c`, each one extension module beside its Python fallback)."""

from pathlib import Path

from setuptools import Extension, find_packages, setup

TOP_LEVEL = ("pipeline", "schemas", "flows")

packages = ["lmforge"]
package_dir = {"lmforge": "lmforge"}
for top in TOP_LEVEL:
    packages.append(f"lmforge.{top}")
    package_dir[f"lmforge.{top}"] = top
    packages += [f"lmforge.{top}.{sub}" for sub in find_packages(top)]

# Every accelerator has a pure-Python twin that gives equal results (the tests compare them), so a machine without a
# C compiler still installs: `optional=True` turns a failed build into a warning and the Python code runs instead.
ext_modules = [
    Extension(
        "lmforge." + ".".join(src.with_suffix("").parts),
        [str(src)],
        optional=True,
        extra_compile_args=["-O3", "-std=c11"],
    )
    for src in sorted(Path("pipeline").rglob("_*.c"))
]

setup(
    packages=packages,
    package_dir=package_dir,
    ext_modules=ext_modules,
    include_package_data=True,
    package_data={"lmforge.pipeline": ["corpus/data/*", "corpus/data/**/*"], "lmforge.flows": ["*.toml"]},
)
