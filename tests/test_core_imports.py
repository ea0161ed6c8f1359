"""The domain core (every module of mcu/ outside mcu/media/) imports without the codec
libraries: in a fresh interpreter where importing av, cv2 or aiortc raises ImportError,
each core module imports. New modules and subpackages of mcu/ are found by walking the
package, so they are covered without editing this list.

The same walk holds the layering of docs/architecture.md: the packages below the MCU
(rtc/, rtp/, sip/, terminals/) import nothing of mcu/, gateway/ or app/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCKED = ("av", "cv2", "aiortc")

# Run in a fresh interpreter: prints {"imported": [...], "failed": {module: error}}.
_SCRIPT = """
import importlib, importlib.abc, json, pkgutil, sys, traceback

BLOCKED = set(sys.argv[1].split(","))


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{name} is blocked in this test", name=name)
        return None


sys.meta_path.insert(0, Blocker())
imported, failed = [], {}


def walk(package):
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if info.name in sys.argv[2].split(","):
            continue
        try:
            module = importlib.import_module(info.name)
        except Exception:
            failed[info.name] = traceback.format_exc(limit=-3)
            continue
        imported.append(info.name)
        if info.ispkg:
            walk(module)


walk(importlib.import_module(sys.argv[3]))
print(json.dumps({"imported": imported, "failed": failed}))
"""


def import_all(package: str, *, skip: tuple[str, ...] = (),
               blocked: tuple[str, ...] = BLOCKED) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, ",".join(blocked), ",".join(skip), package],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )
    return json.loads(result.stdout)


def test_the_domain_core_imports_without_av_cv2_or_aiortc():
    result = import_all("mcu", skip=("mcu.media",))
    assert result["failed"] == {}
    # the walk found the core (mcu.runtime may be a module or a package)
    for name in ("mcu.model", "mcu.scheduler", "mcu.store", "mcu.runtime", "mcu.events",
                 "mcu.layouts", "mcu.live_conference", "mcu.calls", "mcu.endpoints"):
        assert name in result["imported"]
    assert not any(name.startswith("mcu.media") for name in result["imported"])


def test_the_blocker_does_block_the_media_plane():
    failed = import_all("mcu")["failed"]
    assert "is blocked in this test" in failed["mcu.media.compositor"]
    assert "is blocked in this test" in failed["mcu.media.engine"]


@pytest.mark.parametrize("package", ["rtc", "rtp", "sip", "terminals"])
def test_the_packages_below_the_mcu_import_nothing_of_it(package: str):
    result = import_all(package, blocked=("mcu", "gateway", "app"))
    assert result["failed"] == {}
    assert len(result["imported"]) >= 5, result  # the walk found the package's modules


def test_the_layering_blocker_does_block_the_mcu():
    failed = import_all("gateway", blocked=("mcu",))["failed"]
    assert "is blocked in this test" in failed["gateway.server"]
