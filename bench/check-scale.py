#!/usr/bin/env python3
"""Benchmark: `tessera check` on a generated config with N tenants over P pools.

Writes the config to a temporary file, runs the release binary R times, prints each
wall time and the median. Usage:

    cargo build --release -j2
    python3 bench/check-scale.py [--tenants 10000] [--pools 16] [--runs 5]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def generate(tenants: int, pools: int) -> str:
    lines = ['bootstrap_tenant = ""', "[databases.main]", 'url = "postgres://tessera@main/tessera"']
    shards = [f"shard-{index}" for index in range(1, pools)]
    for shard in shards:
        lines += [f"[databases.{shard}]", f'url = "postgres://tessera@{shard}/tessera"']
    lines += [
        "[[router.policies]]",
        'kind = "static"',
        'groups = { tenants = "main", users = "main", applications = "main" }',
        "[[router.policies]]",
        'kind = "shards"',
        'groups = ["tokens"]',
        "pools = [" + ", ".join(f'"{shard}"' for shard in shards) + "]",
        "[[router.policies]]",
        'kind = "relations"',
        'allow = [["tokens", "applications"], ["tokens", "users"]]',
    ]
    # Every tenant declared; one in ten pinned to a shard (the tenant_map policy).
    for index in range(tenants):
        lines.append(f"[tenants.tenant-{index}]")
        if index % 10 == 0:
            lines.append("[tenants.tenant-%d.databases]" % index)
            lines.append(f'tokens = "{shards[index % len(shards)]}"')
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--pools", type=int, default=16)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--binary", default="target/release/tessera")
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        print(f"{args.binary} missing: run `cargo build --release -j2` first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "tessera.toml")
        with open(path, "w") as handle:
            handle.write(generate(args.tenants, args.pools))
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            done = subprocess.run(
                [args.binary, "--config", path, "check"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")},
            )
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                print(done.stderr.decode(), file=sys.stderr)
                return 1
        rows = done.stdout.decode().count("\n")
        print(f"tenants={args.tenants} pools={args.pools} output_lines={rows}")
        print("runs_s=" + " ".join(f"{t:.3f}" for t in times))
        print(f"median_s={statistics.median(times):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
