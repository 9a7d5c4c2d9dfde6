"""Plots the XML-RPC rows from the CSV `harness all --xmlrpc-csv` writes.

    python plot_xmlrpc.py benches/target/xmlrpc.csv out.png

One panel per workload (call and gzip): calls per second (log scale) by
concurrent connections (log scale), one line per server. A cell whose load
client counted errors is drawn with a hollow marker.
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
    works, subjects = [], []
    for r in rows:
        w = (r["call"], r["gzip"])
        if w not in works:
            works.append(w)
        if r["subject"] not in subjects:
            subjects.append(r["subject"])
    conns = sorted({int(r["connections"]) for r in rows})
    styles = {s: ("-" if s.startswith("grove") else "--" if s == "dxr-axum" else ":") for s in subjects}

    fig, axes = plt.subplots(1, len(works), figsize=(max(7.5, 5.2 * len(works)), 4.8), squeeze=False)
    for ax, (call, gzip) in zip(axes[0], works):
        for s in subjects:
            pts = sorted(
                (int(r["connections"]), float(r["calls_per_sec"]), float(r["errors"] or 0) > 0)
                for r in rows
                if r["subject"] == s and (r["call"], r["gzip"]) == (call, gzip)
            )
            if not pts:
                continue
            (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], styles[s], marker="o", label=s)
            for n, v, err in pts:
                if err:
                    ax.plot([n], [v], "o", markerfacecolor="white", markeredgecolor=line.get_color())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(conns)
        ax.xaxis.set_major_formatter(ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("concurrent connections of the load client")
        ax.set_ylabel("calls/s (higher is better)")
        ax.set_title("%s, gzip %s" % (call, gzip))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle(
        "XML-RPC calls/s by connections: grove-xmlrpc bench on CPU 0, the server on CPU 1\n"
        "(hollow marker: the load client counted errors)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main()
