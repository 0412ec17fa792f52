#!/usr/bin/env python3
"""make_big.py: writes the hostile models that are too big to write by hand
(long chains, long names, many statements). Run it from tests/hostile/ to
regenerate them; the files it writes are checked in, so the tests never need
it. Each file starts with the same header convention as the hand-written
ones (see test_hostile.c)."""

N = 100_000


def write(name, header, body):
    with open(name, "w", newline="") as f:
        f.write(header + body)


def hdr(what, expect, extra=""):
    return "# hostile: %s\n# expect: %s\n%s" % (what, expect, extra)


write("deep_parens.expr",
      hdr("100,000 nested parentheses",
          "error 4:205: expression nested deeper than 200 levels"),
      "\n" + "x = " + "(" * N + "1" + ")" * N + "\noutput x\n")

write("unary_minus_chain.expr",
      hdr("a chain of 100,000 unary minus signs",
          "error 4:205: expression nested deeper than 200 levels"),
      "\n" + "x = " + "-" * N + "1\noutput x\n")

write("unary_plus_minus_chain.expr",
      hdr("100,000 alternating unary signs, separated by spaces",
          "error 4:305: expression nested deeper than 200 levels"),
      "\n" + "x = " + "+ -" * (N // 2) + "1\noutput x\n")

write("pow_chain.expr",
      hdr("a right-associative chain 2^2^...^2 of 100,000 powers",
          "error 4:405: expression nested deeper than 200 levels"),
      "\n" + "x = 2" + "^2" * N + "\noutput x\n")

write("pow_chain_short.expr",
      hdr("a power chain of 60, inside the depth limit: 1^1^...^1 = 1",
          "ok", "# stdout: x = 1\n"),
      "x = 1" + "^1" * 60 + "\noutput x\n")

write("sum_200k_terms.expr",
      hdr("a sum of 200,000 terms must work (left chains are loops, not "
          "recursion)", "ok", "# set: a=0.5\n# stdout: x = 100000\n"),
      "input a\nx = " + "+".join(["a"] * 200_000) + "\noutput x\n")

write("long_identifier.expr",
      hdr("an identifier 100,000 characters long, declared and used",
          "ok", "# stdout: = 6\n"),
      "param " + "v" * N + " ~ fill(3)\noutput y = 2 * " + "v" * N + "\n")

write("long_identifier_unknown.expr",
      hdr("an unknown identifier 100,000 characters long: the message "
          "shows only its first 64",
          "error 4:12: unknown name '" + "q" * 64 + "'"),
      "\noutput y = " + "q" * N + "\n")

write("statements_10k.expr",
      hdr("10,000 statements, each using the one before: v9999 = 10000",
          "ok", "# stdout: v9999 = 10000\n"),
      "v0 = 1\n" + "".join("v%d = v%d + 1\n" % (k, k - 1)
                          for k in range(1, 10_000)) + "output v9999\n")

write("long_line_literal.expr",
      hdr("one line of 400,000 characters: a literal of 100,000 elements",
          "ok", "# stdout: s = 450000\n"),
      "t = [" + ", ".join("%d" % (k % 10) for k in range(N)) + "]\n"
      "output s = sum(t)\n")

write("long_line_error.expr",
      hdr("an error at the end of a 400,000 character line (the message "
          "leaves out the huge source line)",
          "error 4:400005: unknown name 'nope'"),
      "\nx = " + "1 + " * N + "nope\noutput x\n")

write("def_chain_300.expr",
      hdr("300 defs, each calling the one before: deeper than the limit",
          "error 103:15: function calls nested deeper than 200 levels"),
      "def f0(a) = a + 1\n" + "".join("def f%d(a) = f%d(a)\n" % (k, k - 1)
                                      for k in range(1, 300))
      + "output y = f299(1)\n")

write("def_exponential.expr",
      hdr("59 defs, each calling the one before twice: 2^59 inlined calls "
          "that hash-consing folds into few nodes must still stop at the limit",
          "error 7:24: model expands to more than 1048576 expressions "
          "once its def calls are inlined (the limit)"),
      "input x\ndef f0(a) = a * a + 1\n"
      + "".join("def f%d(a) = f%d(a) + f%d(a)\n" % (k, k - 1, k - 1)
                for k in range(1, 60)) + "output y = f59(x)\n")

write("def_doubling_grad.expr",
      hdr("21 defs, each applying the one before to its own result, and a "
          "gradient: 2^21 distinct calls, which once made 10 million nodes "
          "and took a minute and 4 GB to compile",
          "error 4:13: model expands to more than 1048576 expressions "
          "once its def calls are inlined (the limit)"),
      "input x\ndef f0(a) = a * x + 1\n"
      + "".join("def f%d(a) = f%d(f%d(a))\n" % (k, k - 1, k - 1)
                for k in range(1, 22))
      + "y = f21(x)\noutput y\ngrad y wrt x\n")

write("grads_of_one_graph.expr",
      hdr("200 losses that are one value of 65,536 nodes, each with its "
          "gradient: no new nodes, but each entry point differentiates and "
          "emits the whole graph again, so the compile stops at the work limit",
          "error *:*: model needs more than 268435456 steps to compile (256 "
          "times the node limit): too many gradients of too large a graph"),
      "input x\ndef f0(a) = sin(a) * x\n"
      + "".join("def f%d(a) = f%d(f%d(a))\n" % (k, k - 1, k - 1)
                for k in range(1, 16))
      + "h = f15(x)\n"
      + "".join("l%d = h\ngrad l%d wrt x\n" % (k, k) for k in range(200)))

write("outputs_100k.expr",
      hdr("100,000 outputs: checking that no name is listed twice, and "
          "listing them, must not take time quadratic in their number",
          "ok", "# set: x=3\n# stdout: o99999 = 3\n"),
      "input x\n" + "".join("output " + ", ".join("o%d=x" % j
                                                  for j in range(k, k + 1000))
                            + "\n" for k in range(0, N, 1000)))

write("grad_statements_4000.expr",
      hdr("4,000 grad statements: every loss and gradient is printed, in time "
          "linear in their number", "ok",
          "# set: x=2\n# stdout: dl3999/dx = 4000\n"),
      "input x\n" + "".join("l%d = x*%d\ngrad l%d wrt x\n" % (k, k + 1, k)
                            for k in range(4000)))

write("grad_statements_20000.expr",
      hdr("20,000 grad statements over a growing graph: each entry point "
          "costs the whole graph, so the compile stops at the work limit "
          "(where exactly depends on the graph, hence the '*')",
          "error *:*: model needs more than 268435456 steps to compile (256 "
          "times the node limit): too many gradients of too large a graph"),
      "input x\n" + "".join("l%d = x*%d\ngrad l%d wrt x\n" % (k, k + 1, k)
                            for k in range(20000)))

write("nested_grads_20000.expr",
      hdr("20,000 grad() calls, each of the one before: each walks the graph "
          "below it, so the compile stops at the work limit",
          "error *:*: model needs more than 268435456 steps to compile (256 "
          "times the node limit): too many gradients of too large a graph"),
      "input x\ng1 = grad(x*x, x)\n"
      + "".join("g%d = grad(x*%d + g%d, x)\n" % (k + 1, k + 1, k)
                for k in range(1, 20000)) + "output g20000\n")
