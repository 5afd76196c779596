"""Inspecting a NIR graph: a node table (name, type, shapes, delay) and a PNG drawing."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ucfdvs.atomic import atomic_path
from ucfdvs.neuro_runtime.graph_search import back_edges, find_cycle

COLOURS = {"Input": "#9ecae1", "Output": "#9ecae1", "Affine": "#fdd0a2", "Linear": "#fdd0a2", "Scale": "#fdae6b",
           "Delay": "#d9d9d9", "LIF": "#a1d99b", "CubaLIF": "#74c476", "LI": "#c7e9c0"}


def _shape(types: dict) -> str:
    return "x".join(str(int(v)) for v in np.asarray(list(types.values())[0]).reshape(-1))


def node_table(graph: Any) -> str:
    """One line per node: name, NIR type, input and output shape, and delay (steps) or threshold."""
    dt = float(np.asarray(graph.metadata.get("dt", 1.0)))
    lines = [f"{'node':<22} {'type':<7} {'in':>5} {'out':>5}  detail"]
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        detail = ""
        if kind == "Delay":
            detail = f"delay {int(round(float(np.asarray(node.delay).reshape(-1)[0]) / dt))} steps"
        elif kind == "LIF":
            detail = f"tau/dt {float(node.tau.reshape(-1)[0]) / dt:.3g}, v_th {float(node.v_threshold.reshape(-1)[0]):.3g}"
        elif kind == "CubaLIF":
            detail = (f"tau_mem/dt {float(node.tau_mem.reshape(-1)[0]) / dt:.3g}, "
                      f"tau_syn/dt {float(node.tau_syn.reshape(-1)[0]) / dt:.3g}, v_th {float(node.v_threshold.reshape(-1)[0]):.3g}")
        elif kind == "LI":
            detail = f"decay {1 - dt / float(node.tau.reshape(-1)[0]):.4f}"
        elif kind == "Scale":
            detail = f"scale {float(node.scale.reshape(-1)[0]):.4g}"
        lines.append(f"{name:<22} {kind:<7} {_shape(node.input_type):>5} {_shape(node.output_type):>5}  {detail}")
    lines.append(f"{len(graph.nodes)} nodes, {len(graph.edges)} edges")
    return "\n".join(lines)


def _layers(graph: Any) -> dict[str, int]:
    """Column of each node: longest path from the Input ignoring back edges (DFS order)."""
    succ: dict[str, list[str]] = defaultdict(list)
    for s, d in graph.edges:
        succ[s].append(d)
    start = next(n for n, v in graph.nodes.items() if type(v).__name__ == "Input")
    back, order = back_edges([start, *graph.nodes], succ)
    layer = {n: 0 for n in graph.nodes}
    for n in order:
        for m in succ[n]:
            if (n, m) not in back:
                layer[m] = max(layer[m], layer[n] + 1)
    return layer


def draw_graph(graph: Any, path: str | Path) -> None:
    """Draw the graph left to right (columns by depth), coloured by node type; PNG, atomic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layer = _layers(graph)
    columns: dict[int, list[str]] = defaultdict(list)
    for n in graph.nodes:
        columns[layer[n]].append(n)
    pos = {}
    for col, names in columns.items():
        for row, n in enumerate(sorted(names)):
            pos[n] = (col, -(row - (len(names) - 1) / 2))
    width = max(columns) + 1
    height = max(len(v) for v in columns.values())
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * width), max(5, 0.45 * height)))
    for s, d in graph.edges:
        (x0, y0), (x1, y1) = pos[s], pos[d]
        back = x1 <= x0
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="->", lw=0.6, color="crimson" if back else "0.45",
                                    connectionstyle="arc3,rad=0.35" if back else "arc3,rad=0.0"))
    for n, (x, y) in pos.items():
        kind = type(graph.nodes[n]).__name__
        ax.text(x, y, f"{n}\n{kind} {_shape(graph.nodes[n].output_type)}", ha="center", va="center", fontsize=6,
                bbox=dict(boxstyle="round,pad=0.25", fc=COLOURS.get(kind, "white"), ec="0.3", lw=0.5))
    ax.set_xlim(-0.7, width - 0.3)
    ax.set_ylim(-height / 2 - 0.7, height / 2 + 0.7)
    ax.axis("off")
    ax.set_title("NIR graph (red: recurrent edges)", fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight", format="png")
    plt.close(fig)


def has_cycle(graph: Any) -> bool:
    """True if the graph's edges contain a directed cycle."""
    succ: dict[str, list[str]] = defaultdict(list)
    for s, d in graph.edges:
        succ[s].append(d)
    return find_cycle(graph.nodes, succ) is not None
