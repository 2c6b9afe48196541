"""Union-find over integer node ids (path halving + union by size): clusters of duplicate documents."""

from __future__ import annotations

import numpy as np


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)
        self.size = np.ones(n, dtype=np.int64)

    def grow(self, n: int) -> None:
        """Make room for nodes up to n - 1 (index entries join after the batch's documents)."""
        old = len(self.parent)
        if n > old:
            self.parent = np.concatenate([self.parent, np.arange(old, n, dtype=np.int64)])
            self.size = np.concatenate([self.size, np.ones(n - old, dtype=np.int64)])

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return int(x)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def groups(self) -> dict[int, list[int]]:
        """root → sorted members, for every set with more than one member."""
        roots = self.parent.copy()
        while True:  # pointer jumping: every node ends up pointing at its root, vectorised
            nxt = roots[roots]
            if np.array_equal(nxt, roots):
                break
            roots = nxt
        order = np.argsort(roots, kind="stable")
        out: dict[int, list[int]] = {}
        bounds = np.flatnonzero(np.diff(roots[order])) + 1
        for chunk in np.split(order, bounds):
            if len(chunk) > 1:
                out[int(roots[chunk[0]])] = sorted(int(i) for i in chunk)
        return out
