"""sympy_bench.py: SymPy's diff + cse on the expressions of bench/scaling.

    python3 sympy_bench.py nested DEPTH | wide WIDTH

Builds the same expression as bench/gen.py writes for exprc (the nested
chain u_{k+1} = u_k*sin(u_k) + cos(u_k)*u_k from u_0 = x, or the sum of
WIDTH terms d_k*sin(c_k*a + b)), then times sympy.diff and sympy.cse of the
derivative(s) separately, counts the operations left after cse (the size to
compare with exprc's graph), and evaluates the derivative at x = 0.3 (a = 0.3,
b = 0.7) so that bench/run can check that both tools computed the same thing.
bench/run runs it under a time limit. Exits 3 when SymPy is not installed.
"""
import sys
import time

try:
    import sympy
except ImportError:
    sys.exit(3)

import gen


def build(family, n):
    """(expression, [variables], {variable: value})"""
    if family == "nested":
        x = sympy.Symbol("x")
        u = x
        for _ in range(n):
            u = u * sympy.sin(u) + sympy.cos(u) * u
        return u, [x], {x: sympy.Float(0.3)}
    a, b = sympy.symbols("a b")
    terms = [sympy.Float(repr(d)) * sympy.sin(sympy.Float(repr(c)) * a + b)
             for d, c in gen.wide_terms(n)]
    return sympy.Add(*terms), [a, b], {a: sympy.Float(0.3), b: sympy.Float(0.7)}


def evaluate(replacements, reduced, at):
    env = dict(at)
    for sym, e in replacements:
        env[sym] = e.xreplace(env)
    return [float(e.xreplace(env)) for e in reduced]


def main():
    family, n = sys.argv[1], int(sys.argv[2])
    expr, wrt, at = build(family, n)
    t0 = time.perf_counter()
    derivs = [sympy.diff(expr, v) for v in wrt]
    t1 = time.perf_counter()
    replacements, reduced = sympy.cse(derivs)
    t2 = time.perf_counter()
    ops = sum(sympy.count_ops(e) for _, e in replacements)
    ops += sum(sympy.count_ops(e) for e in reduced)
    print(f"S\t{family}\t{n}\tdiff\t{t1 - t0:.6e}", flush=True)
    print(f"S\t{family}\t{n}\tcse\t{t2 - t1:.6e}", flush=True)
    print(f"S\t{family}\t{n}\tops\t{ops}", flush=True)
    for v, val in zip(wrt, evaluate(replacements, reduced, at)):
        print(f"S\t{family}\t{n}\td/d{v}\t{val!r}", flush=True)


if __name__ == "__main__":
    main()
