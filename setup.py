"""Maps the top-level folders pipeline/, schemas/, flows/ into the `lmforge` namespace (DESIGN.md)."""

from setuptools import find_packages, setup

TOP_LEVEL = ("pipeline", "schemas", "flows")

packages = ["lmforge"]
package_dir = {"lmforge": "lmforge"}
for top in TOP_LEVEL:
    packages.append(f"lmforge.{top}")
    package_dir[f"lmforge.{top}"] = top
    packages += [f"lmforge.{top}.{sub}" for sub in find_packages(top)]

setup(
    packages=packages,
    package_dir=package_dir,
    include_package_data=True,
    package_data={"lmforge.pipeline": ["corpus/data/*", "corpus/data/**/*"], "lmforge.flows": ["*.toml"]},
)
