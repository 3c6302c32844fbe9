"""Maintainers' script: publish the BIOSCAN-5M release to a Hub dataset repo.

datasets ≥ 4 runs no loading scripts, so the Hub repo holds Parquet shards and a card whose YAML
declares the configs; this script produces exactly that with the package's builder and uploads it.

    python dataset_script/publish_bioscan5m.py --release ~/bioscan5m --out ~/bioscan5m-hub \
        --repo-id bioscan-ml/BIOSCAN-5M [--verify] [--num-proc 8] [--dry-run]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bioscan_hf.data.checksums import verify_md5
from bioscan_hf.data.publish import prepare, push
from bioscan_hf.data.schema import PUBLISHED_MD5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", type=Path, required=True, help="folder with the release files")
    parser.add_argument("--out", type=Path, required=True, help="where the Hub-ready folder is written")
    parser.add_argument("--repo-id", required=True, help="Hub dataset repo to upload to")
    parser.add_argument("--configs", default=None, help="comma-separated configs (default: all present)")
    parser.add_argument("--num-proc", type=int, default=None)
    parser.add_argument("--verify", action="store_true", help="check published md5 digests first")
    parser.add_argument("--dry-run", action="store_true", help="prepare only, do not upload")
    args = parser.parse_args()
    if args.verify:
        for name in PUBLISHED_MD5:
            if (args.release / name).exists():
                print(f"{name}: md5 ok ({verify_md5(args.release / name)})")
    configs = args.configs.split(",") if args.configs else None
    summary = prepare(args.release, args.out, configs=configs, num_proc=args.num_proc, repo_id=args.repo_id)
    print(f"built {summary['built']}, reused {summary['reused']}, skipped {list(summary['skipped'])}")
    if not args.dry_run:
        print(f"uploaded: {push(args.out, args.repo_id)}")


if __name__ == "__main__":
    main()
