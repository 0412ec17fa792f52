/* cli.c: the `exprc` command: its arguments, and which command runs.
 *
 * Errors in a model exit with status 1 and the located message; usage errors
 * (flags, missing files, bad --set values) exit with status 2. The commands
 * live in cli_inspect.c (check, graph, emit) and cli_run.c and
 * cli_gradcheck.c (run, bench, gradcheck); cli.h says which is which.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* Each command: its synopsis and what it does, for `exprc help COMMAND`;
 * `exprc --help` prints them all, then the options common to them. */
static const struct Help {
  const char *cmd, *synopsis, *text;
} helps[] = {
    {"check", "exprc check FILE",
     "Parse, resolve and shape-check FILE; print each name with its shape.\n"},
    {"graph",
     "exprc graph FILE [--dot] [--no-simplify] [--after PASS] [--stats]\n"
     "                 (PASS: lower, grad, simplify)",
     "Print the graph after a pass, forward and backward nodes marked;\n"
     "--dot as Graphviz, --stats as node counts and the memory plan.\n"},
    {"emit", "exprc emit FILE [-o OUT.c] [--header OUT.h]",
     "Print (or write) the generated C, exactly what the JIT compiles; with\n"
     "--header, the header that a program compiling it ahead of time needs.\n"},
    {"run",
     "exprc run FILE [--set NAME=VALUE]... [--seed N] [--json]\n"
     "               [--save-params DIR]",
     "Compile FILE, run every output and gradient, print them (--json: one\n"
     "JSON object, numbers round-trip exact).\n"},
    {"gradcheck",
     "exprc gradcheck FILE [--set NAME=VALUE]... [--seed N] [--eps X] [--tol X]",
     "Compare each gradient element with the central difference of the loss\n"
     "at x +- h, h = EPS * max(1, |x|) (--eps, default 6e-6, near the cube\n"
     "root of the float64 epsilon), within a relative error TOL (--tol,\n"
     "default 1e-4; with --dtype float32, 4.9e-3 and 8e-2). An element that does not pass is \"at a kink\" if\n"
     "second-order one-sided differences to its left and right disagree and\n"
     "the analytic value equals one of them or lies between; otherwise it\n"
     "fails, and gradcheck exits 1.\n"},
    {"bench", "exprc bench FILE [--set NAME=VALUE]... [--seed N]",
     "Time one call of each entry point (median, least and most of 15\n"
     "samples); inputs not given get seeded numbers in [-1, 1). With\n"
     "--backend auto (the default) it first waits for the system\n"
     "compiler's code, and says which code it timed.\n"},
    {"explain",
     "exprc explain FILE [--set NAME=VALUE]... [--seed N] [-o PAGE.html]",
     "Write one self-contained HTML page (no network) with the model, its\n"
     "graph after lowering + gradients and after simplification, and the\n"
     "generated C, linked: click a model line to see its nodes and C lines,\n"
     "a C line to see its node and model line. With --set for every input,\n"
     "each node shows its value's shape, least and greatest element and NaN\n"
     "count. The graph is drawn by Graphviz's dot when it can be run\n"
     "(EXPRC_DOT names another program; empty, none), else listed.\n"},
};

static const char common[] =
    "run, gradcheck and bench take --backend auto (the default: libtcc at\n"
    "once, and the system compiler's code once it is built, which starts\n"
    "when the model's runs have taken 10 ms), --backend tcc (libtcc in\n"
    "memory only) or --backend cc (the system compiler, -O2), and\n"
    "--threads N (threads for matrix products and long loops); --verbose\n"
    "prints notes, such as the system compiler failing or not finishing.\n"
    "Every command that compiles takes --no-simplify, and the memory plan\n"
    "options --no-fuse, --no-reuse (one buffer per value) and --remat\n"
    "(recompute cheap forward values in the backward pass), and\n"
    "--check-finite: the generated code stops at the first infinite or\n"
    "NaN value an operation produces and names it, forward or backward\n"
    "(exit status 1). --dtype float32 makes every tensor float32 (matrix\n"
    "products and convolutions in sgemm; each statement computes in\n"
    "double and rounds to float where it stores); --dtype float64 is the\n"
    "default.\n"
    "VALUE is a number, a nested list such as [[1,2],[3,4]], or\n"
    "@FILE.npy or @FILE.csv; --set N=SIZE binds a dim no input binds.\n"
    "exprc help COMMAND says more of one command; man exprc, of all.\n";

#define NHELP (sizeof helps / sizeof helps[0])

static void usage(FILE *f) {
  for (size_t k = 0; k < NHELP; k++)
    fprintf(f, "%s %s\n", k ? "      " : "usage:", helps[k].synopsis);
  fputs(common, f);
}

/* exprc help [COMMAND], exprc --help, exprc COMMAND --help. */
static int help(const char *cmd) {
  if (!cmd) {
    usage(stdout);
    for (size_t k = 0; k < NHELP; k++)
      printf("\n%s: %s", helps[k].cmd, helps[k].text);
    return 0;
  }
  for (size_t k = 0; k < NHELP; k++)
    if (strcmp(cmd, helps[k].cmd) == 0) {
      printf("usage: %s\n%s%s", helps[k].synopsis, helps[k].text, common);
      return 0;
    }
  return cli_usage_error("no command '%s' (help takes check, graph, emit, "
                         "run, gradcheck, bench or explain)", cmd);
}

int cli_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("exprc: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n", stderr);
  va_end(ap);
  usage(stderr);
  return 2;
}

/* ---- arguments ---- */

static int parse_seed(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || *s == '-')
    return 0;
  *out = v;
  return 1;
}

/* A positive finite number (gradcheck's --eps and --tol). */
static int parse_positive(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || !(v > 0))
    return 0;
  *out = v;
  return 1;
}

/* The flags without a value, and the field of Args each sets. */
static const struct Flag {
  const char *name;
  size_t field;
} flags[] = {
    {"--dot", offsetof(Args, dot)},           {"--no-simplify", offsetof(Args, no_simplify)},
    {"--json", offsetof(Args, json)},         {"--stats", offsetof(Args, stats)},
    {"--verbose", offsetof(Args, verbose)},   {"--no-reuse", offsetof(Args, no_reuse)},
    {"--remat", offsetof(Args, remat)},       {"--no-fuse", offsetof(Args, no_fuse)},
    {"--check-finite", offsetof(Args, check_finite)},
};

static int set_flag(Args *a, const char *s) {
  for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
    if (strcmp(s, flags[k].name) == 0)
      return *(int *)((char *)a + flags[k].field) = 1;
  return 0;
}

static int choice_option(Args *a, const char *s, const char *v) {
  static const char *const passes[NPASS] = {"lower", "grad", "simplify"};
  if (strcmp(s, "--backend") == 0) {
    if (strcmp(v, "tcc") != 0 && strcmp(v, "cc") != 0 && strcmp(v, "auto") != 0)
      return cli_usage_error("--backend takes tcc, cc or auto, not '%s'", v);
    a->backend = v[0] == 'c' ? EXPRC_BACKEND_CC
                 : v[0] == 'a' ? EXPRC_BACKEND_AUTO : EXPRC_BACKEND_TCC;
    return 0;
  }
  int k = 0;
  while (k < NPASS && strcmp(v, passes[k]) != 0)
    k++;
  if (k == NPASS)
    return cli_usage_error("--after takes lower, grad or simplify, not '%s'", v);
  a->after = k;
  return 0;
}

/* An option that takes the value v (NULL: there is none): -1 if s is not
 * one, 0 when it is taken, 2 (after the message) when it is wrong. */
static int value_option(Args *a, const char *s, char *v) {
  uint64_t t;
  if (strcmp(s, "--threads") == 0) {
    if (!v || !parse_seed(v, &t) || t < 1 || t > 256)
      return cli_usage_error("--threads takes a number from 1 to 256");
    return a->threads = (int)t, 0;
  }
  if (strcmp(s, "--dtype") == 0) {
    if (!v || (strcmp(v, "float32") != 0 && strcmp(v, "float64") != 0))
      return cli_usage_error("--dtype takes float32 or float64, not '%s'",
                             v ? v : "");
    return a->dtype = v[5] == '3' ? EXPRC_FLOAT32 : EXPRC_FLOAT64, 0;
  }
  if (strcmp(s, "--backend") == 0 || strcmp(s, "--after") == 0)
    return choice_option(a, s, v ? v : "");
  const char **path = !strcmp(s, "-o")              ? &a->out
                      : !strcmp(s, "--header")      ? &a->header
                      : !strcmp(s, "--save-params") ? &a->save_params
                                                    : NULL;
  double *num = !strcmp(s, "--eps") ? &a->eps : !strcmp(s, "--tol") ? &a->tol : NULL;
  int seed = !strcmp(s, "--seed"), set = !strcmp(s, "--set");
  if (!path && !num && !seed && !set)
    return -1;
  if (!v)
    return cli_usage_error("%s needs a value", s);
  if (path)
    *path = v;
  else if (num && !parse_positive(v, num))
    return cli_usage_error("%s takes a positive number, not '%s'", s, v);
  else if (seed && !parse_seed(v, &a->seed))
    return cli_usage_error("--seed takes a whole number, not '%s'", v);
  else if (set) {
    char *eq = strchr(v, '=');
    if (!eq || eq == v)
      return cli_usage_error("--set takes NAME=VALUE, not '%s'", v);
    *eq = 0;
    a->set[a->nset++] = (SetArg){v, eq + 1};
  }
  return 0;
}

static int parse_args(int argc, char **argv, Args *a) {
  memset(a, 0, sizeof *a);
  a->after = PASS_SIMPLIFY;
  if (argc < 2)
    return cli_usage_error("no command given");
  a->cmd = argv[1];
  a->set = calloc((size_t)argc, sizeof *a->set);
  if (!a->set)
    return cli_usage_error("out of memory");
  for (int i = 2; i < argc; i++) {
    const char *s = argv[i];
    if (set_flag(a, s))
      continue;
    int rc = value_option(a, s, i + 1 < argc ? argv[i + 1] : NULL);
    if (rc == 0)
      i++;
    else if (rc > 0)
      return rc;
    else if (s[0] == '-' && s[1])
      return cli_usage_error("unknown option '%s'", s);
    else if (a->file)
      return cli_usage_error("more than one model file given");
    else
      a->file = s;
  }
  if (!a->file)
    return cli_usage_error("no model file given");
  if ((a->eps || a->tol) && strcmp(a->cmd, "gradcheck") != 0)
    return cli_usage_error("--eps and --tol are for gradcheck");
  return 0;
}

/* A note from the library (--verbose), under the model's name. */
static void print_note(void *file, const char *msg) {
  fprintf(stderr, "%s: note: %s\n", (const char *)file, msg);
}

void cli_options(const Args *a, exprc_options *o) {
  exprc_options_default(o);
  if (a->verbose) {
    o->note = print_note;
    o->note_arg = (void *)a->file;
  }
  o->no_simplify = a->no_simplify;
  o->no_reuse = a->no_reuse;
  o->no_fuse = a->no_fuse;
  o->backend = (exprc_backend)a->backend;
  o->threads = a->threads;
  o->remat = a->remat;
  o->seed = a->seed;
  o->check_finite = a->check_finite;
  o->dtype = (exprc_dtype)a->dtype;
}

int main(int argc, char **argv) {
  Args a;
  if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
    return help(NULL);
  if (argc >= 2 && !strcmp(argv[1], "help"))
    return argc > 3 ? cli_usage_error("help takes one command")
                    : help(argc == 3 ? argv[2] : NULL);
  if (argc == 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")))
    return help(argv[1]);
  if (argc == 2 && !strcmp(argv[1], "--version")) {
    printf("exprc %s\n", EXPRC_VERSION);
    return 0;
  }
  PassStats passes = {{0}, {0}, {0}};
  int rc = parse_args(argc, argv, &a);
  a.passes = &passes;
  if (rc == 0) {
    if (!strcmp(a.cmd, "check")) rc = cmd_check(&a);
    else if (!strcmp(a.cmd, "graph")) rc = cmd_graph(&a);
    else if (!strcmp(a.cmd, "emit")) rc = cmd_emit(&a);
    else if (!strcmp(a.cmd, "run")) rc = cmd_run(&a);
    else if (!strcmp(a.cmd, "gradcheck")) rc = cmd_gradcheck(&a);
    else if (!strcmp(a.cmd, "bench")) rc = cmd_bench(&a);
    else if (!strcmp(a.cmd, "explain")) rc = cmd_explain(&a);
    else rc = cli_usage_error("unknown command '%s'", a.cmd);
  }
  free(a.set);
  return rc;
}
