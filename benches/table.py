#!/usr/bin/env python3
"""Prints the criterion results as Markdown tables: per group (subscriber
setup), each benchmark's median ns/call with the min-max spread of its
samples, and its ratio to the bare call and to `tracing::instrument` measured
in the same process run.

Usage: python3 benches/table.py [target/criterion]
"""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"


def load(path):
    with open(path) as f:
        return json.load(f)


def row(bench_dir):
    est = load(os.path.join(bench_dir, "new", "estimates.json"))
    sample = load(os.path.join(bench_dir, "new", "sample.json"))
    per_iter = [t / n for t, n in zip(sample["times"], sample["iters"])]
    return est["median"]["point_estimate"], min(per_iter), max(per_iter)


for group in sorted(os.listdir(root)):
    gdir = os.path.join(root, group)
    if not os.path.isdir(gdir) or group == "report":
        continue
    rows = {}
    for dirpath, dirnames, filenames in os.walk(gdir):
        if os.path.basename(dirpath) == "new" and "estimates.json" in filenames:
            bench_dir = os.path.dirname(dirpath)
            name = os.path.relpath(bench_dir, gdir)
            bench_json = os.path.join(dirpath, "benchmark.json")
            if os.path.exists(bench_json):
                name = load(bench_json)["function_id"]
            rows[name] = row(bench_dir)
    if not rows:
        continue
    print(f"\n### {group}\n")
    print("| benchmark | median ns/call | min-max | x bare | x tracing |")
    print("|---|---:|---:|---:|---:|")
    for name in sorted(rows):
        med, lo, hi = rows[name]
        prefix = name.split("/")[0]
        bare = rows.get(f"{prefix}/bare")
        trac = rows.get(f"{prefix}/tracing_instrument") or rows.get(f"{prefix}/tracing_instrument_trace")
        xb = f"{med / bare[0]:.2f}" if bare else ""
        xt = f"{med / trac[0]:.2f}" if trac and prefix in ("sync", "async") else ""
        print(f"| {name} | {med:.2f} | {lo:.2f}-{hi:.2f} | {xb} | {xt} |")
