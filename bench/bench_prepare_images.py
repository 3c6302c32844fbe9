"""Benchmark: `prepare` of an image config (images read from the zips and embedded in Parquet).

Generates the medium synthetic release (20,000 records) once, then times `prepare` of `cropped_256` with
1 and 2 processes and reports records/s and MB/s of JPEG bytes embedded.

    python bench/bench_prepare_images.py [--scale medium] [--workdir bench/out]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
import zipfile
from pathlib import Path

from bioscan_hf.data.publish import prepare
from bioscan_hf.data.sample import write_sample_release


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args()
    release = args.workdir / f"release_{args.scale}"
    if not release.exists():
        write_sample_release(release, scale=args.scale, seed=0)
    jpeg_bytes = sum(
        info.file_size
        for path in release.glob("BIOSCAN_5M_cropped_256_*.zip")
        for info in zipfile.ZipFile(path).infolist()
    )
    records = sum(len(zipfile.ZipFile(p).namelist()) for p in release.glob("BIOSCAN_5M_cropped_256_*.zip"))
    result = {
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "records": records,
        "jpeg_mb": jpeg_bytes / 1e6,
    }
    for num_proc in (1, 2):
        out = args.workdir / f"prepared_images_{num_proc}"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        prepare(release, out, configs=["cropped_256"], num_proc=num_proc if num_proc > 1 else None)
        seconds = time.perf_counter() - start
        result[f"num_proc_{num_proc}"] = {
            "seconds": seconds,
            "records_per_s": records / seconds,
            "mb_per_s": jpeg_bytes / 1e6 / seconds,
        }
    (args.workdir / "prepare_images.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
