"""`make bench`: every benchmark in turn, results under bench-results/."""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    from benchmarks import compositing, soap_throughput

    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    status = 0
    print("== SOAP gateway throughput")
    status |= soap_throughput.main(["--json", str(out / "soap_throughput.json")])
    print("== compositing")
    status |= compositing.main(["--out", str(out), "--json", str(out / "compositing.json")])
    return status


if __name__ == "__main__":
    sys.exit(main())
