#!/usr/bin/env python3
"""Derives the Winograd F(m x m, r x r) transform matrices that core/kernels/conv_winograd.cpp
holds as constants, and checks them. Needs sympy (Debian: python3-sympy); the build never runs it.

Usage: scripts/winograd_matrices.py            prints B^T, G and A^T of F(2,3), F(4,3) and F(2,5)

Construction (Toom-Cook with the point at infinity, as in Lavin & Gray 2016), a = m + r - 1 and
finite interpolation points p_0 .. p_{a-2}:
  A^T[i][j] = p_j^i, last column e_{m-1};
  G[j][k]   = p_j^k / prod_{l != j} (p_j - p_l), last row e_{r-1};
  B^T       solves sum_j A^T[i][j] G[j][k] B^T[j][n] = [n == i + k] for all i, k, n,
so that A^T [(G g) .* (B^T d)] is the correlation y[i] = sum_k d[i + k] g[k], exactly.
"""
import sympy as sp

POINTS = [0, 1, -1, 2, -2]


def transforms(m, r):
    a = m + r - 1
    pts = [sp.Rational(p) for p in POINTS[: a - 1]]
    AT = sp.zeros(m, a)
    for i in range(m):
        for j in range(a - 1):
            AT[i, j] = pts[j] ** i
        AT[i, a - 1] = 1 if i == m - 1 else 0
    G = sp.zeros(a, r)
    for j in range(a - 1):
        f = sp.prod([pts[j] - pts[l] for l in range(a - 1) if l != j])
        for k in range(r):
            G[j, k] = pts[j] ** k / f
    G[a - 1, r - 1] = 1
    BT = sp.Matrix(a, a, lambda i, j: sp.Symbol(f"b{i}_{j}"))
    equations = [
        sum(AT[i, j] * G[j, k] * BT[j, n] for j in range(a)) - (1 if n == i + k else 0)
        for i in range(m) for k in range(r) for n in range(a)
    ]
    (solution,) = sp.solve(equations, list(BT), dict=True)
    BT = BT.subs(solution)
    assert not BT.free_symbols, "B^T is not determined by the points"
    return AT, G, BT


def check_1d(m, r, AT, G, BT):
    d = sp.symbols(f"d0:{m + r - 1}")
    g = sp.symbols(f"g0:{r}")
    y = AT * (G * sp.Matrix(g)).multiply_elementwise(BT * sp.Matrix(d))
    for i in range(m):
        assert sp.expand(y[i] - sum(d[i + k] * g[k] for k in range(r))) == 0


def main():
    for m, r in [(2, 3), (4, 3), (2, 5)]:
        AT, G, BT = transforms(m, r)
        check_1d(m, r, AT, G, BT)
        print(f"F({m}x{m}, {r}x{r}): checked")
        for name, mat in [("B^T", BT), ("G", G), ("A^T", AT)]:
            print(f"  {name} =")
            for row in mat.tolist():
                print("    " + "  ".join(f"{str(v):>6}" for v in row))


if __name__ == "__main__":
    main()
