"""Plots the areas `harness all --csv-dir DIR` wrote as CSV.

    python plot_areas.py benches/target docs/img

Draws, for each CSV present in DIR:

- switch-spawn.csv -> switch-spawn.png: ns per switch round trip and per
  spawn+join, one bar per subject, log scale (lower is better), with the
  repetitions' min-max as error bars;
- memory.csv -> memory.png: bytes per idle task (RSS + page tables) by task
  count, one line per subject (lower is better);
- echo.csv -> echo.png: echo round trips/s by connection count, one line per
  subject (higher is better), with the processes' min-max as error bars;
- dns.csv -> dns.png: server CPU per cached hit, one bar per forwarder, log
  scale (lower is better), with the windows' min-max as error bars;
- uring.csv -> uring.png: server CPU per round trip / request by connection
  count for every server of the io_uring comparison, one panel per area
  (echo, HTTP, HTTP pipelined), log scale (lower is better), with the
  processes' min-max as error bars.
"""

import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

TITLES = {
    "grove": "grove",
    "corosensei": "corosensei raw",
    "may": "may",
    "tokio": "tokio",
    "go": "Go",
    "gevent": "gevent",
}


# One colour per subject across every plot; grove's green is nobody else's.
COLORS = {
    "grove": "tab:green",
    "corosensei": "tab:blue",
    "may": "tab:orange",
    "tokio": "tab:red",
    "go": "tab:purple",
    "gevent": "tab:brown",
}


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def num(text):
    return float(text) if text not in ("", None) else None


def errors(rows, scale=1.0):
    """Error bars (below, above) from min/max columns; zero where absent."""
    lo, hi = [], []
    for r in rows:
        v, mn, mx = num(r["value"]), num(r["min"]), num(r["max"])
        lo.append((v - mn) * scale if mn is not None else 0.0)
        hi.append((mx - v) * scale if mx is not None else 0.0)
    return [lo, hi]


def log_axis(ax):
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))


def switch_spawn(rows, dst):
    labels = []
    for r in rows:
        if r["row"] not in labels:
            labels.append(r["row"])
    fig, axes = plt.subplots(1, len(labels), figsize=(4.2 * len(labels), 4.2))
    if len(labels) == 1:
        axes = [axes]
    for ax, label in zip(axes, labels):
        sel = [r for r in rows if r["row"] == label]
        names = [TITLES.get(r["subject"], r["subject"]) for r in sel]
        values = [float(r["value"]) for r in sel]
        colors = ["tab:green" if r["subject"] == "grove" else "tab:gray" for r in sel]
        bars = ax.bar(names, values, color=colors, yerr=errors(sel), capsize=3)
        ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=2)
        ax.set_title(label.split(":")[0].replace(" empty task", ""), fontsize=10)
        ax.set_ylabel("ns (lower is better)")
        ax.tick_params(axis="x", rotation=30, labelsize=8)
        log_axis(ax)
        # Bars on a log axis start from 1 ns, not from an arbitrary edge.
        ax.set_ylim(bottom=1)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Switch and spawn: median of 5 repetitions, bars min-max")
    fig.tight_layout()
    fig.savefig(dst, dpi=100)


def by_count(rows, dst, xlabel, ylabel, title, log_y):
    fig, ax = plt.subplots(figsize=(7, 4.4))
    subjects = []
    for r in rows:
        if r["subject"] not in subjects:
            subjects.append(r["subject"])
    for s in subjects:
        sel = sorted((r for r in rows if r["subject"] == s), key=lambda r: int(r["count"]))
        xs = [int(r["count"]) for r in sel]
        ys = [float(r["value"]) for r in sel]
        ax.errorbar(xs, ys, yerr=errors(sel), marker="o", capsize=3,
                    linewidth=2.5 if s == "grove" else 1.2, color=COLORS.get(s),
                    label=TITLES.get(s, s))
    ax.set_xscale("log")
    if log_y:
        log_axis(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(dst, dpi=100)


def dns(rows, dst):
    fig, ax = plt.subplots(figsize=(7, 4.2))
    names = [r["subject"].replace(" (all CPUs; shared with dnsperf)", "\n(all CPUs)") for r in rows]
    values = [float(r["cpu_us_per_hit"]) for r in rows]
    lo = [v - float(r["cpu_us_min"]) for v, r in zip(values, rows)]
    hi = [float(r["cpu_us_max"]) - v for v, r in zip(values, rows)]
    colors = ["tab:green" if r["subject"].startswith("grove") else "tab:gray" for r in rows]
    bars = ax.bar(names, values, color=colors, yerr=[lo, hi], capsize=3)
    ax.bar_label(bars, fmt="%.3g", fontsize=8, padding=2)
    ax.set_ylabel("µs server CPU per cached hit (lower is better)")
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("DNS forwarders: server CPU per cached hit (median of windows, bars min-max)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=100)


# The io_uring comparison's servers: grove's two backends in green shades,
# the io_uring ones dashed.
URING_STYLE = {
    "grove-epoll": ("tab:green", "-"),
    "grove-uring": ("darkgreen", "--"),
    "monoio": ("tab:cyan", "--"),
    "tokio": ("tab:red", "-"),
    "hyper": ("tab:red", "-"),
    "may": ("tab:orange", "-"),
    "may_minihttp": ("tab:orange", "-"),
    "C epoll floor": ("black", "-"),
    "C io_uring floor": ("black", "--"),
}
URING_AREAS = {"echo": "Echo: µs CPU per round trip", "http": "HTTP hello: µs CPU per request"}


def uring(rows, dst):
    areas = []
    for r in rows:
        if r["area"] not in areas:
            areas.append(r["area"])
    fig, axes = plt.subplots(1, len(areas), figsize=(5.2 * len(areas), 4.6))
    if len(areas) == 1:
        axes = [axes]
    for ax, area in zip(axes, areas):
        sel_area = [r for r in rows if r["area"] == area]
        servers = []
        for r in sel_area:
            if r["server"] not in servers:
                servers.append(r["server"])
        for s in servers:
            sel = sorted((r for r in sel_area if r["server"] == s), key=lambda r: int(r["conns"]))
            xs = [int(r["conns"]) for r in sel]
            ys = [float(r["cpu_us"]) for r in sel]
            lo = [y - float(r["cpu_min"]) for y, r in zip(ys, sel)]
            hi = [float(r["cpu_max"]) - y for y, r in zip(ys, sel)]
            color, style = URING_STYLE.get(s, (None, "-"))
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, color=color,
                        linestyle=style, linewidth=2.5 if s.startswith("grove") else 1.2, label=s)
        ax.set_xscale("log")
        ax.set_xlabel("connections")
        ax.set_ylabel("µs server CPU per operation (lower is better)")
        title = URING_AREAS.get(area, "HTTP hello, " + area.replace("http-", "").replace("-", " depth "))
        ax.set_title(title, fontsize=10)
        # Log scale: echo at 1 connection costs ten times more per round
        # trip (the server sleeps and is woken for every one) than at 100.
        log_axis(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("io_uring comparison: server CPU per operation by connections "
                 "(median of processes, bars min-max)", fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=100)


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    drawn = []
    jobs = [
        ("switch-spawn", lambda rows, dst: switch_spawn(rows, dst)),
        ("memory", lambda rows, dst: by_count(
            rows, dst, "idle tasks", "bytes per idle task, RSS + PTE (lower is better)",
            "Memory per idle task by task count (one process per point)", True)),
        ("echo", lambda rows, dst: by_count(
            rows, dst, "connections", "round trips/s (higher is better)",
            "Echo: 64 B round trips/s by connections (median of processes, bars min-max)",
            True)),
        ("dns", dns),
        ("uring", uring),
    ]
    for name, draw in jobs:
        path = os.path.join(src, name + ".csv")
        if not os.path.exists(path):
            continue
        rows = read(path)
        if not rows:
            continue
        draw(rows, os.path.join(out, name + ".png"))
        drawn.append(name + ".png")
    print("drew " + (", ".join(drawn) if drawn else "nothing (no CSV files)"))


if __name__ == "__main__":
    main()
