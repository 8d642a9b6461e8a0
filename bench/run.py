"""`make bench`: run every benchmark in one process and print rates and ratios.

Each benchmark compares fincert with the peer its issue names, in the same run, on this
machine. Results are printed and written to bench/results/latest.json; copy the figures into
docs/benchmarks.md together with the machine line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import api_issuance, cloud_signing, common, hsm, issuance_core, login, signatures, va  # noqa: E402

BENCHMARKS = [issuance_core, login, cloud_signing, signatures, va, hsm, api_issuance]


def main(selected: list[str]) -> None:
    report: dict = {"machine": common.machine()}
    for module in BENCHMARKS:
        name = module.__name__.rsplit(".", 1)[-1]
        if selected and name not in selected:
            continue
        print(f"== {name}", flush=True)
        module.run(report)
    for section, values in report.items():
        if section == "machine":
            print(f"machine: {values}")
            continue
        print(f"\n{section}")
        for key, value in values.items():
            shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
            print(f"  {key:<60} {shown}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
