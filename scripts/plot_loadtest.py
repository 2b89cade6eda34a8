#!/usr/bin/env python3
"""Turns a scripts/loadtest.sh run into a report: results.md (tables, ratios to the reference
servers and the peer, issue 14's targets met or missed) and loadtest.png (the scale curves).

    python3 scripts/plot_loadtest.py target/loadtest/run-<time>

Reads results.tsv (HTTP), grpc.tsv (gRPC) and meta.txt from that directory; a run of one
transport only (`loadtest.sh http` or `grpc`) has only that file. The PNG needs matplotlib (loadtest.sh
installs it with pip when missing); without it only results.md is written.
"""

import csv
import statistics
import sys
from pathlib import Path

# Issue 14's targets (issue 5's, 0.9x of decode-only and 0.7x of no-op, are within these).
VS_PEER_DISTINCT_MIN = 1.3
VS_DECODE_MIN = 1.1
PER_REQUEST_VS_FLOOR_MAX = 1.3
VS_PEER_CACHED_MIN = 5.0
CACHED_VS_NOOP_MIN = 0.70
FLAT_WITHIN = 0.15
P99_VS_REFERENCE_MAX = 1.5
SECOND_CORE_GAIN_MIN = 0.70
RSS_CACHE_OFF_MAX_MIB = 20
RSS_CACHED_TOKENS_MAX_MIB = 64
READY_MAX_MS = 100

# jwtgate scenario -> the reference scenario it is compared with (same mode, same load).
PAIRS = {
    "rs256-distinct": "decode-rs256",
    "es256-distinct": "decode-es256",
    "eddsa-distinct": "decode-eddsa",
    "rs256-one": "noop",
    "rs256-1000": "noop-1000",
    "mix10": "decode-mix10",
    "real-rs256-distinct": "decode-real-rs256",
    "real-rs256-1000": "noop-real-1000",
    "rs256-distinct-nolog": "decode-rs256",
    "rs256-one-nolog": "noop",
}

# jwtgate scenario -> the peer's (jwt-authorizer behind axum, scripts/peer) on the same load.
PEER_PAIRS = {
    "rs256-distinct": "peer-rs256",
    "es256-distinct": "peer-es256",
    "eddsa-distinct": "peer-eddsa",
    "rs256-one": "peer-one",
    "rs256-1000": "peer-1000",
    "real-rs256-distinct": "peer-real-rs256",
    "real-rs256-1000": "peer-real-1000",
    "rs256-distinct-nolog": "peer-rs256",
    "rs256-one-nolog": "peer-one",
}


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def read_tsv(path):
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


NUMERIC = ("rps", "p50_ms", "p99_ms", "max_ms", "vmrss_kb", "vmhwm_kb", "ready_ms", "hit_ratio",
           "non2xx", "requests", "workers", "issuers", "tokens", "server_cores", "machine_cores",
           "steal_cores")
# The columns naming a run: rows equal in all of them are rounds of one scenario
# (LOADTEST_ROUNDS), merged into one row by merge_rounds.
IDENTITY = ("mode", "server", "scenario", "workers", "issuers", "tokens", "cache")
# Memory is judged by the largest of the rounds, everything else by the median.
PEAKS = ("vmrss_kb", "vmhwm_kb")


def merge_rounds(rows):
    """One row per scenario: the median of its rounds (the peak for memory), with `rounds` and
    `rps_samples` (each round's req/s, in round order). Time-to-ready samples stay separate."""
    groups = {}
    for i, row in enumerate(rows):
        key = ("ready", i) if row["scenario"] == "ready" else tuple(row[k] for k in IDENTITY)
        groups.setdefault(key, []).append(row)
    merged = []
    for group in groups.values():
        row = dict(group[0])
        row["rounds"] = len(group)
        row["rps_samples"] = [r["rps"] for r in group if r["rps"] is not None]
        for key in NUMERIC:
            values = [r[key] for r in group if r[key] is not None]
            if values:
                row[key] = max(values) if key in PEAKS else statistics.median(values)
        merged.append(row)
    return merged


def load(run):
    rows = read_tsv(run / "results.tsv")
    for row in rows:
        for key in NUMERIC:
            # CPU columns are absent from runs before they were recorded.
            row[key] = number(row.get(key) or "-")
    rows = merge_rounds(rows)
    meta = {}
    for line in (run / "meta.txt").read_text().splitlines():
        # One key=value a line, except the run settings line: several, space-separated.
        parts = line.split(" ") if line.startswith(("duration_secs=", "floor_")) else [line]
        for part in parts:
            if "=" in part:
                key, value = part.split("=", 1)
                meta[key] = value
    return rows, meta


def find(rows, **match):
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def one(rows, **match):
    found = find(rows, **match)
    return found[0] if found else None


def fmt(value, digits=0):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def mib(kb):
    return None if kb is None else kb / 1024


def per_round(r, ref):
    """Each round's ratio of `r` to `ref` (rounds pair up: one round runs every scenario once),
    or nothing for a single round."""
    mine, theirs = r.get("rps_samples", []), ref.get("rps_samples", [])
    if len(mine) < 2 or len(mine) != len(theirs) or not all(theirs):
        return ""
    return " (rounds: " + ", ".join(f"{a / b:.2f}x" for a, b in zip(mine, theirs)) + ")"


def rps_cell(r):
    """req/s: the median, and the range of the rounds when there were several."""
    samples = r.get("rps_samples", [])
    spread = f" ({fmt(min(samples))}-{fmt(max(samples))})" if len(samples) > 1 else ""
    return f"{fmt(r['rps'])}{spread}"


def verdict(ok):
    return "**met**" if ok else "**missed**"


def main_table(rows, mode):
    out = [
        f"| scenario ({mode}) | server | tokens | token cache | req/s | p50 ms | p99 ms | non-2xx | "
        "cache hits | vs reference (req/s) | p99 vs reference | vs peer (req/s) | cores: server / machine / steal |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |",
    ]
    measured = [r for r in rows if r["mode"] == mode and not r["scenario"].startswith(("scale-", "ready"))]
    for r in measured:
        ref_name = PAIRS.get(r["scenario"])
        ref = one(rows, mode=mode, scenario=ref_name) if ref_name else None
        ratio = f"{r['rps'] / ref['rps']:.2f}x of {ref_name}" if ref and ref["rps"] else ""
        p99 = f"{r['p99_ms'] / ref['p99_ms']:.2f}x" if ref and ref["p99_ms"] else ""
        peer = one(rows, mode=mode, scenario=PEER_PAIRS[r["scenario"]]) if r["scenario"] in PEER_PAIRS else None
        vs_peer = f"{r['rps'] / peer['rps']:.2f}x" if peer and peer["rps"] else ""
        hits = "-" if r["hit_ratio"] is None else f"{r['hit_ratio']:.1%}"
        cores = " / ".join(fmt(r[k], 2) for k in ("server_cores", "machine_cores", "steal_cores"))
        out.append(
            f"| {r['scenario']} | {r['server']} | {fmt(r['tokens'])} | {r['cache']} | {rps_cell(r)} | "
            f"{fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} | {fmt(r['non2xx'])} | {hits} | {ratio} | {p99} | {vs_peer} | {cores} |"
        )
    return out


def targets(rows, meta):
    """Issue 14's targets, each met or missed, with the numbers behind it."""
    out = [
        "| target (issue 14) | mode | measured | verdict |",
        "| --- | --- | --- | --- |",
    ]

    def ratio_row(label, mode, scenario, other, minimum):
        r, ref = one(rows, mode=mode, scenario=scenario), one(rows, mode=mode, scenario=other)
        if not (r and ref and r["rps"] and ref["rps"]):
            return
        ratio = r["rps"] / ref["rps"]
        gap = "" if ratio >= minimum else f"; {minimum - ratio:.2f} short, {fmt(minimum * ref['rps'])} req/s needed"
        out.append(
            f"| {label} | {mode} | {scenario} {fmt(r['rps'])} / {other} {fmt(ref['rps'])} req/s = "
            f"**{ratio:.2f}x**{per_round(r, ref)} (need {minimum:.2f}x{gap}) | {verdict(ratio >= minimum)} |"
        )

    modes = ("pinned", "unpinned")
    for mode in modes:  # point 2
        ratio_row("distinct RS256 (cache off) >= 1.3x the peer", mode, "rs256-distinct", "peer-rs256", VS_PEER_DISTINCT_MIN)
        ratio_row("distinct RS256 (cache off) >= 1.1x decode-only", mode, "rs256-distinct", "decode-rs256", VS_DECODE_MIN)
        ratio_row("distinct ES256 >= 1.3x the peer", mode, "es256-distinct", "peer-es256", VS_PEER_DISTINCT_MIN)
        ratio_row("distinct EdDSA >= 1.3x the peer", mode, "eddsa-distinct", "peer-eddsa", VS_PEER_DISTINCT_MIN)
    floor_us = number(meta.get("floor_rs256_verify_us", "-"))
    r, noop = one(rows, mode="pinned", scenario="rs256-distinct"), one(rows, mode="pinned", scenario="noop")
    if floor_us and r and noop and r["rps"] and noop["rps"]:
        per_request, floor = 1e6 / r["rps"], floor_us + 1e6 / noop["rps"]
        ratio = per_request / floor
        out.append(
            f"| distinct RS256 per request <= 1.3x (parsed-key verify + no-op request) | pinned | "
            f"{per_request:.1f} µs vs {floor_us:.1f} + {1e6 / noop['rps']:.1f} = {floor:.1f} µs: **{ratio:.2f}x** | "
            f"{verdict(ratio <= PER_REQUEST_VS_FLOOR_MAX)} |"
        )
    for mode in modes:  # point 3
        ratio_row("one repeated token (cache on) >= 5x the peer", mode, "rs256-one", "peer-one", VS_PEER_CACHED_MIN)
        ratio_row("1000 reused tokens (cache on) >= 5x the peer", mode, "rs256-1000", "peer-1000", VS_PEER_CACHED_MIN)
    ratio_row("one repeated token (cache on) >= 0.7x no-op", "pinned", "rs256-one", "noop", CACHED_VS_NOOP_MIN)
    ratio_row("1000 reused tokens (cache on) >= 0.7x no-op", "pinned", "rs256-1000", "noop-1000", CACHED_VS_NOOP_MIN)
    for mode in modes:  # point 4
        ratio_row("~1 KB tokens, distinct >= 1.3x the peer", mode, "real-rs256-distinct", "peer-real-rs256", VS_PEER_DISTINCT_MIN)
        ratio_row("~1 KB tokens, distinct >= 1.1x decode-only", mode, "real-rs256-distinct", "decode-real-rs256", VS_DECODE_MIN)
        ratio_row("~1 KB tokens, 1000 reused >= 5x the peer", mode, "real-rs256-1000", "peer-real-1000", VS_PEER_CACHED_MIN)
    ratio_row("~1 KB tokens, 1000 reused >= 0.7x no-op (fed the same tokens)", "pinned", "real-rs256-1000", "noop-real-1000", CACHED_VS_NOOP_MIN)
    for scenario, label in (("rs256-distinct", "distinct RS256, cache off"), ("rs256-one", "one token, cache on")):
        two = one(rows, mode="unpinned", scenario=scenario)
        single = one(rows, mode="unpinned", scenario=f"scale-workers-{scenario}")
        if two and single and single["rps"] and two["rps"]:
            gain = two["rps"] / single["rps"] - 1
            out.append(
                f"| second core adds >= 70 % ({label}; 1 vs 2 workers, wrk on the same 2 cores) | unpinned | "
                f"{fmt(single['rps'])} -> {fmt(two['rps'])} req/s = **{gain:+.0%}** | {verdict(gain >= SECOND_CORE_GAIN_MIN)} |"
            )
    for mode in modes:
        worst = None
        for scenario, ref_name in PAIRS.items():
            r, ref = one(rows, mode=mode, scenario=scenario), one(rows, mode=mode, scenario=ref_name)
            if r and ref and r["p99_ms"] and ref["p99_ms"]:
                ratio = r["p99_ms"] / ref["p99_ms"]
                if worst is None or ratio > worst[0]:
                    worst = (ratio, scenario, r["p99_ms"], ref_name, ref["p99_ms"])
        if worst:
            ratio, scenario, p99, ref_name, ref_p99 = worst
            out.append(
                f"| p99 at 64 connections <= 1.5x the matching reference's (worst pair) | {mode} | "
                f"{scenario} {p99:.2f} ms vs {ref_name} {ref_p99:.2f} ms = **{ratio:.2f}x** | "
                f"{verdict(ratio <= P99_VS_REFERENCE_MAX)} |"
            )
    off = [r for r in rows if r["server"] == "jwtgate" and r["cache"] == "off" and r["vmhwm_kb"]]
    if off:
        peak = max(off, key=lambda r: r["vmhwm_kb"])
        out.append(
            f"| RSS <= 20 MiB with the token cache off (peak VmHWM of all cache-off runs) | {peak['mode']} | "
            f"**{mib(peak['vmhwm_kb']):.1f} MiB** ({peak['scenario']}, {fmt(peak['workers'])} worker(s)) | "
            f"{verdict(mib(peak['vmhwm_kb']) <= RSS_CACHE_OFF_MAX_MIB)} |"
        )
    points = token_points(rows)
    if points:
        r = points[-1]
        hits = "-" if r["hit_ratio"] is None else f"{r['hit_ratio']:.1%}"
        out.append(
            f"| RSS <= 64 MiB with {fmt(r['tokens'])} cached tokens (VmHWM after one pass + a run; hits {hits}) | "
            f"{r['mode']} | **{mib(r['vmhwm_kb']):.1f} MiB** (VmRSS {mib(r['vmrss_kb']):.1f}) | "
            f"{verdict(mib(r['vmhwm_kb']) <= RSS_CACHED_TOKENS_MAX_MIB)} |"
        )
    for label, series, key in (("1 -> 32 issuers (distinct RS256, cache off)", issuer_points(rows), "issuers"),
                               ("10 -> 100,000 cached tokens (cache on)", points, "tokens")):
        if len(series) >= 2 and series[0]["rps"] and series[-1]["rps"]:
            change = series[-1]["rps"] / series[0]["rps"] - 1
            out.append(
                f"| flat within 15 %: {label} | pinned | {fmt(series[0]['rps'])} -> {fmt(series[-1]['rps'])} req/s "
                f"= **{change:+.0%}** | {verdict(abs(change) <= FLAT_WITHIN)} |"
            )
    for issuers in sorted({r["issuers"] for r in rows if r["scenario"] == "ready"}):
        samples = [r["ready_ms"] for r in rows if r["scenario"] == "ready" and r["issuers"] == issuers]
        median = statistics.median(samples)
        out.append(
            f"| ready (first 200 from /readyz) <= 100 ms after start, {fmt(issuers)} issuer(s) | pinned | "
            f"median **{median:.1f} ms** of {len(samples)} ({', '.join(f'{s:.1f}' for s in samples)}) | "
            f"{verdict(median <= READY_MAX_MS)} |"
        )
    return out


def grpc_table(rows):
    """gRPC Check under h2load: jwtgate against the tonic no-op of the same mode."""
    out = [
        "| mode | server | scenario | workers | token cache | req/s | vs tonic no-op | p50 ms | p99 ms | "
        "p99 vs no-op | failed | allowed / denied (jwtgate's count) | cache hits | VmHWM MiB | "
        "cores: server / machine / steal |",
        "| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for r in rows:
        ref = one(rows, mode=r["mode"], server="grpc-noop")
        ratio = p99 = ""
        if ref and r is not ref and ref["rps"]:
            ratio = f"{r['rps'] / ref['rps']:.2f}x"
            p99 = f"{r['p99_ms'] / ref['p99_ms']:.2f}x" if ref["p99_ms"] and r["p99_ms"] else ""
        counted = "-" if r["allowed"] is None else f"{fmt(r['allowed'])} / {fmt(r['denied'])}"
        hits = "-" if r["hit_ratio"] is None else f"{r['hit_ratio']:.1%}"
        cores = " / ".join(fmt(r[k], 2) for k in ("server_cores", "machine_cores", "steal_cores"))
        out.append(
            f"| {r['mode']} | {r['server']} | {r['scenario']} | {fmt(r['workers'])} | {r['cache']} | "
            f"{fmt(r['rps'])} | {ratio} | {fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} | {p99} | "
            f"{fmt(r['failed'])} | {counted} | {hits} | {fmt(mib(r['vmhwm_kb']), 1)} | {cores} |"
        )
    return out


def load_grpc(run):
    rows = read_tsv(run / "grpc.tsv")
    for row in rows:
        for key in ("rps", "p50_ms", "p99_ms", "max_ms", "requests", "failed", "non2xx", "allowed",
                    "denied", "hit_ratio", "workers", "vmrss_kb", "vmhwm_kb", "server_cores",
                    "machine_cores", "steal_cores"):
            row[key] = number(row.get(key) or "-")
    return rows


def scale_tables(rows):
    out = ["| workers (unpinned) | server | scenario | req/s | p99 ms |", "| ---: | --- | --- | ---: | ---: |"]
    for base in ("noop", "decode-rs256", "rs256-distinct", "rs256-one"):
        for workers, scenario in ((1, f"scale-workers-{base}"), (2, base)):
            r = one(rows, mode="unpinned", scenario=scenario)
            if r:
                out.append(f"| {workers} | {r['server']} | {base} | {fmt(r['rps'])} | {fmt(r['p99_ms'], 2)} |")
    out += ["", "| issuers (pinned, distinct RS256, cache off) | req/s | p99 ms | VmHWM MiB |",
            "| ---: | ---: | ---: | ---: |"]
    for r in issuer_points(rows):
        out.append(f"| {fmt(r['issuers'])} | {fmt(r['rps'])} | {fmt(r['p99_ms'], 2)} | {fmt(mib(r['vmhwm_kb']), 1)} |")
    out += ["", "| distinct tokens (pinned, cache on, filled by one pass) | req/s | p99 ms | cache hits | VmRSS MiB | VmHWM MiB |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in token_points(rows):
        hits = "-" if r["hit_ratio"] is None else f"{r['hit_ratio']:.1%}"
        out.append(f"| {fmt(r['tokens'])} | {fmt(r['rps'])} | {fmt(r['p99_ms'], 2)} | {hits} | "
                   f"{fmt(mib(r['vmrss_kb']), 1)} | {fmt(mib(r['vmhwm_kb']), 1)} |")
    return out


def issuer_points(rows):
    points = find(rows, mode="pinned", scenario="rs256-distinct") + find(rows, scenario="scale-issuers")
    return sorted(points, key=lambda r: r["issuers"])


def token_points(rows):
    return sorted(find(rows, scenario="scale-tokens"), key=lambda r: r["tokens"])


def plot(rows, path):
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (workers_ax, issuers_ax, tokens_ax) = plt.subplots(1, 3, figsize=(15, 4.5))
    labels, one_worker, two_workers = [], [], []
    for base in ("noop", "decode-rs256", "rs256-distinct", "rs256-one"):
        single = one(rows, mode="unpinned", scenario=f"scale-workers-{base}")
        double = one(rows, mode="unpinned", scenario=base)
        if single and double:
            labels.append(base)
            one_worker.append(single["rps"] / 1000)
            two_workers.append(double["rps"] / 1000)
    xs = range(len(labels))
    workers_ax.bar([x - 0.2 for x in xs], one_worker, 0.4, label="1 worker")
    workers_ax.bar([x + 0.2 for x in xs], two_workers, 0.4, label="2 workers")
    workers_ax.set_xticks(list(xs), labels, rotation=15)
    workers_ax.set_ylabel("k req/s")
    workers_ax.set_title("Workers (unpinned, wrk on the same 2 cores)")
    workers_ax.legend()

    points = issuer_points(rows)
    issuers_ax.plot([p["issuers"] for p in points], [p["rps"] / 1000 for p in points], "o-")
    issuers_ax.set_xlabel("configured issuers (tokens spread over all)")
    issuers_ax.set_ylabel("k req/s")
    issuers_ax.set_ylim(bottom=0)
    issuers_ax.set_title("Issuers (pinned, distinct RS256, cache off)")

    points = token_points(rows)
    tokens_ax.plot([p["tokens"] for p in points], [p["rps"] / 1000 for p in points], "o-", label="req/s")
    tokens_ax.set_xscale("log")
    tokens_ax.set_xlabel("distinct tokens in rotation")
    tokens_ax.set_ylabel("k req/s")
    tokens_ax.set_ylim(bottom=0)
    tokens_ax.set_title("Distinct tokens (pinned, token cache on)")
    hits_ax = tokens_ax.twinx()
    hits_ax.plot([p["tokens"] for p in points], [(p["hit_ratio"] or 0) * 100 for p in points], "s--",
                 color="tab:green", label="cache hits %")
    hits_ax.set_ylabel("cache hits %")
    hits_ax.set_ylim(0, 105)
    tokens_ax.legend(loc="lower left")
    hits_ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main():
    run = Path(sys.argv[1])
    rows, meta = load(run)
    grpc = load_grpc(run)
    wrk = f"{meta.get('wrk', '')}; wrk -t1 -c{meta.get('connections', '?')}, " if rows else ""
    lines = [
        f"Run {meta.get('date_utc', '?')} on {meta.get('cpus', '?')} x {meta.get('cpu', '?')} "
        f"(kernel {meta.get('kernel', '?')}), jwtgate {meta.get('commit', '?')}, {meta.get('rustc', '')}, "
        f"{wrk}{meta.get('warmup_secs', '?')} s warm-up + "
        f"{meta.get('duration_secs', '?')} s per run{rounds_note(meta)}; load average before {meta.get('loadavg_start', '?')}, "
        f"after {meta.get('loadavg_end', '?')}.",
        "",
    ]
    if grpc:
        lines += [
            "### gRPC (Envoy ext_authz Check, h2load)",
            "",
            f"{meta.get('h2load', 'h2load')} -t1 -c{meta.get('grpc_connections', '?')} "
            f"-m{meta.get('grpc_streams', '?')}, one CheckRequest body (one RS256 token) for every call.",
            "",
            *grpc_table(grpc),
            "",
        ]
    if rows:
        lines += http_sections(rows, meta)
    (run / "results.md").write_text("\n".join(lines))
    if rows and not plot(rows, run / "loadtest.png"):
        print("plot_loadtest: matplotlib is not installed; wrote only results.md", file=sys.stderr)


def rounds_note(meta):
    rounds = int(meta.get("rounds", "1") or 1)
    if rounds < 2:
        return ""
    return (f", {rounds} rounds (every req/s, p50, p99 and core figure is the median of its rounds, "
            "memory the peak; ranges in brackets)")


def http_sections(rows, meta):
    return [
        "### Targets",
        "",
        *targets(rows, meta),
        "",
        "### All runs",
        "",
        *main_table(rows, "pinned"),
        "",
        *main_table(rows, "unpinned"),
        "",
        "### Scale",
        "",
        *scale_tables(rows),
        "",
    ]


if __name__ == "__main__":
    main()
