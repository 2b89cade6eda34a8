#!/usr/bin/env python3
"""The profiles of scripts/profile.sh as one table: microseconds per request by category.

Input: a file of lines "NAME REQ_PER_S REPORT" (REPORT: `perf report --no-children --sort symbol
--stdio -g none` output). Each symbol's share of the samples is put in the first category whose
pattern matches it (kernel symbols all go to "kernel"), and turned into microseconds per request
with the throughput measured while the profile was taken (the server had one core: a share of
its samples is that share of 1/throughput).

One kernel symbol has a row of its own: `_raw_spin_unlock_irqrestore`. perf samples this VM with
a software timer (`cpu-clock`, no hardware counters), whose interrupt cannot land while
interrupts are disabled, so samples taken during any interrupts-off stretch (and perf's own
interrupt work) are charged to the place interrupts come back on. Its share is the same
(7-12 %) at 10 us and at 80 us per request, i.e. it grows with time, not with requests: it is
the sampling's skid and cost, not work a request does.
"""
import re
import sys

CATEGORIES = [
    ("crypto (aws-lc: RSA/EC/Ed25519, SHA-256)", r"aws_lc|^bn_|sha256|ecp_nistz|x25519|ed25519"),
    ("allocation (malloc/free)", r"^(malloc|free|_int_malloc|_int_free|_int_realloc|realloc|cfree|malloc_consolidate|unlink_chunk|tcache|__libc_malloc|__libc_free|__rust_alloc|__rust_dealloc|__rdl_)|alloc::raw_vec"),
    ("memcpy/memcmp/memset", r"^__mem|^memcpy|^memmove|^memcmp|^memset"),
    ("logging (decision lines, tracing)", r"tracing|decision_log|nu_ansi_term|core::fmt|alloc::fmt|LowerHex|Formatter|<str as core::fmt|String as core::fmt"),
    ("metrics (prometheus)", r"prometheus"),
    ("JSON (serde_json)", r"serde_json|serde_core|serde::"),
    ("base64", r"base64"),
    ("token cache (moka)", r"moka|token_cache|crossbeam|quanta"),
    ("jwtgate (parsing, policy, headers)", r"jwtgate"),
    ("HTTP (actix-web, tokio, httparse)", r"actix|tokio|mio::|^http::|httparse|bytes::|futures|__send|__libc_recv|epoll|writev|__vdso_clock_gettime"),
]


KERNEL = "kernel (TCP, epoll, wake-ups)"
OTHER = "other"
SKID = "sampling skid (perf, interrupts off; see above)"


def categorize(report_path):
    shares = {}
    for line in open(report_path, encoding="utf-8", errors="replace"):
        m = re.match(r"\s*([0-9.]+)%\s+\[(\.|k)\]\s+(.*?)\s*$", line)
        if not m:
            continue
        pct, space, symbol = float(m.group(1)), m.group(2), m.group(3)
        category = KERNEL if space == "k" else OTHER
        if symbol.split()[0] == "_raw_spin_unlock_irqrestore":
            category = SKID
        if space != "k":
            for name, pattern in CATEGORIES:
                if re.search(pattern, symbol):
                    category = name
                    break
        shares[category] = shares.get(category, 0.0) + pct
    return shares


def main():
    runs = []
    for line in open(sys.argv[1], encoding="utf-8"):
        name, rps, report = line.split()
        runs.append((name, float(rps), categorize(report)))
    # Every category, the skid's included (its row was missing: the per-request figures did not
    # add up to the measured time).
    order = [name for name, _ in CATEGORIES] + [KERNEL, OTHER, SKID]
    header = "| µs per request | " + " | ".join(f"{n} ({rps:,.0f} req/s = {1e6 / rps:.1f} µs)" for n, rps, _ in runs) + " |"
    print(header)
    print("| --- |" + " ---: |" * len(runs))
    for category in sorted(order, key=lambda c: -max(s.get(c, 0) / 100 * 1e6 / r for _, r, s in runs)):
        cells = [f"{s.get(category, 0) / 100 * 1e6 / r:.2f} ({s.get(category, 0):.0f} %)" for _, r, s in runs]
        print(f"| {category} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
