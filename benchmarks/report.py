"""Tables, ratios, plots and files of a benchmark run."""

# SPDX-License-Identifier: BSD-3-Clause

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

COLUMNS = [
    "dataset",
    "system",
    "family",
    "n_bits",
    "accuracy",
    "model_bytes",
    "pipeline_bytes",
    "fit_seconds",
    "predict_rows_per_s",
    "pipeline_rows_per_s",
    "peak_rss_mb",
    "fit_mem_mb",
    "memory_method",
    "n_iter",
    "n_train",
    "n_test",
    "n_features",
    "warnings",
    "note",
    "params",
]

# Headers of the markdown tables; benchmarks/README.md explains each.
HEADERS = {
    "system": "system",
    "n_bits": "bits",
    "accuracy": "accuracy",
    "model_bytes": "model bytes",
    "pipeline_bytes": "pipeline bytes",
    "fit_seconds": "fit s",
    "predict_rows_per_s": "predict rows/s",
    "pipeline_rows_per_s": "pipeline rows/s",
    "peak_rss_mb": "peak RSS MB",
    "fit_mem_mb": "fit mem MB",
    "n_iter": "epochs/iter",
    "notes": "notes",
}

# Peers every system is compared with in the ratio tables.
REFERENCES = ("MLPClassifier", "LinearSVC")

# Families swept over bit budgets, drawn as curves.
SWEPT = (
    "ProjectionNet random",
    "ProjectionNet trained",
    "Student alone random",
    "Student alone trained",
    "SparseRandomProjection + LR",
)

# The ProjectionNet paper's MNIST results (Ravi, 2017, arXiv:1708.00630).
PAPER_MNIST = [
    ("80-100 bits", "70-80%", (80, 100)),
    ("720 bits", "92.3%", (720, 720)),
    ("full network", "98.9% (3-layer feed-forward)", None),
]


INTEGER_COLUMNS = (
    "n_bits",
    "model_bytes",
    "pipeline_bytes",
    "n_iter",
    "n_train",
    "n_test",
    "n_features",
)


def results_frame(rows):
    """Rows as a DataFrame with the columns in :data:`COLUMNS` order
    (integers stay integers where some rows have none)."""
    frame = pd.DataFrame(rows)
    for column in COLUMNS:
        if column not in frame:
            frame[column] = None
    frame = frame[COLUMNS]
    for column in INTEGER_COLUMNS:
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    return frame


def _is_missing(value):
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _format(column, value):
    if _is_missing(value) or value == "":
        return ""
    if column == "accuracy":
        return f"{value:.4f}"
    if column in ("model_bytes", "pipeline_bytes", "n_bits", "n_iter"):
        return f"{int(value):,}"
    if column in ("predict_rows_per_s", "pipeline_rows_per_s"):
        return f"{value:,.0f}"
    if column in ("fit_seconds",):
        return f"{value:.2f}"
    if column in ("peak_rss_mb", "fit_mem_mb"):
        return f"{value:.0f}"
    return str(value)


def markdown_table(headers, rows):
    """A GitHub markdown table from a header list and rows of strings."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def results_table(frame):
    """The main table of one dataset: every system's measurements."""
    columns = [c for c in HEADERS if c not in ("pipeline_bytes", "pipeline_rows_per_s")]
    if frame["pipeline_bytes"].notna().any():
        columns = list(HEADERS)
    records = frame.to_dict("records")
    for record in records:
        notes = [record["warnings"], record["note"]]
        record["notes"] = "; ".join(n for n in notes if not _is_missing(n) and n)
    rows = [[_format(c, record[c]) for c in columns] for record in records]
    return markdown_table([HEADERS[c] for c in columns], rows)


def ratio_rows(frame, reference):
    """Each system against the reference peer of the same dataset and run.

    ``x smaller``: reference bytes / system bytes; ``d acc``: accuracy
    difference in percentage points; ``x predict``: system rows/s over the
    reference's (above 1: faster). With pipeline bytes for text.
    """
    ref = frame[frame["system"] == reference]
    if ref.empty:
        return None
    ref = ref.iloc[0]
    ratios = pd.DataFrame({"system": frame["system"]})
    ratios["x smaller"] = ref["model_bytes"] / frame["model_bytes"]
    if frame["pipeline_bytes"].notna().any():
        ratios["x smaller (pipeline)"] = ref["pipeline_bytes"] / frame["pipeline_bytes"]
    ratios["d acc (pts)"] = 100 * (frame["accuracy"] - ref["accuracy"])
    ratios["x predict rate"] = frame["predict_rows_per_s"] / ref["predict_rows_per_s"]
    ratios["x fit time"] = frame["fit_seconds"] / ref["fit_seconds"]
    return ratios


def ratio_table(frame, reference):
    ratios = ratio_rows(frame, reference)
    if ratios is None:
        return f"({reference} did not run on this dataset.)"

    def cell(column, value):
        if _is_missing(value):
            return ""
        if column == "system":
            return value
        if column == "d acc (pts)":
            return f"{value:+.1f}"
        # Three significant digits, without scientific notation.
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"

    rows = [[cell(c, r[c]) for c in ratios.columns] for r in ratios.to_dict("records")]
    return markdown_table(list(ratios.columns), rows)


def paper_table(frame):
    """The ProjectionNet paper's MNIST points beside this run's."""
    mnist = frame[frame["dataset"] == "mnist"]
    if mnist.empty:
        return None
    rows = []
    for label, paper, bits in PAPER_MNIST:
        if bits is None:
            ours = mnist[mnist["family"].isin(["Teacher", "MLPClassifier"])]
        else:
            in_range = mnist["n_bits"].between(*bits)
            ours = mnist[in_range & mnist["family"].isin(SWEPT[:4])]
        found = "; ".join(
            f"{r['system']}: {100 * r['accuracy']:.1f}% ({int(r['model_bytes']):,} B)"
            for r in ours.to_dict("records")
        )
        rows.append([label, paper, found or "not in this run"])
    return markdown_table(["point", "paper", "this run (accuracy, model bytes)"], rows)


# Colour and marker of the families; a ProjectionNet and its student alone
# share a colour (dark: joint training, light: alone).
STYLES = {
    "ProjectionNet random": ("#1f77b4", "o"),
    "Student alone random": ("#9ecae1", "o"),
    "ProjectionNet trained": ("#d62728", "s"),
    "Student alone trained": ("#fc9272", "s"),
    "ProjectionNet (default settings)": ("#6a3d9a", "*"),
    "Teacher": ("#333333", "P"),
    "MLPClassifier": ("#7f7f7f", "X"),
    "SparseRandomProjection + LR": ("#2ca02c", "^"),
}
OTHER_STYLES = [(plt.get_cmap("tab10")(i), m) for i, m in zip((1, 4, 5, 6, 8, 9, 7), "Dv<>ph8")]


# The equal-bytes table (issue #4): groups of families, and byte budgets.
EQUAL_BYTES_GROUPS = [
    ("ProjectionNet, random projection", ("ProjectionNet random",)),
    ("ProjectionNet, trained projection", ("ProjectionNet trained",)),
    ("Compressed students (k-means, pruning)", ("Compressed student",)),
    ("HashedNets", ("HashedNet",)),
    ("Linear models", ("LogisticRegression", "LinearSVC")),
    ("MLPClassifier", ("MLPClassifier",)),
]
EQUAL_BYTES_BUDGETS = (4 * 1024, 16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024)


def _kib(n_bytes):
    return f"{n_bytes / 1024:,.0f} KiB" if n_bytes >= 1024 else f"{n_bytes} B"


def equal_bytes_table(frame, dataset):
    """Best test accuracy of each group of systems within each byte budget
    (model bytes, the classifier's dump), or None without such systems."""
    data = frame[frame["dataset"] == dataset]
    if not data["family"].str.startswith("Compressed student").any():
        return None
    rows = []
    for label, prefixes in EQUAL_BYTES_GROUPS:
        group = data[data["family"].apply(lambda f: f.startswith(prefixes))]
        if group.empty:
            continue
        cells = [label]
        for budget in EQUAL_BYTES_BUDGETS:
            within = group[group["model_bytes"] <= budget]
            if within.empty:
                cells.append("")
                continue
            best = within.loc[within["accuracy"].idxmax()]
            cells.append(
                f"{best['accuracy']:.1%} ({best['system']}, {_kib(int(best['model_bytes']))})"
            )
        rows.append(cells)
    headers = ["systems"] + [f"<= {_kib(b)}" for b in EQUAL_BYTES_BUDGETS]
    return markdown_table(headers, rows)


def _style(family, families):
    """Colour and marker of a family: fixed for the known ones, else the
    next of a cycle, stable within a run."""
    if family in STYLES:
        return STYLES[family]
    others = [f for f in families if f not in STYLES]
    return OTHER_STYLES[others.index(family) % len(OTHER_STYLES)]


def plot_accuracy_vs_bytes(frame, dataset, path):
    """Accuracy against model bytes (log scale), every system of a dataset."""
    data = frame[frame["dataset"] == dataset]
    families = list(dict.fromkeys(frame["family"]))
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for family, group in data.groupby("family", sort=False):
        color, marker = _style(family, families)
        group = group.sort_values("model_bytes")
        line = "-" if family in SWEPT else "none"
        ax.plot(
            group["model_bytes"].astype(float),
            group["accuracy"],
            marker=marker,
            linestyle=line,
            color=color,
            label=family,
        )
    ax.set_xscale("log")
    ax.set_xlabel("model bytes (joblib.dump of the fitted estimator; fastText: model file)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{dataset}: accuracy vs model size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_accuracy_vs_bits(frame, dataset, path):
    """ProjectionNet accuracy against n_bits, with and without joint
    training, and the full networks as horizontal lines."""
    data = frame[frame["dataset"] == dataset]
    families = list(dict.fromkeys(frame["family"]))
    fig, ax = plt.subplots(figsize=(8, 5))
    for family in SWEPT:
        group = data[data["family"] == family].sort_values("n_bits")
        if group.empty:
            continue
        color, marker = _style(family, families)
        line = "--" if family.startswith(("Student alone", "SparseRandom")) else "-"
        ax.plot(
            group["n_bits"].astype(float),
            group["accuracy"],
            marker=marker,
            linestyle=line,
            color=color,
            label=family,
        )
    for family, line in (("Teacher", ":"), ("MLPClassifier", "-.")):
        full = data[data["family"] == family]
        if not full.empty:
            color, _ = _style(family, families)
            ax.axhline(full["accuracy"].iloc[0], color=color, linestyle=line, label=family)
    budgets = sorted(data.loc[data["family"].isin(SWEPT), "n_bits"].dropna().astype(int).unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel("n_bits (random projection: n_components)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{dataset}: joint training (solid) vs student alone (dashed)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(frame, out_dir):
    """Both plots of every dataset; returns {dataset: [paths]}."""
    plot_dir = Path(out_dir) / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for dataset in dict.fromkeys(frame["dataset"]):
        paths = [
            plot_dir / f"{dataset}_accuracy_vs_bytes.png",
            plot_dir / f"{dataset}_accuracy_vs_bits.png",
        ]
        plot_accuracy_vs_bytes(frame, dataset, paths[0])
        plot_accuracy_vs_bits(frame, dataset, paths[1])
        written[dataset] = paths
    return written


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if _is_missing(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    return value


def write_machine_readable(frame, meta, out_dir):
    """results.csv (one row per system and dataset) and results.json (the
    same rows plus the run's metadata, skips and failures)."""
    out_dir = Path(out_dir)
    frame.to_csv(out_dir / "results.csv", index=False)
    payload = {"meta": meta, "results": frame.to_dict("records")}
    with open(out_dir / "results.json", "w") as f:
        json.dump(_json_safe(payload), f, indent=1)


def dataset_section(frame, dataset, info, plots, out_dir):
    """The markdown of one dataset: results, ratios, plots."""
    data = frame[frame["dataset"] == dataset]
    lines = [f"## {dataset}", "", info, ""]
    lines += [results_table(data), ""]
    for reference in REFERENCES:
        lines += [f"Ratios against {reference} (same run):", "", ratio_table(data, reference), ""]
    for path in plots.get(dataset, []):
        rel = Path(path).relative_to(out_dir).as_posix()
        lines += [f"![{Path(path).stem}]({rel})", ""]
    return lines


def write_markdown(frame, meta, dataset_info, plots, out_dir):
    """RESULTS.md: how the run was made, then every dataset."""
    out_dir = Path(out_dir)
    lines = [
        "# Benchmark results",
        "",
        "Written by "
        + (
            f"`{meta['commands'][0]}`"
            if len(meta["commands"]) == 1
            else ", ".join(f"`{c}`" for c in meta["commands"][:-1])
            + f" (run side by side), merged by `{meta['commands'][-1]}`"
        )
        + f" on {meta['date']} ({meta['mode']} mode), in {meta['total_seconds']:.0f} s.",
        "",
        f"Machine: {meta['machine']}. Versions: {meta['versions']}. "
        f"Package commit: {meta['commit']}.",
        "",
        "Every number comes from this one run, all systems on the same features and "
        "the same machine; times on a shared machine are noisy, so compare systems "
        "by the ratio tables rather than with numbers from another run. "
        "`benchmarks/README.md` explains the columns.",
        "",
    ]
    if meta["mode"] == "quick":
        lines += [
            "**Quick mode**: subsampled data, few budgets and epochs. These numbers "
            "check that the suite runs; they say little about the systems.",
            "",
        ]
    paper = paper_table(frame)
    if paper is not None:
        lines += ["## MNIST: the ProjectionNet paper's points and ours", "", paper, ""]
    for dataset in dict.fromkeys(frame["dataset"]):
        table = equal_bytes_table(frame, dataset)
        if table is not None:
            lines += [
                f"## {dataset}: ProjectionNet, HashedNets and compressed students at equal bytes",
                "",
                "Best test accuracy of each group within each size (the classifier's "
                "`joblib.dump`), with the system that reaches it; every row of the "
                "dataset's table below is a candidate.",
                "",
                table,
                "",
            ]
    for dataset in dict.fromkeys(frame["dataset"]):
        lines += dataset_section(frame, dataset, dataset_info[dataset], plots, out_dir)
    if meta["skipped"] or meta["failed"]:
        lines += ["## Skipped and failed", ""]
        lines += [f"- skipped: {s}" for s in meta["skipped"]]
        lines += [f"- **failed**: {s}" for s in meta["failed"]]
        lines += [""]
    lines += [
        "## Settings",
        "",
        "The estimator of each family, as `repr` shows it (first dataset and budget):",
        "",
    ]
    for family, group in frame.groupby("family", sort=False):
        lines.append(f"- {family}: `{group['params'].iloc[0]}`")
    (out_dir / "RESULTS.md").write_text("\n".join(lines) + "\n")
