"""The graph searches every executor shares: a cycle search, back edges, a shortest-path search.

Graphs are adjacency lists ``{node: [successor, ...]}`` over node names (strings); nothing here
knows about NIR, Lava or torch.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence


def find_cycle(nodes: Iterable[str], succs: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A directed cycle among ``nodes`` (edges leaving the set are ignored) as ``[a, b, ...]``
    (closing edge back to ``a`` implied), or None.  Iterative DFS (no recursion limit)."""
    allowed = list(nodes)
    inside = set(allowed)
    colour: dict[str, int] = {}  # 1: on the DFS stack, 2: done
    for root in allowed:
        if root in colour:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        colour[root] = 1
        while stack:
            node, i = stack[-1]
            nxt = [m for m in succs.get(node, ()) if m in inside]
            if i < len(nxt):
                stack[-1] = (node, i + 1)
                m = nxt[i]
                if colour.get(m) == 1:
                    return path[path.index(m):]
                if m not in colour:
                    colour[m] = 1
                    stack.append((m, 0))
                    path.append(m)
            else:
                colour[node] = 2
                stack.pop()
                path.pop()
    return None


def back_edges(roots: Iterable[str], succs: Mapping[str, Sequence[str]]) -> tuple[set[tuple[str, str]], list[str]]:
    """DFS from each root in turn: the back edges ``(u, v)`` (those closing a cycle) and the nodes
    reached in reverse post-order (a topological order of the graph without its back edges)."""
    colour: dict[str, int] = {}
    back: set[tuple[str, str]] = set()
    post: list[str] = []
    for root in roots:
        if root in colour:
            continue
        colour[root] = 1
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack[-1]
            nxt = list(succs.get(node, ()))
            if i < len(nxt):
                stack[-1] = (node, i + 1)
                m = nxt[i]
                if colour.get(m) == 1:
                    back.add((node, m))
                elif m not in colour:
                    colour[m] = 1
                    stack.append((m, 0))
            else:
                colour[node] = 2
                post.append(node)
                stack.pop()
    return back, post[::-1]


def shortest_steps(start: str, out_edges: Mapping[str, Iterable[tuple[str, int]]]) -> dict[str, int]:
    """Dijkstra: the fewest steps from ``start`` to every reachable node, edges ``(dst, steps >= 0)``."""
    dist: dict[str, int] = {start: 0}
    heap = [(0, start)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist[u]:
            continue
        for v, w in out_edges.get(u, ()):
            if d + w < dist.get(v, d + w + 1):
                dist[v] = d + w
                heapq.heappush(heap, (d + w, v))
    return dist
