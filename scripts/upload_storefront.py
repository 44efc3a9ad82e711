"""`make deploy`'s last step: upload the storefront's static export (frontend/out) to the stack's
StorefrontBucket and invalidate CloudFront's copy of the page. Runs in .venv-sam (boto3 comes with
the SAM CLI), with the caller's AWS credentials.

    .venv-sam/bin/python scripts/upload_storefront.py --env sandbox      # stack name from samconfig.toml
    .venv-sam/bin/python scripts/upload_storefront.py --stack NAME --dry-run

Hashed assets (`_next/static/...`) are uploaded first and cached for a year; the pages last, with
`no-cache`, so a page never names an asset that is not there yet. Old assets stay (a cached page
may still ask for them); the bucket's versioning and lifecycle keep replaced objects 30 days."""

from __future__ import annotations

import argparse
import mimetypes
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "frontend" / "out"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}


def stack_name(env: str) -> str:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    return config[env]["global"]["parameters"]["stack_name"]


def files() -> list[tuple[Path, str, str, str]]:
    """(path, key, content type, cache control), assets before pages."""
    if not (OUT / "marketplace" / "index.html").is_file():
        raise SystemExit("frontend/out is not built: run `bash scripts/bootstrap storefront` first.")
    found = []
    for path in sorted(p for p in OUT.rglob("*") if p.is_file() and not p.name.startswith(".")):
        key = path.relative_to(OUT).as_posix()
        kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        immutable = "/_next/static/" in f"/{key}"
        found.append((path, key, kind, "public, max-age=31536000, immutable" if immutable else "no-cache"))
    return sorted(found, key=lambda f: f[3] == "no-cache")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="default", help="samconfig.toml environment (default, sandbox, prod)")
    parser.add_argument("--stack", help="stack name (default: samconfig.toml's for --env)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded")
    args = parser.parse_args()
    plan = files()
    if args.dry_run:
        for _, key, kind, cache in plan:
            print(f"{key}\t{kind}\t{cache}")
        return
    import boto3

    name = args.stack or stack_name(args.env)
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in boto3.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0].get("Outputs", [])
    }
    bucket, distribution = outputs["StorefrontBucketName"], outputs["StorefrontDistributionId"]
    s3 = boto3.client("s3")
    for path, key, kind, cache in plan:
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": kind, "CacheControl": cache})
    boto3.client("cloudfront").create_invalidation(
        DistributionId=distribution,
        InvalidationBatch={
            "Paths": {"Quantity": 3, "Items": ["/marketplace", "/marketplace/", "/marketplace/index.html"]},
            "CallerReference": f"storefront-{time.time_ns()}",
        },
    )
    print(f"storefront: {len(plan)} files to s3://{bucket}; {outputs.get('StorefrontUrl', '')}")


if __name__ == "__main__":
    main()
