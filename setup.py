"""Map each top-level folder's ``pqiot`` portion into one installed package root.

The repository keeps the layout users know (``reference/``, ``vectors/``, ...);
each of those folders holds a ``pqiot/<name>/`` portion of the ``pqiot``
namespace, so everything installs under the single import root ``pqiot``.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

PORTIONS = ("cli", "reference", "vectors", "conformance", "hil", "fuzz", "bench")

packages: list[str] = []
package_dir: dict[str, str] = {}
for portion in PORTIONS:
    root = Path(portion)
    if not (root / "pqiot").is_dir():
        continue
    for name in find_namespace_packages(where=portion, include=["pqiot.*"]):
        if (root / Path(*name.split(".")) / "__init__.py").is_file():
            packages.append(name)
            package_dir[name] = str(root / Path(*name.split(".")))

setup(packages=packages, package_dir=package_dir, include_package_data=True)
