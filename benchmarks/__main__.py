"""`make bench`: every benchmark in turn, results under bench-results/."""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    from benchmarks import codec_costs, compositing, media_load, soap_throughput

    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    status = 0
    print("== SOAP gateway throughput")
    status |= soap_throughput.main(["--json", str(out / "soap_throughput.json")])
    print("== compositing")
    status |= compositing.main(["--out", str(out), "--json", str(out / "compositing.json")])
    print("== codec costs of the SIP room systems' codecs (encode/decode fps per core)")
    status |= codec_costs.main(["--json", str(out / "codec_costs.json"),
                                "--markdown", str(out / "codec_costs.md")])
    print("== media load (MCU and terminals in separate processes)")
    status |= media_load.main(
        ["--json", str(out / "media_load.json"), "--markdown", str(out / "media_load.md")]
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
