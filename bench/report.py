#!/usr/bin/env python3
"""Turns bench/serve.sh's runs.tsv into the Markdown tables of BENCHMARKS.md:
medians over the repeats, and sockdemo's ratios to the floor and to the
tutorial's Python server, per load generator."""

import csv
import statistics
import sys
from collections import defaultdict

SERVERS = ["sockdemo", "floor", "python"]
GENERATORS = {
    "client": "`sockdemo client --connections N`",
    "loadgen": "`bench/loadgen.c` (epoll, one thread)",
}


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, pattern):
    return "-" if value is None else pattern.format(value)


def ratio(a, b):
    return None if a is None or not b else a / b


def main(path):
    runs = defaultdict(list)
    levels = []
    servers = set()
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            level = int(row["level"])
            if level not in levels:
                levels.append(level)
            servers.add(row["server"])
            runs[(row["generator"], level, row["server"])].append(row)
    servers = [s for s in SERVERS if s in servers]

    def stat(generator, level, server, field):
        return median(number(r[field]) for r in runs[(generator, level, server)])

    def failures(generator, level, server):
        rows = runs[(generator, level, server)]
        failed = sum(int(r["failed"]) for r in rows)
        return f"{failed}/{sum(int(r['ok']) + int(r['failed']) for r in rows)}"

    for generator, title in GENERATORS.items():
        if not any(key[0] == generator for key in runs):
            continue
        print(f"Load from {title}; medians over the repeats.\n")
        head = ["N"]
        head += [f"{s} rt/s" for s in servers]
        head += ["sockdemo ÷ floor", "sockdemo ÷ python"] if "python" in servers else ["sockdemo ÷ floor"]
        head += [f"{s} p99 ms" for s in servers]
        head += ["p99 sockdemo ÷ floor"]
        head += [f"{s} peak RSS MiB" for s in servers]
        head += [f"{s} failed conns" for s in servers]
        print("| " + " | ".join(head) + " |")
        print("|" + "---:|" * len(head))
        for level in levels:
            rate = {s: stat(generator, level, s, "rate") for s in servers}
            p99 = {s: stat(generator, level, s, "p99_ms") for s in servers}
            rss = {s: stat(generator, level, s, "rss_kib") for s in servers}
            cells = [f"{level:,}"]
            cells += [fmt(rate[s], "{:,.0f}") for s in servers]
            cells.append(fmt(ratio(rate.get("sockdemo"), rate.get("floor")), "{:.2f}x"))
            if "python" in servers:
                cells.append(fmt(ratio(rate.get("sockdemo"), rate.get("python")), "{:.1f}x"))
            cells += [fmt(p99[s], "{:.3f}") for s in servers]
            cells.append(fmt(ratio(p99.get("sockdemo"), p99.get("floor")), "{:.2f}x"))
            cells += [fmt(None if rss[s] is None else rss[s] / 1024, "{:.1f}") for s in servers]
            cells += [failures(generator, level, s) for s in servers]
            print("| " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main(sys.argv[1])
