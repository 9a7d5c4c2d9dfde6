"""Plots the HTTP rows from the CSV `harness all --http-csv` writes.

    python plot_http.py benches/target/http.csv out.png

Two panels, one bar group per connection count: requests per second (higher
is better) and server CPU time per request in µs (lower is better).
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402


def main():
    src, dst = sys.argv[1], sys.argv[2]
    rows = list(csv.DictReader(open(src)))
    if not rows:
        sys.exit("no rows in %s" % src)
    subjects = []
    for r in rows:
        if r["subject"] not in subjects:
            subjects.append(r["subject"])
    conns = sorted({int(r["connections"]) for r in rows})
    value = {(r["subject"], int(r["connections"])): r for r in rows}

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    width = 0.8 / len(conns)
    panels = [
        ("req_per_sec", "requests/s (higher is better)", 1e-3, "k req/s"),
        ("cpu_us_per_req", "server CPU per request (lower is better)", 1.0, "µs"),
    ]
    for ax, (key, title, scale, unit) in zip(axes, panels):
        for j, n in enumerate(conns):
            xs, ys = [], []
            for i, s in enumerate(subjects):
                r = value.get((s, n))
                if r is not None:
                    xs.append(i + (j - (len(conns) - 1) / 2) * width)
                    ys.append(float(r[key]) * scale)
            bars = ax.bar(xs, ys, width, label="%d connections" % n)
            ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=1)
        ax.set_title(title)
        ax.set_ylabel(unit)
        ax.set_xticks(range(len(subjects)))
        ax.set_xticklabels(subjects, rotation=25, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        if key == "cpu_us_per_req":
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ticker.ScalarFormatter())
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
            ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.legend(fontsize=8)
    fig.suptitle("Hello world over keep-alive HTTP/1.1: wrk -t1 on CPU 0, server on CPU 1")
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main()
