#!/usr/bin/env python3
"""Turns the benchmark scripts' runs into the Markdown tables of BENCHMARKS.md.

    report.py serve RUNS.tsv...       bench/serve.sh: one table per load generator
    report.py cpu RUNS.tsv...         bench/server_cpu.sh: server CPU per round trip
    report.py fetch RESULTS.tsv SIZE_MIB ROUNDS
                                      bench/fetch.sh: wall time and peak RSS per tool

Figures are medians over the repeats. In the serve report, sockdemo's ratios
are medians of the ratios within each repeat, where sockdemo and the other
server ran back to back, so that the load other programs put on the machine
meanwhile cancels out as far as it can. The fetch report compares each
tool's median with curl's, measured in the same run."""

import csv
import statistics
import sys
from collections import defaultdict

SERVERS = ["sockdemo", "floor", "python"]
GENERATORS = {
    "client": "`sockdemo client --connections N --rounds M`",
    "loadgen": "`bench/loadgen N M` (C, epoll, one thread)",
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


def serve(paths):
    runs = defaultdict(list)
    levels = []
    present = set()
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                level = int(row["level"])
                if level not in levels:
                    levels.append(level)
                present.add(row["server"])
                # Runs pair up within one file's repeat: only they ran back to back.
                row["run"] = (path, row["repeat"])
                runs[(row["generator"], level, row["server"])].append(row)
    servers = [s for s in SERVERS if s in present]
    others = [s for s in servers if s != "sockdemo"]

    def stat(generator, level, server, field):
        return median(number(r[field]) for r in runs[(generator, level, server)])

    def paired_ratio(generator, level, other, field):
        """Median over repeats of sockdemo's figure divided by the other's."""
        mine = {r["run"]: number(r[field]) for r in runs[(generator, level, "sockdemo")]}
        ratios = []
        for r in runs[(generator, level, other)]:
            a, b = mine.get(r["run"]), number(r[field])
            if a is not None and b:
                ratios.append(a / b)
        return median(ratios)

    def failed(generator, level):
        parts = []
        for s in servers:
            rows = runs[(generator, level, s)]
            lost = sum(int(r["failed"]) for r in rows)
            total = sum(int(r["ok"]) + int(r["failed"]) for r in rows)
            if lost:
                parts.append(f"{s} {lost:,} of {total:,}")
        return ", ".join(parts) or "none"

    names = " / ".join(servers)
    for generator, title in GENERATORS.items():
        if not any(key[0] == generator for key in runs):
            continue
        print(f"Load from {title}:\n")
        head = ["N", "M", f"round trips/s ({names})"]
        head += [f"sockdemo ÷ {o}" for o in others]
        head += [f"p99 ms ({names})", "p99 sockdemo ÷ floor"]
        head += [f"peak RSS MiB ({names})", "failed connections"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---:|" * (len(head) - 1) + "---|")
        for level in levels:
            rounds = stat(generator, level, servers[0], "rounds")
            rate = [fmt(stat(generator, level, s, "rate"), "{:,.0f}") for s in servers]
            p99 = [fmt(stat(generator, level, s, "p99_ms"), "{:.3f}") for s in servers]
            rss = [fmt(stat(generator, level, s, "rss_kib"), "{:.0f}") for s in servers]
            rss = [fmt(None if v == "-" else int(v) / 1024, "{:.1f}") for v in rss]
            cells = [f"{level:,}", fmt(rounds, "{:,.0f}"), " / ".join(rate)]
            cells += [fmt(paired_ratio(generator, level, o, "rate"), "{:.2f}x") for o in others]
            cells += [" / ".join(p99), fmt(paired_ratio(generator, level, "floor", "p99_ms"), "{:.2f}x")]
            cells += [" / ".join(rss), failed(generator, level)]
            print("| " + " | ".join(cells) + " |")
        print()


def cpu(paths):
    cpu_per_trip = defaultdict(list)
    levels, present = [], set()
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                level = int(row["level"])
                if level not in levels:
                    levels.append(level)
                present.add(row["server"])
                cpu_per_trip[(level, row["server"])].append(number(row["cpu_us_per_round_trip"]))
    servers = [s for s in SERVERS if s in present]
    names = " / ".join(servers)
    print(f"| N | µs of server CPU per round trip ({names}) |")
    print("|---:|---:|")
    for level in levels:
        cells = [fmt(median(cpu_per_trip[(level, s)]), "{:.2f}") for s in servers]
        print(f"| {level:,} | {' / '.join(cells)} |")


def fetch(args):
    path, size, rounds = args
    wall, rss = defaultdict(list), defaultdict(list)
    with open(path) as f:
        for line in f:
            tool, mode, seconds, kib = line.rstrip("\n").split("\t")
            wall[tool, mode].append(float(seconds))
            rss[tool, mode].append(int(kib))
    med = {key: statistics.median(values) for key, values in wall.items()}
    print(f"{size} MiB, medians of {rounds} rounds\n")
    print("| tool | into | wall (s) | vs curl | vs curl + sync | peak RSS (MiB) |")
    print("|---|---|---:|---:|---:|---:|")
    for (tool, mode), seconds in sorted(med.items(), key=lambda kv: (kv[0][1], kv[1])):
        vs_curl = seconds / med["curl", mode]
        vs_sync = f"{seconds / med['curl+sync', 'file']:.2f}x" if mode == "file" else ""
        peak = max(rss[tool, mode]) / 1024
        print(f"| {tool} | {mode} | {seconds:.2f} | {vs_curl:.2f}x | {vs_sync} | {peak:.1f} |")


REPORTS = {
    "serve": (serve, "RUNS.tsv..."),
    "cpu": (cpu, "RUNS.tsv..."),
    "fetch": (fetch, "RESULTS.tsv SIZE_MIB ROUNDS"),
}


def main(args):
    if not args or args[0] not in REPORTS:
        sys.exit(f"usage: report.py {{{'|'.join(REPORTS)}}} FILE...")
    report, usage = REPORTS[args[0]]
    if len(args) < 2 or (args[0] == "fetch" and len(args) != 4):
        sys.exit(f"usage: report.py {args[0]} {usage}")
    report(args[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
