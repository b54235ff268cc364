"""Tables, ratios, plots and files of a benchmark run.

Where a system appears (which plot, which line, which table) is said by
the :class:`Family` of its rows, a field of its entry in the registry of
systems (``systems.SYSTEMS``), never by its name; the functions that place
systems take ``families``, a ``{name: Family}`` dict (``systems.FAMILIES``).
A family missing from it (rows of an older run) is shown with no role.
"""

# SPDX-License-Identifier: BSD-3-Clause

import json
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import pandas as pd

from benchmarks import datasets

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

# The equal-bytes table (issue #4): its rows, groups of families
# (``Family.equal_bytes``), and its columns, byte budgets.
EQUAL_BYTES_GROUPS = (
    "ProjectionNet, random projection",
    "ProjectionNet, trained projection",
    "Compressed students (k-means, pruning)",
    "HashedNets",
    "Linear models",
    "MLPClassifier",
)
EQUAL_BYTES_BUDGETS = (4 * 1024, 16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024)

# The points of the ProjectionNet paper's MNIST table (``Family.paper``).
PAPER_POINTS = ("bits", "full")


@dataclass(frozen=True)
class Family:
    """How the report shows the rows of one family of systems.

    The rows of a registry entry form a family (one row, or one per bit
    budget); an entry may add the rows of another (the teacher kept by
    "ProjectionNet random", fastText's quantized models).

    Parameters
    ----------
    name : str
        The ``family`` column and the plots' legend label; the row of a
        swept family is ``"<name> <n_bits> bits"``.
    color, marker : str, default=None
        Colour and marker in the plots; None takes the next of a cycle.
    curve : str, default=None
        Line style of the family's accuracy over bit budgets on the
        accuracy-vs-bits plot; its points are joined on the
        accuracy-vs-bytes plot too. None: points on the bytes plot only.
    level : str, default=None
        Line style of the family's accuracy drawn across the
        accuracy-vs-bits plot: a full network, one row per dataset.
    reference : int, default=None
        Position (1 first) of the ratio table that compares every system
        of a dataset with this one, a one-row family; None: no table.
    paper : {"bits", "full"}, default=None
        The points of the ProjectionNet paper's MNIST table the family is
        set beside: the student at 80-100 and 720 bits, or the full network.
    equal_bytes : str, default=None
        Its group in the equal-bytes table, one of
        :data:`EQUAL_BYTES_GROUPS`; None: not in the table.
    """

    name: str
    color: str = None
    marker: str = None
    curve: str = None
    level: str = None
    reference: int = None
    paper: str = None
    equal_bytes: str = None

    def __post_init__(self):
        if self.paper not in (None, *PAPER_POINTS):
            raise ValueError(f"{self.name}: paper={self.paper!r} is not one of {PAPER_POINTS}")
        if self.equal_bytes not in (None, *EQUAL_BYTES_GROUPS):
            raise ValueError(f"{self.name}: no equal-bytes group {self.equal_bytes!r}")
        if self.curve is not None and self.level is not None:
            raise ValueError(f"{self.name}: a curve or a level, not both")


def family_of(name, families):
    """The :class:`Family` called ``name``, or one with no role."""
    return families.get(name) or Family(name)


def references(families):
    """Names of the families every system is compared with, table by table."""
    ranked = sorted((f.reference, f.name) for f in families.values() if f.reference is not None)
    return [name for _, name in ranked]


def _having(families, field):
    """Names of the families where ``field`` is set, in registry order."""
    return [name for name, family in families.items() if getattr(family, field) is not None]


# The ProjectionNet paper's MNIST results (Ravi, 2017, arXiv:1708.00630):
# label, result, and the family's points beside it (bit range, or None for
# the full network).
PAPER_DATASET = "mnist"
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

    ``reference`` is the name of a one-row family. ``x smaller``:
    reference bytes / system bytes; ``d acc``: accuracy difference in
    percentage points; ``x predict``: system rows/s over the reference's
    (above 1: faster). With pipeline bytes for text.
    """
    ref = frame[frame["family"] == reference]
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


def paper_table(frame, families):
    """The ProjectionNet paper's MNIST points beside this run's: the rows of
    the families whose ``paper`` field names the point."""
    mnist = frame[frame["dataset"] == PAPER_DATASET]
    if mnist.empty:
        return None
    point_of = mnist["family"].map(lambda name: family_of(name, families).paper)
    rows = []
    for label, paper, bits in PAPER_MNIST:
        if bits is None:
            ours = mnist[point_of == "full"]
        else:
            ours = mnist[mnist["n_bits"].between(*bits) & (point_of == "bits")]
        found = "; ".join(
            f"{r['system']}: {100 * r['accuracy']:.1f}% ({int(r['model_bytes']):,} B)"
            for r in ours.to_dict("records")
        )
        rows.append([label, paper, found or "not in this run"])
    return markdown_table(["point", "paper", "this run (accuracy, model bytes)"], rows)


# Colour and marker of the families without their own, in turn.
OTHER_STYLES = [(plt.get_cmap("tab10")(i), m) for i, m in zip((1, 4, 5, 6, 8, 9, 7), "Dv<>ph8")]


def _kib(n_bytes):
    return f"{n_bytes / 1024:,.0f} KiB" if n_bytes >= 1024 else f"{n_bytes} B"


def equal_bytes_table(frame, dataset, families):
    """Best test accuracy of each group of systems (``Family.equal_bytes``)
    within each byte budget (model bytes, the classifier's dump), or None
    on a dataset outside the equal-bytes comparison."""
    entry = datasets.DATASETS.get(dataset)
    if entry is None or not entry.compression:
        return None
    data = frame[frame["dataset"] == dataset]
    group_of = data["family"].map(lambda name: family_of(name, families).equal_bytes)
    rows = []
    for label in EQUAL_BYTES_GROUPS:
        group = data[group_of == label]
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


def _style(name, frame, families):
    """Colour and marker of a family: its own, else the next of a cycle
    over the run's families without one, stable within a run."""
    family = family_of(name, families)
    if family.color is not None:
        return family.color, family.marker
    others = [f for f in dict.fromkeys(frame["family"]) if family_of(f, families).color is None]
    return OTHER_STYLES[others.index(name) % len(OTHER_STYLES)]


def draw_accuracy_vs_bytes(ax, frame, dataset, families):
    """Accuracy against model bytes (log scale), every system of
    ``dataset``, on the axes ``ax``; the points of a family with a curve
    are joined."""
    data = frame[frame["dataset"] == dataset]
    for family, group in data.groupby("family", sort=False):
        color, marker = _style(family, frame, families)
        group = group.sort_values("model_bytes")
        line = "-" if family_of(family, families).curve is not None else "none"
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


def draw_accuracy_vs_bits(ax, frame, dataset, families):
    """Accuracy against n_bits on ``dataset``, on the axes ``ax``: the
    families with a curve (ProjectionNet with and without joint training)
    over their budgets, those with a level (the full networks) as
    horizontal lines."""
    data = frame[frame["dataset"] == dataset]
    curves = _having(families, "curve")
    for family in curves:
        group = data[data["family"] == family].sort_values("n_bits")
        if group.empty:
            continue
        color, marker = _style(family, frame, families)
        ax.plot(
            group["n_bits"].astype(float),
            group["accuracy"],
            marker=marker,
            linestyle=families[family].curve,
            color=color,
            label=family,
        )
    for family in _having(families, "level"):
        full = data[data["family"] == family]
        if not full.empty:
            color, _ = _style(family, frame, families)
            ax.axhline(
                full["accuracy"].iloc[0],
                color=color,
                linestyle=families[family].level,
                label=family,
            )
    budgets = sorted(data.loc[data["family"].isin(curves), "n_bits"].dropna().astype(int).unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel("n_bits (random projection: n_components)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{dataset}: joint training (solid) vs student alone (dashed)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


# The plots of each dataset: file name suffix, how it is drawn, figure size.
PLOTS = (
    ("accuracy_vs_bytes", draw_accuracy_vs_bytes, (9, 5.5)),
    ("accuracy_vs_bits", draw_accuracy_vs_bits, (8, 5)),
)


def write_plots(frame, out_dir, families):
    """The :data:`PLOTS` of every dataset; returns {dataset: [paths]}."""
    plot_dir = Path(out_dir) / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for dataset in dict.fromkeys(frame["dataset"]):
        written[dataset] = []
        for suffix, draw, figsize in PLOTS:
            fig, ax = plt.subplots(figsize=figsize)
            draw(ax, frame, dataset, families)
            fig.tight_layout()
            written[dataset].append(plot_dir / f"{dataset}_{suffix}.png")
            fig.savefig(written[dataset][-1], dpi=110)
            plt.close(fig)
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


def dataset_section(frame, dataset, info, plots, out_dir, families):
    """The markdown of one dataset: results, ratios, plots."""
    data = frame[frame["dataset"] == dataset]
    lines = [f"## {dataset}", "", info, ""]
    lines += [results_table(data), ""]
    for reference in references(families):
        lines += [f"Ratios against {reference} (same run):", "", ratio_table(data, reference), ""]
    for path in plots.get(dataset, []):
        rel = Path(path).relative_to(out_dir).as_posix()
        lines += [f"![{Path(path).stem}]({rel})", ""]
    return lines


def write_markdown(frame, meta, dataset_info, plots, out_dir, families):
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
        (
            f"Machine: {meta['machine']}. Versions: {meta['versions']}. "
            f"Package commit: {meta['commit']}."
        ),
        "",
        (
            "Every number comes from this one run, all systems on the same features and "
            "the same machine; times on a shared machine are noisy, so compare systems "
            "by the ratio tables rather than with numbers from another run. "
            "`benchmarks/README.md` explains the columns."
        ),
        "",
    ]
    if meta["mode"] == "quick":
        lines += [
            (
                "**Quick mode**: subsampled data, few budgets and epochs. These numbers "
                "check that the suite runs; they say little about the systems."
            ),
            "",
        ]
    paper = paper_table(frame, families)
    if paper is not None:
        lines += ["## MNIST: the ProjectionNet paper's points and ours", "", paper, ""]
    for dataset in dict.fromkeys(frame["dataset"]):
        table = equal_bytes_table(frame, dataset, families)
        if table is not None:
            lines += [
                f"## {dataset}: ProjectionNet, HashedNets and compressed students at equal bytes",
                "",
                (
                    "Best test accuracy of each group within each size (the classifier's "
                    "`joblib.dump`), with the system that reaches it; every row of the "
                    "dataset's table below is a candidate."
                ),
                "",
                table,
                "",
            ]
    for dataset in dict.fromkeys(frame["dataset"]):
        lines += dataset_section(frame, dataset, dataset_info[dataset], plots, out_dir, families)
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
