/* test_cli.c: the `exprc` command, run as a user would run it.
 *
 * `exprc run --json` is parsed by a small JSON reader written here (strict
 * enough to reject malformed output), and its numbers are compared, bit for
 * bit, with what the C API computes for the same model, seed and inputs: the
 * printed text must round-trip exactly. Exit statuses follow the spec: 0 on
 * success, 1 for an error in the model (with a located message), 2 for a
 * usage error (bad flags, missing files, bad --set values).
 * Usage: test_cli EXPRC SOURCE_ROOT (meson passes both).
 */
#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* ---- a minimal JSON reader ---- */

typedef struct Json {
  char kind;           /* 'o'bject, 'a'rray, 'n'umber, 's'tring, 'z' null */
  double num;
  char *str;           /* a string's text */
  char **key;          /* an object's keys */
  struct Json **kid;   /* an object's values or an array's items */
  int n;
} Json;

static Json *json_value(const char **p);

static void ws(const char **p) {
  while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r')
    (*p)++;
}

static Json *json_new(char kind) {
  Json *j = calloc(1, sizeof *j);
  j->kind = kind;
  return j;
}

static void json_free(Json *j) {
  if (!j)
    return;
  for (int i = 0; i < j->n; i++) {
    json_free(j->kid[i]);
    if (j->key)
      free(j->key[i]);
  }
  free(j->kid);
  free(j->key);
  free(j->str);
  free(j);
}

/* A string without escapes other than \" and \\ (exprc's names). */
static char *json_string(const char **p) {
  if (**p != '"')
    return NULL;
  const char *s = ++*p;
  while (**p && **p != '"')
    *p += (**p == '\\' && (*p)[1]) ? 2 : 1;
  if (**p != '"')
    return NULL;
  char *out = malloc((size_t)(*p - s) + 1);
  memcpy(out, s, (size_t)(*p - s));
  out[*p - s] = 0;
  (*p)++;
  return out;
}

/* number = -? digits (. digits)? ([eE] [+-]? digits)?, as JSON requires */
static Json *json_number(const char **p) {
  const char *s = *p;
  if (*s == '-')
    s++;
  if (!isdigit((unsigned char)*s))
    return NULL;
  while (isdigit((unsigned char)*s))
    s++;
  if (*s == '.' && !isdigit((unsigned char)*++s))
    return NULL;
  while (isdigit((unsigned char)*s))
    s++;
  if (*s == 'e' || *s == 'E') {
    s += (s[1] == '+' || s[1] == '-') ? 2 : 1;
    if (!isdigit((unsigned char)*s))
      return NULL;
    while (isdigit((unsigned char)*s))
      s++;
  }
  Json *j = json_new('n');
  j->num = strtod(*p, NULL);
  *p = s;
  return j;
}

static void json_push(Json *j, char *key, Json *v) {
  j->kid = realloc(j->kid, (size_t)(j->n + 1) * sizeof *j->kid);
  if (j->kind == 'o')
    j->key = realloc(j->key, (size_t)(j->n + 1) * sizeof *j->key),
    j->key[j->n] = key;
  j->kid[j->n++] = v;
}

/* object = "{" (string ":" value ("," string ":" value)*)? "}", and the
 * same for arrays without keys. NULL on any syntax error. */
static Json *json_container(const char **p, char kind, char close) {
  Json *j = json_new(kind);
  (*p)++;
  ws(p);
  if (**p == close)
    return (*p)++, j;
  for (;;) {
    char *key = NULL;
    ws(p);
    if (kind == 'o' && (!(key = json_string(p)) || (ws(p), **p != ':')))
      return free(key), json_free(j), NULL;
    if (kind == 'o')
      (*p)++;
    Json *v = json_value(p);
    if (!v)
      return free(key), json_free(j), NULL;
    json_push(j, key, v);
    ws(p);
    if (**p == close)
      return (*p)++, j;
    if (**p != ',')
      return json_free(j), NULL;
    (*p)++;
  }
}

static Json *json_value(const char **p) {
  ws(p);
  if (**p == '{')
    return json_container(p, 'o', '}');
  if (**p == '[')
    return json_container(p, 'a', ']');
  if (**p == '"') {
    Json *j = json_new('s');
    if (!(j->str = json_string(p)))
      return json_free(j), NULL;
    return j;
  }
  if (strncmp(*p, "null", 4) == 0) {
    *p += 4;
    return json_new('z');
  }
  return json_number(p);
}

/* The whole text is one JSON value, or NULL. */
static Json *json_parse(const char *text) {
  const char *p = text;
  Json *j = json_value(&p);
  ws(&p);
  if (j && *p) {
    json_free(j);
    return NULL;
  }
  return j;
}

static Json *json_get(const Json *j, const char *key) {
  for (int i = 0; j && j->kind == 'o' && i < j->n; i++)
    if (strcmp(j->key[i], key) == 0)
      return j->kid[i];
  return NULL;
}

/* The numbers of nested arrays in order; fails on anything else. */
static void json_flatten(const Json *j, double *out, int64_t *n, int64_t max) {
  ck_assert_msg(j && (j->kind == 'a' || j->kind == 'n'),
                "expected a number or a list");
  if (j->kind == 'n') {
    ck_assert(*n < max);
    out[(*n)++] = j->num;
    return;
  }
  for (int i = 0; i < j->n; i++)
    json_flatten(j->kid[i], out, n, max);
}

/* ---- helpers ---- */

/* exprc ARGS, with stdout and stderr captured; returns the exit status. */
static int exprc(const char *args, char **out, char **err) {
  size_t n = strlen(tu_exprc()) + strlen(args) + 8;
  char *cmd = malloc(n);
  snprintf(cmd, n, "'%s' %s", tu_exprc(), args);
  int rc = tu_run(cmd, out, err);
  free(cmd);
  return rc;
}

static const char *mlp(void) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/examples/mlp.expr", tu_srcroot());
  return path;
}

/* The values given to the MLP, on the command line and through the API. */
static const char *const mlp_sets =
    "--set 'x=[0.1, 0.2, 0.30000000000000004, -1e-3]' --set 'y=[0,1,0]'";
static const double mlp_x[4] = {0.1, 0.2, 0.30000000000000004, -1e-3};
static const double mlp_y[3] = {0, 1, 0};

/* ---- run --json ---- */

/* The JSON is valid; p is a probability vector (finite, sums to 1); the
 * loss is finite; every gradient has its param's shape as nested lists. */
START_TEST(run_json_is_valid_and_sensible) {
  char args[8192], *out, *err;
  snprintf(args, sizeof args, "run '%s' %s --seed 7 --json", mlp(), mlp_sets);
  ck_assert_msg(exprc(args, &out, &err) == 0, "%s", err);
  Json *root = json_parse(out);
  ck_assert_msg(root && root->kind == 'o', "not a JSON object:\n%s", out);
  Json *outs = json_get(root, "outputs"), *grads = json_get(root, "gradients");
  double p[3], sum = 0;
  int64_t n = 0;
  json_flatten(json_get(outs, "p"), p, &n, 3);
  ck_assert_int_eq(n, 3);
  for (int i = 0; i < 3; i++) {
    ck_assert(isfinite(p[i]) && p[i] > 0);
    sum += p[i];
  }
  ck_assert_double_eq_tol(sum, 1, 1e-14);
  Json *loss = json_get(outs, "loss");
  ck_assert(loss && loss->kind == 'n' && isfinite(loss->num));
  Json *W1 = json_get(json_get(grads, "loss"), "W1");
  ck_assert_msg(W1 && W1->kind == 'a' && W1->n == 16, "W1 is not 16 rows");
  for (int i = 0; i < 16; i++)
    ck_assert(W1->kid[i]->kind == 'a' && W1->kid[i]->n == 4);
  json_free(root);
  free(out);
  free(err);
}
END_TEST

/* The API's model for the same file, seed and inputs, after a gradient. */
static exprc_model *api_mlp(uint64_t seed) {
  exprc_options o;
  exprc_options_default(&o);
  o.seed = seed;
  exprc_model *m;
  ck_assert_msg(exprc_compile_file(mlp(), &o, &m) == EXPRC_OK, "%s",
                exprc_errmsg(m));
  tu_set(m, "x", mlp_x, 1, (int64_t)4);
  tu_set(m, "y", mlp_y, 1, (int64_t)3);
  ck_assert(exprc_forward(m) == EXPRC_OK);
  ck_assert(exprc_gradient(m, "loss") == EXPRC_OK);
  return m;
}

/* Every printed number equals the API's double exactly. */
static void same_bits(const Json *j, const exprc_tensor *t) {
  double *v = malloc((size_t)t->size * sizeof *v);
  int64_t n = 0;
  json_flatten(j, v, &n, t->size);
  ck_assert_int_eq(n, t->size);
  for (int64_t i = 0; i < n; i++)
    ck_assert_msg(v[i] == t->data[i], "%s[%lld]: printed %.17g, API %.17g",
                  t->name, (long long)i, v[i], t->data[i]);
  free(v);
}

START_TEST(run_json_numbers_round_trip_exactly) {
  char args[8192], *out;
  snprintf(args, sizeof args, "run '%s' %s --seed 7 --json", mlp(), mlp_sets);
  ck_assert(exprc(args, &out, NULL) == 0);
  Json *root = json_parse(out);
  ck_assert(root != NULL);
  exprc_model *m = api_mlp(7);
  Json *grads = json_get(json_get(root, "gradients"), "loss");
  static const char *params[] = {"W1", "b1", "W2", "b2"};
  for (int i = 0; i < 4; i++) {
    exprc_tensor g;
    ck_assert(exprc_find_grad(m, "loss", params[i], &g) == EXPRC_OK);
    same_bits(json_get(grads, params[i]), &g);
  }
  exprc_tensor p;
  ck_assert(exprc_find(m, "p", &p) == EXPRC_OK);
  same_bits(json_get(json_get(root, "outputs"), "p"), &p);
  exprc_free(m);
  json_free(root);
  free(out);
}
END_TEST

/* Another seed gives other initial params, hence other gradients. */
START_TEST(run_seed_changes_params) {
  char args[8192], *a, *b;
  snprintf(args, sizeof args, "run '%s' %s --seed 1 --json", mlp(), mlp_sets);
  ck_assert(exprc(args, &a, NULL) == 0);
  snprintf(args, sizeof args, "run '%s' %s --seed 2 --json", mlp(), mlp_sets);
  ck_assert(exprc(args, &b, NULL) == 0);
  ck_assert_str_ne(a, b);
  free(a);
  free(b);
}
END_TEST

/* ---- exit statuses ---- */

/* An error in the model: status 1 and the located message, for every
 * command that reads the model. */
START_TEST(model_error_exits_1_with_location) {
  char *path = tu_temp_file("input a[3]\ninput b[4]\ny = a + b\n", ".expr");
  static const char *cmds[] = {"check", "graph", "emit", "run", "gradcheck"};
  char want[4200], args[4200], *err;
  snprintf(want, sizeof want,
           "%s:3:7: error: shapes [3] and [4] do not match for '+'\n"
           "   y = a + b\n"
           "         ^\n",
           path);
  for (int i = 0; i < 5; i++) {
    snprintf(args, sizeof args, "%s '%s'", cmds[i], path);
    ck_assert_msg(exprc(args, NULL, &err) == 1, "exprc %s", cmds[i]);
    ck_assert_msg(strcmp(err, want) == 0, "exprc %s said:\n%s", cmds[i], err);
    free(err);
  }
  remove(path);
  free(path);
}
END_TEST

typedef struct Usage {
  const char *args; /* %s is the MLP's path */
  const char *says; /* part of the message */
} Usage;

static const Usage usage_errors[] = {
    {"", "exprc: no command given"},
    {"frob '%s'", "exprc: unknown command 'frob'"},
    {"run '%s' --bogus", "exprc: unknown option '--bogus'"},
    {"check", "exprc: no model file given"},
    {"run /nonexistent/model.expr",
     "/nonexistent/model.expr: error: cannot read: No such file or directory"},
    {"run '%s' --seed abc", "exprc: --seed takes a whole number, not 'abc'"},
    {"run '%s' --set x", "exprc: --set takes NAME=VALUE, not 'x'"},
    {"run '%s' --set q=1",
     "exprc: --set: the model has no input, param or dim named 'q'"},
    {"run '%s' --set 'x=[1,2'", "exprc: --set x: expected ',' or ']'"},
    {"run '%s' --set 'x=[1,2,3]' --set 'y=[1,0,0]'",
     "exprc: --set x: 'x' has shape [4]; the data given has [3]"},
    {"run '%s' '%s'", "exprc: more than one model file given"},
    {"emit '%s' -o", "exprc: -o needs a value"},
    {"emit '%s' -o /nonexistent/dir/out.c",
     "exprc: /nonexistent/dir/out.c: cannot write: No such file or directory"},
    {"emit '%s' -o /tmp", "exprc: /tmp: cannot write: it is a directory"},
    /* numbers are decimal, as in the model and in CSV */
    {"run '%s' --set 'x=[1,nan,2,3]'",
     "exprc: --set x: expected a decimal number or '['"},
    {"run '%s' --set 'x=[1,0x1p3,2,3]'",
     "exprc: --set x: a malformed number (numbers are decimal)"},
    {"run '%s' --set 'x=[1,2.5.1,2,3]'",
     "exprc: --set x: a malformed number (numbers are decimal)"},
    {"run '%s' --set 'x=[1,inf,2,3]'",
     "exprc: --set x: expected a decimal number or '['"},
    {"run '%s' --set 'x=[1,1e400,2,3]'",
     "exprc: --set x: a number out of the range of a double"},
    /* a device that never ends is not read */
    {"run '%s' --set x=@/dev/zero",
     "exprc: --set x: /dev/zero: not a regular file or a FIFO"},
};

/* Usage errors: status 2 and a message that says what is wrong. */
START_TEST(usage_error_exits_2) {
  char args[8192], *err;
  snprintf(args, sizeof args, usage_errors[_i].args, mlp(), mlp());
  ck_assert_msg(exprc(args, NULL, &err) == 2, "exprc %s", args);
  ck_assert_msg(strstr(err, usage_errors[_i].says), "exprc %s said:\n%s", args,
                err);
  ck_assert_msg(err[strlen(err) - 1] == '\n', "no final newline:\n%s", err);
  free(err);
}
END_TEST

/* An input left unset is an error that names it (not a crash, not 0). */
START_TEST(unset_input_is_an_error) {
  char args[8192], *err;
  snprintf(args, sizeof args, "run '%s' --set 'x=[1,2,3,4]'", mlp());
  int rc = exprc(args, NULL, &err);
  ck_assert_msg(rc == 1 || rc == 2, "status %d", rc);
  ck_assert_msg(strstr(err, "'y' is not set"), "%s", err);
  free(err);
}
END_TEST

/* ---- gradcheck, check, graph, emit ---- */

START_TEST(gradcheck_passes_on_the_mlp) {
  char args[8192], *out;
  snprintf(args, sizeof args, "gradcheck '%s' %s", mlp(), mlp_sets);
  ck_assert_msg(exprc(args, &out, NULL) == 0, "%s", out);
  ck_assert_msg(strstr(out, "4 of 4 gradients agree with finite differences"),
                "%s", out);
  free(out);
}
END_TEST

/* At a kink the convention (relu'(0) = 0) and the central difference (1/2)
 * disagree; the one-sided slopes are 0 and 1 and the analytic value is one
 * of them, so the element is reported as at a kink, not as a failure. */
START_TEST(gradcheck_reports_relu_at_zero_as_a_kink) {
  char *path = tu_temp_file("input x\nl = relu(x)\ngrad l wrt x\n", ".expr");
  char args[4200], *out;
  snprintf(args, sizeof args, "gradcheck '%s' --set x=0", path);
  ck_assert_msg(exprc(args, &out, NULL) == 0, "%s", out);
  ck_assert_msg(strstr(out, "  dl/dx[0]: at a kink: analytic 0, finite "
                            "differences 0.5 (left 0, right 1)\n"), "%s", out);
  ck_assert_msg(strstr(out, "ok   dl/dx: "), "%s", out);
  free(out);
  remove(path);
  free(path);
}
END_TEST

/* Params saved by --save-params and read back with --set NAME=@FILE.npy
 * give the same output, to the last digit of the JSON. */
START_TEST(save_params_round_trip_through_npy) {
  char dir[] = "/tmp/exprc-cli-XXXXXX", args[16384], *a, *b;
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(args, sizeof args, "run '%s' %s --seed 5 --json --save-params %s",
           mlp(), mlp_sets, dir);
  ck_assert(exprc(args, &a, NULL) == 0);
  snprintf(args, sizeof args, "run '%s' %s --json --set W1=@%s/W1.npy "
           "--set b1=@%s/b1.npy --set W2=@%s/W2.npy --set b2=@%s/b2.npy",
           mlp(), mlp_sets, dir, dir, dir, dir);
  ck_assert(exprc(args, &b, NULL) == 0);
  ck_assert_str_eq(a, b);
  free(a), free(b);
  const char *names[] = {"W1", "b1", "W2", "b2"};
  for (int i = 0; i < 4; i++) {
    snprintf(args, sizeof args, "%s/%s.npy", dir, names[i]);
    ck_assert_int_eq(remove(args), 0);
  }
  rmdir(dir);
}
END_TEST

/* bench times every entry point: one line each, with a median. */
START_TEST(bench_times_every_entry_point) {
  char args[8192], *out;
  snprintf(args, sizeof args, "bench '%s' %s", mlp(), mlp_sets);
  ck_assert_msg(exprc(args, &out, NULL) == 0, "%s", out);
  ck_assert_msg(strstr(out, "forward ") && strstr(out, "grad     loss"),
                "%s", out);
  ck_assert_msg(strstr(out, " median ") && strstr(out, " us (min "), "%s", out);
  free(out);
}
END_TEST

/* graph --stats counts live nodes after each pass and prints the memory
 * plan, with what --remat would save; --after stops early. */
START_TEST(graph_stats_counts_passes_and_memory) {
  char args[4200], *out;
  snprintf(args, sizeof args, "graph --stats '%s'", mlp());
  ck_assert(exprc(args, &out, NULL) == 0);
  ck_assert_msg(strstr(out, "  lower              28         28          0\n"),
                "%s", out);
  ck_assert_msg(strstr(out, "  simplify   ") && strstr(out, "memory plan\n") &&
                strstr(out, "temporaries (peak work memory)") &&
                strstr(out, "temporaries with --remat"), "%s", out);
  free(out);
  snprintf(args, sizeof args, "graph --after lower '%s'", mlp());
  ck_assert(exprc(args, &out, NULL) == 0);
  ck_assert_msg(strstr(out, "d/dW1 = (after grad)") && !strstr(out, "  backward\n"),
                "%s", out);
  free(out);
}
END_TEST

/* check prints each name with its shape. */
START_TEST(check_lists_names_and_shapes) {
  static const char *lines[] = {
      "input  x [4]\n",       "input  y [3]\n",      "param  W1 [16,4]\n",
      "param  b2 [3]\n",      "const  lam []\n",     "value  h [16]\n",
      "output p [3]\n",       "output loss []\n",    "grad   dloss/dW1 [16,4]\n",
      "grad   dloss/db2 [3]\n"};
  char args[4200], *out;
  snprintf(args, sizeof args, "check '%s'", mlp());
  ck_assert(exprc(args, &out, NULL) == 0);
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
    ck_assert_msg(strstr(out, lines[i]), "no line '%s' in:\n%s", lines[i], out);
  free(out);
}
END_TEST

/* graph --dot is one Graphviz digraph with edges and backward nodes;
 * the text form marks backward nodes and lists the entry points. */
START_TEST(graph_dot_is_a_digraph) {
  char args[4200], *out;
  snprintf(args, sizeof args, "graph '%s' --dot", mlp());
  ck_assert(exprc(args, &out, NULL) == 0);
  ck_assert_msg(strncmp(out, "digraph ", 8) == 0, "%s", out);
  size_t n = strlen(out);
  ck_assert(n > 2 && strcmp(out + n - 2, "}\n") == 0);
  int depth = 0;
  for (const char *p = out; *p; p++) {
    depth += *p == '{';
    depth -= *p == '}';
    ck_assert(depth >= 0);
  }
  ck_assert_int_eq(depth, 0);
  ck_assert(strstr(out, " -> ") != NULL);
  free(out);
  snprintf(args, sizeof args, "graph '%s'", mlp());
  ck_assert(exprc(args, &out, NULL) == 0);
  ck_assert(strstr(out, "  backward\n") != NULL);
  ck_assert(strstr(out, "entry grad loss:") != NULL);
  free(out);
}
END_TEST

/* emit -o writes the same text emit prints. */
START_TEST(emit_to_file_and_stdout_agree) {
  char *c_file = tu_temp_file("", ".c"), args[8192], *out;
  snprintf(args, sizeof args, "emit '%s' -o '%s'", mlp(), c_file);
  ck_assert(exprc(args, &out, NULL) == 0);
  ck_assert_str_eq(out, "");
  free(out);
  snprintf(args, sizeof args, "emit '%s'", mlp());
  ck_assert(exprc(args, &out, NULL) == 0);
  char *text = tu_read_file(c_file);
  ck_assert(text && strcmp(text, out) == 0);
  free(text);
  free(out);
  remove(c_file);
  free(c_file);
}
END_TEST

/* ---- output files: devices and FIFOs in place, links never followed ---- */

static int is_kind(const char *path, mode_t kind) {
  struct stat st;
  return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == kind;
}

static char *emitted_mlp(void) {
  char args[8192], *out;
  snprintf(args, sizeof args, "emit '%s'", mlp());
  ck_assert(exprc(args, &out, NULL) == 0);
  return out;
}

/* -o FIFO writes into the FIFO (for the reader waiting on it) instead of
 * replacing it with a regular file. The C (under 64 KiB) fits the pipe's
 * buffer, so exprc ends before the test reads. */
START_TEST(emit_into_a_fifo_writes_in_place) {
  char dir[] = "/tmp/exprc-fifo-XXXXXX", fifo[64], args[8192], *err;
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(fifo, sizeof fifo, "%s/out.c", dir);
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  int rd = open(fifo, O_RDONLY | O_NONBLOCK);
  ck_assert_int_ge(rd, 0);
  snprintf(args, sizeof args, "emit '%s' -o '%s'", mlp(), fifo);
  ck_assert_msg(exprc(args, NULL, &err) == 0, "%s", err);
  free(err);
  char *want = emitted_mlp(), got[65536];
  ssize_t n = read(rd, got, sizeof got - 1);
  close(rd);
  ck_assert_msg(is_kind(fifo, S_IFIFO), "the FIFO was replaced");
  ck_assert_int_ge(n, 0);
  got[n] = 0;
  ck_assert_str_eq(got, want);
  free(want);
  remove(fifo);
  rmdir(dir);
}
END_TEST

/* -o /dev/null and --header /dev/null write to the device: as root, the old
 * code renamed a regular file over /dev/null; as another user it failed. */
START_TEST(emit_to_dev_null_keeps_the_device) {
  char args[8192], *out, *err;
  snprintf(args, sizeof args, "emit '%s' -o /dev/null --header /dev/null",
           mlp());
  ck_assert_msg(exprc(args, &out, &err) == 0, "%s", err);
  ck_assert_str_eq(out, "");
  ck_assert_msg(is_kind("/dev/null", S_IFCHR), "/dev/null is not a device");
  free(out);
  free(err);
}
END_TEST

/* Links planted at the old fixed temporary names (out.c.tmp~, out.h.tmp~)
 * pointed exprc at the user's files: they were overwritten, and the links
 * renamed onto out.c and out.h. */
START_TEST(emit_never_follows_planted_links) {
  char dir[] = "/tmp/exprc-plant-XXXXXX", p[5][64], args[8192], *err;
  static const char *const names[5] = {"victim", "out.c.tmp~", "out.h.tmp~",
                                       "out.c", "out.h"};
  ck_assert_ptr_nonnull(mkdtemp(dir));
  for (int i = 0; i < 5; i++)
    snprintf(p[i], sizeof p[i], "%s/%s", dir, names[i]);
  FILE *f = fopen(p[0], "w");
  ck_assert(f && fputs("precious", f) >= 0 && fclose(f) == 0);
  ck_assert_int_eq(symlink(p[0], p[1]), 0);
  ck_assert_int_eq(symlink(p[0], p[2]), 0);
  snprintf(args, sizeof args, "emit '%s' -o '%s' --header '%s'", mlp(), p[3],
           p[4]);
  ck_assert_msg(exprc(args, NULL, &err) == 0, "%s", err);
  char *victim = tu_read_file(p[0]), *c = tu_read_file(p[3]), *want = emitted_mlp();
  ck_assert_str_eq(victim, "precious");
  ck_assert_msg(is_kind(p[3], S_IFREG) && is_kind(p[4], S_IFREG),
                "out.c or out.h is not a regular file");
  ck_assert_str_eq(c, want);
  free(victim), free(c), free(want), free(err);
  for (int i = 4; i >= 0; i--)
    remove(p[i]);
  rmdir(dir);
}
END_TEST

/* ---- --set @FILE: FIFOs and pipes, never a hang ---- */

/* A FIFO nobody writes to reads as empty (it blocked in open before); a
 * pipe with data is read. */
START_TEST(set_from_fifos_and_pipes) {
  char dir[] = "/tmp/exprc-setfifo-XXXXXX", fifo[64], args[8192], *out, *err;
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(fifo, sizeof fifo, "%s/x.csv", dir);
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  snprintf(args, sizeof args, "run '%s' --set x=@%s --set 'y=[0,1,0]'", mlp(),
           fifo);
  ck_assert_int_eq(exprc(args, NULL, &err), 2);
  ck_assert_msg(strstr(err, "x.csv: no rows of numbers"), "%s", err);
  free(err);
  remove(fifo);
  rmdir(dir);
  snprintf(args, sizeof args, "printf '1,2,3,4\\n' | '%s' run '%s' --json "
           "--set x=@/dev/stdin --set 'y=[0,1,0]'", tu_exprc(), mlp());
  ck_assert_msg(tu_run(args, &out, &err) == 0, "%s", err);
  ck_assert(strstr(out, "\"outputs\"") != NULL);
  free(out);
  free(err);
}
END_TEST

/* The command never calls setlocale, so LC_ALL cannot change its numbers;
 * this guards that its JSON keeps a decimal point if it ever does. */
START_TEST(json_numbers_ignore_the_environment_locale) {
  char args[8192], *out, *err;
  snprintf(args, sizeof args, "LC_ALL=de_DE.UTF-8 '%s' run '%s' %s --json",
           tu_exprc(), mlp(), mlp_sets);
  ck_assert_msg(tu_run(args, &out, &err) == 0, "%s", err);
  Json *j = json_parse(out);
  ck_assert_msg(j != NULL, "not JSON:\n%s", out);
  json_free(j);
  free(out);
  free(err);
}
END_TEST

/* --help is not an error: the usage and every command, on standard output. */
START_TEST(help_exits_0) {
  char *out, *err;
  ck_assert_int_eq(exprc("--help", &out, &err), 0);
  ck_assert(strstr(out, "usage: exprc check FILE") != NULL);
  ck_assert_str_eq(err, "");
  static const char *const cmds[] = {"check", "graph", "emit", "run",
                                     "gradcheck", "bench"};
  for (int i = 0; i < 6; i++) {
    char want[64];
    snprintf(want, sizeof want, "\n%s: ", cmds[i]);
    ck_assert_msg(strstr(out, want), "--help does not explain %s", cmds[i]);
  }
  free(out);
  free(err);
}
END_TEST

/* One command's help, asked two ways; a command that does not exist is a
 * usage error. */
START_TEST(help_for_one_command) {
  char *a, *b, *err;
  ck_assert_int_eq(exprc("help run", &a, NULL), 0);
  ck_assert_int_eq(exprc("run --help", &b, NULL), 0);
  ck_assert_str_eq(a, b);
  ck_assert_msg(strncmp(a, "usage: exprc run FILE", 21) == 0, "%s", a);
  ck_assert(strstr(a, "--json") && !strstr(a, "gradcheck FILE"));
  free(a), free(b);
  ck_assert_int_eq(exprc("help nosuch", &a, &err), 2);
  ck_assert_str_eq(a, "");
  ck_assert(strstr(err, "exprc: no command 'nosuch'") == err);
  free(a), free(err);
}
END_TEST

/* --version prints the version meson.build declares; no arguments at all
 * is a usage error, with the usage on standard error. */
START_TEST(version_and_no_arguments) {
  char *out, *err, path[4096];
  snprintf(path, sizeof path, "%s/meson.build", tu_srcroot());
  char *build = tu_read_file(path), want[64];
  const char *v = strstr(build, "version : '");
  ck_assert_ptr_nonnull(v);
  v += strlen("version : '");
  snprintf(want, sizeof want, "exprc %.*s\n", (int)strcspn(v, "'"), v);
  free(build);
  ck_assert_int_eq(exprc("--version", &out, NULL), 0);
  ck_assert_str_eq(out, want);
  free(out);
  ck_assert_int_eq(exprc("", &out, &err), 2);
  ck_assert_str_eq(out, "");
  ck_assert(strstr(err, "usage: exprc check FILE") != NULL);
  free(out), free(err);
}
END_TEST

/* The man page (installed by meson install) covers every command and every
 * option that --help names, and man renders it without complaint. */
START_TEST(man_page_covers_the_usage) {
  char path[4096], *usage, *cmd;
  snprintf(path, sizeof path, "%s/docs/exprc.1", tu_srcroot());
  char *page = tu_read_file(path);
  ck_assert_ptr_nonnull(page);
  ck_assert_int_eq(exprc("--help", &usage, NULL), 0);
  for (const char *s = usage; (s = strstr(s, "--")) != NULL; s += 2) {
    char opt[64], troff[128];
    size_t n = strspn(s + 2, "abcdefghijklmnopqrstuvwxyz-");
    snprintf(opt, sizeof opt, "%.*s", (int)n, s + 2);
    snprintf(troff, sizeof troff, "\\-\\-");
    for (const char *o = opt; *o; o++) /* troff writes - as \- */
      snprintf(troff + strlen(troff), sizeof troff - strlen(troff),
               *o == '-' ? "\\-" : "%c", *o);
    ck_assert_msg(n == 0 || strstr(page, troff), "man page lacks --%s", opt);
  }
  static const char *const cmds[] = {".B check", ".B graph", ".B emit",
                                     ".B run", ".B gradcheck", ".B bench"};
  for (int i = 0; i < 6; i++)
    ck_assert_msg(strstr(page, cmds[i]), "man page lacks %s", cmds[i]);
  size_t n = strlen(path) + 64;
  cmd = malloc(n);
  snprintf(cmd, n, "MANPAGER=cat man --warnings -l '%s'", path);
  char *warn = NULL; /* what man says on standard error */
  ck_assert_int_eq(tu_run(cmd, NULL, &warn), 0);
  ck_assert_msg(warn[0] == 0, "man warns:\n%s", warn);
  free(warn), free(cmd), free(page), free(usage);
}
END_TEST

/* ---- gradcheck: --eps, --tol and kinks ---- */

/* gradcheck MODEL_TEXT ARGS: the exit status, and stdout in *out. */
static int gradcheck_text(const char *model, const char *args, char **out) {
  char *path = tu_temp_file(model, ".expr");
  size_t n = strlen(path) + strlen(args) + 32;
  char *cmd = malloc(n);
  snprintf(cmd, n, "gradcheck '%s' %s", path, args);
  int rc = exprc(cmd, out, NULL);
  free(cmd);
  remove(path);
  free(path);
  return rc;
}

/* The model of issue 10: relu's kink lies 1e-6 left of w = 1, inside the
 * default step (6e-6), so the central difference is not the slope at w = 1.
 * Right of the kink the slope is 2w + 1 = 3, the analytic value: the
 * element is at a kink, and gradcheck passes. */
START_TEST(gradcheck_relu_near_its_kink_passes_with_a_note) {
  char *out;
  int rc = gradcheck_text("param w ~ fill(1)\n"
                          "loss = relu(w - 0.999999) + w^2\n"
                          "grad loss wrt w\n", "", &out);
  ck_assert_msg(rc == 0, "%s", out);
  ck_assert_msg(strstr(out, "  dloss/dw[0]: at a kink: analytic 3, "), "%s", out);
  ck_assert_msg(strstr(out, ", right 3)\n"), "%s", out);
  ck_assert_msg(strstr(out, "ok   dloss/dw: max relative error 0.00e+00 "
                            "(1 at a kink)\n"), "%s", out);
  ck_assert_msg(strstr(out, "checked 1 element: 0 passed, 1 at a kink, "
                            "0 failed (eps 6e-06, tol 0.0001)\n"), "%s", out);
  free(out);
}
END_TEST

/* Counts over several elements: a = [1, 0, -2] with relu's kink at the
 * middle one; the cubic term keeps the other two curved. */
START_TEST(gradcheck_counts_passed_and_kinked_elements) {
  char *out;
  int rc = gradcheck_text("input a[3]\nl = sum(relu(a) + a^3)\n"
                          "grad l wrt a\n", "--set 'a=[1, 0, -2]'", &out);
  ck_assert_msg(rc == 0, "%s", out);
  ck_assert_msg(strstr(out, "  dl/da[1]: at a kink: analytic 0, "), "%s", out);
  ck_assert_msg(strstr(out, "checked 3 elements: 2 passed, 1 at a kink, "
                            "0 failed"), "%s", out);
  free(out);
}
END_TEST

/* exp(3w) at w = 1 with the step h = 1e-2: by Taylor's series the central
 * difference's relative error is h^2 L'''(w) / (6 L'(w)) = 1e-4 * 27 / 18
 * = 1.5e-4, far from any kink. It fails at --tol 1e-5 and passes at --tol
 * 1e-3; the default step (6e-6) brings it under 1e-8. A curved loss is not
 * mistaken for a kink: its one-sided slopes agree with each other. */
START_TEST(gradcheck_eps_and_tol_move_the_verdict) {
  static const char *model = "param w ~ fill(1)\nloss = exp(3 * w)\n"
                             "grad loss wrt w\n";
  char *out;
  ck_assert_int_eq(gradcheck_text(model, "--eps 1e-2 --tol 1e-5", &out), 1);
  ck_assert_msg(strstr(out, "FAIL dloss/dw: max relative error 1.50e-04\n"),
                "%s", out);
  ck_assert_msg(strstr(out, "0 passed, 0 at a kink, 1 failed (eps 0.01, "
                            "tol 1e-05)"), "%s", out);
  free(out);
  ck_assert_int_eq(gradcheck_text(model, "--tol 1e-3 --eps 1e-2", &out), 0);
  ck_assert_msg(strstr(out, "ok   dloss/dw: max relative error 1.50e-04\n"),
                "%s", out);
  free(out);
  ck_assert_int_eq(gradcheck_text(model, "--tol 1e-8", &out), 0);
  ck_assert_msg(strstr(out, "1 passed, 0 at a kink, 0 failed"), "%s", out);
  free(out);
}
END_TEST

/* A jump (a comparison) 1e-6 left of w = 1 makes the central difference
 * 2 + 1/(2h) = 83335.3; it is not passed silently: it is named as a kink,
 * with the left slope that sees the jump and the right one that does not. */
START_TEST(gradcheck_reports_a_jump_as_a_kink) {
  char *out;
  int rc = gradcheck_text("param w ~ fill(1)\n"
                          "loss = (w > 0.999999) + w^2\n"
                          "grad loss wrt w\n", "", &out);
  ck_assert_msg(rc == 0, "%s", out);
  ck_assert_msg(strstr(out, "  dloss/dw[0]: at a kink: analytic 2, finite "
                            "differences 83335.3"), "%s", out);
  ck_assert_msg(strstr(out, ", right 2)\n"), "%s", out);
  ck_assert_msg(strstr(out, "0 passed, 1 at a kink, 0 failed"), "%s", out);
  free(out);
}
END_TEST

/* A gradient that is truly wrong still fails, kink or no kink. Comparisons
 * have a zero derivative by convention, so a staircase of 4000 steps of
 * height 1e-8, 1e-8 apart around w = 1, adds slope 1 at every scale the
 * check looks at (h = 6e-6 spans 600 steps) while its analytic derivative
 * is 0: left and right slopes are both about 3, and the analytic value 2
 * is neither of them nor between them. */
START_TEST(gradcheck_fails_on_a_wrong_gradient) {
  char model[16384];
  size_t k = (size_t)snprintf(model, sizeof model,
                              "param w ~ fill(1)\nt = reshape([");
  for (int i = 0; i < 80; i++) /* the thresholds 1 - 2e-5 + 1e-8 j, j < 4000 */
    k += (size_t)snprintf(model + k, sizeof model - k, "%s%.17g", i ? ", " : "",
                          1 - 2e-5 + i * 50e-8);
  k += (size_t)snprintf(model + k, sizeof model - k, "], [80, 1]) + [");
  for (int j = 0; j < 50; j++)
    k += (size_t)snprintf(model + k, sizeof model - k, "%s%.17g", j ? ", " : "",
                          j * 1e-8);
  snprintf(model + k, sizeof model - k,
           "]\nloss = sum(w > t) * 1e-8 + w^2\ngrad loss wrt w\n");
  char *out;
  ck_assert_int_eq(gradcheck_text(model, "", &out), 1);
  ck_assert_msg(strstr(out, "  dloss/dw[0]: analytic 2, finite differences 2.99"),
                "%s", out);
  ck_assert_msg(strstr(out, "FAIL dloss/dw: "), "%s", out);
  ck_assert_msg(strstr(out, "0 of 1 gradients agree"), "%s", out);
  ck_assert_msg(strstr(out, "0 passed, 0 at a kink, 1 failed"), "%s", out);
  free(out);
}
END_TEST

static const Usage gradcheck_usage_errors[] = {
    {"gradcheck '%s' --eps -1", "exprc: --eps takes a positive number, not '-1'"},
    {"gradcheck '%s' --eps abc", "exprc: --eps takes a positive number, not 'abc'"},
    {"gradcheck '%s' --eps 0", "exprc: --eps takes a positive number, not '0'"},
    {"gradcheck '%s' --eps 1e-3x", "exprc: --eps takes a positive number, not '1e-3x'"},
    {"gradcheck '%s' --tol -1e-4", "exprc: --tol takes a positive number, not '-1e-4'"},
    {"gradcheck '%s' --tol nan", "exprc: --tol takes a positive number, not 'nan'"},
    {"gradcheck '%s' --tol inf", "exprc: --tol takes a positive number, not 'inf'"},
    {"gradcheck '%s' --tol", "exprc: --tol needs a value"},
    {"run '%s' --eps 1e-3", "exprc: --eps and --tol are for gradcheck"},
};

/* A bad --eps or --tol is a usage error: status 2, a message, no check. */
START_TEST(gradcheck_bad_eps_or_tol_exits_2) {
  char args[8192], *out, *err;
  snprintf(args, sizeof args, gradcheck_usage_errors[_i].args, mlp());
  ck_assert_msg(exprc(args, &out, &err) == 2, "exprc %s", args);
  ck_assert_msg(strstr(err, gradcheck_usage_errors[_i].says),
                "exprc %s said:\n%s", args, err);
  ck_assert_str_eq(out, "");
  free(out);
  free(err);
}
END_TEST

/* ---- docs/language.md: the examples are checked, so it cannot drift ---- */

/* The next fenced block at or after *p (advancing *p past it and *line
 * with it); its info string is what follows the opening fence. Returns 0
 * when there are no more blocks. */
static int doc_next_block(const char **p, int *line, char *info, size_t ninfo,
                          char **text, int *start) {
  const char *s = *p;
  while (*s && strncmp(s, "```", 3) != 0) { /* find an opening fence */
    const char *nl = strchr(s, '\n');
    s = nl ? nl + 1 : s + strlen(s);
    *line += !!nl;
  }
  if (!*s)
    return 0;
  const char *eol = strchr(s, '\n');
  ck_assert_msg(eol, "docs/language.md:%d: a fence at the end of the file", *line);
  snprintf(info, ninfo, "%.*s", (int)(eol - s - 3), s + 3);
  *start = ++*line;
  const char *body = s = eol + 1;
  while (*s && strncmp(s, "```", 3) != 0) {
    const char *nl = strchr(s, '\n');
    ck_assert_msg(nl, "docs/language.md:%d: a block is not closed", *start);
    s = nl + 1, ++*line;
  }
  ck_assert_msg(*s, "docs/language.md:%d: a block is not closed", *start);
  *text = strndup(body, (size_t)(s - body));
  eol = strchr(s, '\n');
  *p = eol ? eol + 1 : s + strlen(s);
  ++*line;
  return 1;
}

/* Run `exprc CMD model.expr ARGS` on the block's text in a fresh directory,
 * so that messages name the file as the reference does. */
static int doc_exprc(const char *model, const char *cmd, const char *args,
                     char **out, char **err) {
  char dir[] = "/tmp/exprc-doc-XXXXXX", path[64];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/model.expr", dir);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(model, f);
  fclose(f);
  char exe[8192] = ""; /* the command's path, absolute: we change directory */
  if (tu_exprc()[0] != '/') {
    ck_assert_ptr_nonnull(getcwd(exe, 4096));
    strcat(exe, "/");
  }
  strncat(exe, tu_exprc(), 4000);
  size_t n = strlen(exe) + strlen(args) + 128;
  char *line = malloc(n);
  snprintf(line, n, "cd '%s' && '%s' %s model.expr %s", dir, exe, cmd, args);
  int rc = tu_run(line, out, err);
  free(line);
  remove(path);
  rmdir(dir);
  return rc;
}

/* A malloc'ed printf. */
static char *doc_why(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = malloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

/* Check one ```expr block; `shown` is the block after it (the output or
 * message it documents). Returns NULL or a malloc'ed complaint. */
static char *doc_check(const char *info, const char *model, const char *shown) {
  char *out = NULL, *err = NULL, *why = NULL;
  int rc;
  if (strncmp(info, "run", 3) == 0 || strcmp(info, "check") == 0) {
    int run = info[0] == 'r';
    rc = doc_exprc(model, run ? "run" : "check", run ? info + 3 : "", &out, &err);
    if (rc != 0 || !shown || strcmp(out, shown) != 0)
      why = doc_why("exprc %s gave status %d and\n%s%s", info, rc, out, err);
  } else if (strcmp(info, "error") == 0) {
    rc = doc_exprc(model, "check", "", &out, &err);
    if (rc != 1 || !shown || strcmp(err, shown) != 0)
      why = doc_why("exprc check gave status %d and\n%s", rc, err);
  } else if (info[0] == 0) {
    rc = doc_exprc(model, "check", "", &out, &err);
    if (rc != 0)
      why = doc_why("exprc check gave status %d and\n%s", rc, err);
  } else {
    why = doc_why("unknown kind of block '```expr%s'", info);
  }
  free(out);
  free(err);
  return why;
}

/* Every ```expr block of docs/language.md compiles (```expr), fails with
 * the message in the block after it (```expr error), or prints what the
 * block after it shows (```expr run ARGS, ```expr check). */
START_TEST(language_reference_examples_hold) {
  char path[4096];
  snprintf(path, sizeof path, "%s/docs/language.md", tu_srcroot());
  char *doc = tu_read_file(path);
  ck_assert_msg(doc, "cannot read %s", path);
  const char *p = doc;
  int line = 1, start, counts[3] = {0, 0, 0}, failures = 0;
  char info[512], *text;
  while (doc_next_block(&p, &line, info, sizeof info, &text, &start)) {
    if (strncmp(info, "expr", 4) != 0) {
      free(text);
      continue;
    }
    char *shown = NULL, sinfo[512] = "", *why;
    int sstart;
    /* an example that shows output or a message: the next block, plain */
    if (info[4] && doc_next_block(&p, &line, sinfo, sizeof sinfo, &shown, &sstart) &&
        sinfo[0] != 0)
      why = doc_why("the block after it is ```%s, not a plain ```", sinfo);
    else
      why = doc_check(info + 4 + (info[4] == ' '), text, shown);
    counts[info[4] == 0 ? 0 : info[5] == 'e' ? 1 : 2]++;
    if (why && failures++ < 10)
      fprintf(stderr, "docs/language.md:%d: ```%s: %s\n", start, info, why);
    free(why);
    free(text);
    free(shown);
  }
  free(doc);
  ck_assert_msg(failures == 0, "%d examples of docs/language.md do not hold "
                "(listed above)", failures);
  /* the reader found the blocks: an empty extraction cannot pass */
  ck_assert_msg(counts[0] >= 1 && counts[1] >= 10 && counts[2] >= 10,
                "only %d models, %d errors and %d outputs found", counts[0],
                counts[1], counts[2]);
}
END_TEST

/* README and the reference send users to no file outside the repository. */
START_TEST(docs_point_inside_the_repository) {
  static const char *files[] = {"README.md", "docs/language.md"};
  char path[4096];
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", tu_srcroot(), files[i]);
    char *text = tu_read_file(path);
    ck_assert_msg(text, "cannot read %s", path);
    ck_assert_msg(!strstr(text, "../shared") && !strstr(text, "shared/spec"),
                  "%s points outside the repository", files[i]);
    free(text);
  }
  snprintf(path, sizeof path, "%s/README.md", tu_srcroot());
  char *readme = tu_read_file(path);
  ck_assert_msg(strstr(readme, "(docs/language.md)"), "README does not link "
                "the language reference");
  free(readme);
}
END_TEST

int main(int argc, char **argv) {
  tu_set_paths(argc, argv);
  Suite *s = suite_create("cli");
  TCase *run = tu_tcase("run", 60);
  tcase_add_test(run, run_json_is_valid_and_sensible);
  tcase_add_test(run, run_json_numbers_round_trip_exactly);
  tcase_add_test(run, run_seed_changes_params);
  suite_add_tcase(s, run);
  TCase *status = tu_tcase("exit status", 60);
  tcase_add_test(status, model_error_exits_1_with_location);
  tcase_add_loop_test(status, usage_error_exits_2, 0,
                      (int)(sizeof usage_errors / sizeof usage_errors[0]));
  tcase_add_test(status, unset_input_is_an_error);
  suite_add_tcase(s, status);
  TCase *cmds = tu_tcase("commands", 60);
  tcase_add_test(cmds, gradcheck_passes_on_the_mlp);
  tcase_add_test(cmds, gradcheck_reports_relu_at_zero_as_a_kink);
  tcase_add_test(cmds, check_lists_names_and_shapes);
  tcase_add_test(cmds, graph_dot_is_a_digraph);
  tcase_add_test(cmds, emit_to_file_and_stdout_agree);
  tcase_add_test(cmds, help_exits_0);
  tcase_add_test(cmds, help_for_one_command);
  tcase_add_test(cmds, version_and_no_arguments);
  tcase_add_test(cmds, man_page_covers_the_usage);
  tcase_add_test(cmds, bench_times_every_entry_point);
  tcase_add_test(cmds, save_params_round_trip_through_npy);
  tcase_add_test(cmds, graph_stats_counts_passes_and_memory);
  suite_add_tcase(s, cmds);
  TCase *gc = tu_tcase("gradcheck", 60);
  tcase_add_test(gc, gradcheck_relu_near_its_kink_passes_with_a_note);
  tcase_add_test(gc, gradcheck_counts_passed_and_kinked_elements);
  tcase_add_test(gc, gradcheck_eps_and_tol_move_the_verdict);
  tcase_add_test(gc, gradcheck_reports_a_jump_as_a_kink);
  tcase_add_test(gc, gradcheck_fails_on_a_wrong_gradient);
  tcase_add_loop_test(gc, gradcheck_bad_eps_or_tol_exits_2, 0,
                      (int)(sizeof gradcheck_usage_errors /
                            sizeof gradcheck_usage_errors[0]));
  suite_add_tcase(s, gc);
  TCase *docs = tu_tcase("docs", 300);
  tcase_add_test(docs, language_reference_examples_hold);
  tcase_add_test(docs, docs_point_inside_the_repository);
  suite_add_tcase(s, docs);
  TCase *files = tu_tcase("files", 60);
  tcase_add_test(files, emit_into_a_fifo_writes_in_place);
  tcase_add_test(files, emit_to_dev_null_keeps_the_device);
  tcase_add_test(files, emit_never_follows_planted_links);
  tcase_add_test(files, set_from_fifos_and_pipes);
  tcase_add_test(files, json_numbers_ignore_the_environment_locale);
  suite_add_tcase(s, files);
  return tu_run_suite(s);
}
