#!/usr/bin/env python3
"""special_values.py: writes tests/special_values.h, the reference values of
digamma and polygamma that tests/test_special.c checks exprc against.

Derivation (no SciPy or mpmath involved): at 60 significant digits with
Python's decimal module,
  - psi^(n) at the anchors 1/4, 1/2, 3/4, 1 from closed forms:
      psi(1) = -g, psi(1/2) = -g - 2 ln 2,
      psi(1/4) = -g - pi/2 - 3 ln 2, psi(3/4) = -g + pi/2 - 3 ln 2,
      psi1(1) = pi^2/6, psi1(1/2) = pi^2/2, psi1(1/4) = pi^2 + 8 G,
      psi1(3/4) = pi^2 - 8 G,
      psi2(1) = -2 z3, psi2(1/2) = -14 z3, psi2(1/4) = -2 pi^3 - 56 z3,
      psi2(3/4) = 2 pi^3 - 56 z3
    (g Euler's constant, G Catalan's, z3 = zeta(3)); each anchor constant is
    checked here against its defining series summed at high precision
    (g and z3 to 1e-18 or better; G, by an alternating series, to 1e-9);
  - the other points by the recurrence
      psi^(n)(x + 1) = psi^(n)(x) + (-1)^n n! / x^(n+1),
    upward for x = f + m and downward for x = f - m (x < 0).
The printed values are the 60-digit numbers rounded to 21 digits, so each C
double literal is the correctly rounded value."""
from decimal import Decimal as D, getcontext
import math

getcontext().prec = 60
PI = D("3.14159265358979323846264338327950288419716939937510582097494")
EG = D("0.577215664901532860606512090082402431042159335939923598805767")
CAT = D("0.915965594177219015054603514932384110774149374281672134266498")
Z3 = D("1.20205690315959428539973816151144999076498629234049888179227")
LN2, LN3 = D(2).ln(), D(3).ln()


def zeta_tail_check():
    """Check the constants against their series (Euler-Maclaurin tails)."""
    N = 2000
    # Euler's constant: H_N - ln N - 1/(2N) + 1/(12N^2) - 1/(120N^4) + ...
    h = sum(D(1) / k for k in range(1, N + 1))
    n = D(N)
    g = h - n.ln() - 1 / (2 * n) + 1 / (12 * n**2) - 1 / (120 * n**4) + 1 / (252 * n**6)
    assert abs(g - EG) < D("1e-25"), g
    # zeta(3) = sum 1/k^3: tail 1/(2N^2) - 1/(2N^3) + 1/(4N^4) after k = N
    z = sum(D(1) / D(k) ** 3 for k in range(1, N + 1))
    z += 1 / (2 * n**2) - 1 / (2 * n**3) + 1 / (4 * n**4)
    assert abs(z - Z3) < D("1e-18"), z
    # Catalan: sum (-1)^k / (2k+1)^2, averaged partial sums (alternating)
    s, prev = D(0), D(0)
    for k in range(N):
        prev = s
        s += D((-1) ** k) / D(2 * k + 1) ** 2
    assert abs((s + prev) / 2 - CAT) < D("1e-9"), s


def anchors():
    a = {}
    a[0] = {D(1): -EG, D("0.5"): -EG - 2 * LN2,
            D("0.25"): -EG - PI / 2 - 3 * LN2, D("0.75"): -EG + PI / 2 - 3 * LN2}
    a[1] = {D(1): PI**2 / 6, D("0.5"): PI**2 / 2,
            D("0.25"): PI**2 + 8 * CAT, D("0.75"): PI**2 - 8 * CAT}
    a[2] = {D(1): -2 * Z3, D("0.5"): -14 * Z3,
            D("0.25"): -2 * PI**3 - 56 * Z3, D("0.75"): 2 * PI**3 - 56 * Z3}
    return a


def series(n, f, m):
    """psi^(n)(f + m) from psi^(n)(f), m of either sign."""
    v = anchors()[n][f]
    sign = D((-1) ** n * math.factorial(n))
    x = f
    if m >= 0:
        for _ in range(m):
            v += sign / x ** (n + 1)
            x += 1
    else:
        for _ in range(-m):
            x -= 1
            v -= sign / x ** (n + 1)
    return x, v


def main():
    zeta_tail_check()
    rows = []
    for n in (0, 1, 2):
        for f in (D("0.25"), D("0.5"), D("0.75"), D(1)):
            for m in list(range(0, 60)) + [100, 1000, 10**5]:
                rows.append((n,) + series(n, f, m))
            if f != 1:
                for m in range(1, 21):
                    rows.append((n,) + series(n, f, -m))
    with open("special_values.h", "w") as out:
        out.write("/* special_values.h: written by special_values.py (see there\n"
                  " * how): {n, x, polygamma(n, x)} correctly rounded. */\n")
        out.write("static const double special_values[][3] = {\n")
        for n, x, v in rows:
            out.write("    {%d, %s, %s},\n" % (n, format(x, "f"), format(+v, ".21e")))
        out.write("};\n")


main()
