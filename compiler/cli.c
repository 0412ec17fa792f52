/* cli.c: the `exprc` command: check, graph, emit, run, gradcheck.
 *
 * Errors in a model exit with status 1 and the located message; usage errors
 * (flags, missing files, bad --set values) exit with status 2. Output files
 * are written to a temporary name and renamed, so a failed run never leaves
 * half a file behind.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime.h"
#include "emit_c.h"
#include "model.h"
#include "emit_c.h"

typedef struct SetArg {
  const char *name;
  const char *text;
} SetArg;

typedef struct Args {
  const char *cmd, *file, *out, *save_params;
  const char *header; /* emit --header OUT.h */
  int dot, no_simplify, no_reuse, no_fuse, json, stats, backend, threads, remat;
  Pass after;         /* graph --after PASS */
  PassStats *passes;  /* filled by the front of the pipeline */
  uint64_t seed;
  SetArg *set;
  int nset;
} Args;

static void usage(FILE *f) {
  fputs("usage: exprc check FILE\n"
        "       exprc graph FILE [--dot] [--no-simplify] [--after PASS] [--stats]\n"
        "                        (PASS: lower, grad, simplify)\n"
        "       exprc emit FILE [-o OUT.c] [--header OUT.h]\n"
        "       exprc run FILE [--set NAME=VALUE]... [--seed N] [--json]\n"
        "                      [--save-params DIR]\n"
        "       exprc gradcheck FILE [--set NAME=VALUE]... [--seed N]\n"
        "       exprc bench FILE [--set NAME=VALUE]... [--seed N]\n"
        "run, gradcheck and bench take --backend cc (system compiler, -O2)\n"
        "or --backend tcc (libtcc in memory, the default), and --threads N\n"
        "(threads for matrix products and long loops).\n"
        "Every command that compiles takes --no-simplify, and the memory plan\n"
        "options --no-fuse, --no-reuse (one buffer per value) and --remat\n"
        "(recompute cheap forward values in the backward pass).\n"
        "VALUE is a number, a nested list such as [[1,2],[3,4]], or\n"
        "@FILE.npy or @FILE.csv; --set N=SIZE binds a dim no input binds.\n",
        f);
}

static int usage_error(const char *fmt, ...) {
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

static int parse_args(int argc, char **argv, Args *a) {
  memset(a, 0, sizeof *a);
  a->after = PASS_SIMPLIFY;
  if (argc < 2)
    return usage_error("no command given");
  a->cmd = argv[1];
  a->set = calloc((size_t)argc, sizeof *a->set);
  if (!a->set)
    return usage_error("out of memory");
  for (int i = 2; i < argc; i++) {
    const char *s = argv[i];
    if (strcmp(s, "--dot") == 0) a->dot = 1;
    else if (strcmp(s, "--no-simplify") == 0) a->no_simplify = 1;
    else if (strcmp(s, "--json") == 0) a->json = 1;
    else if (strcmp(s, "--stats") == 0) a->stats = 1;
    else if (strcmp(s, "--threads") == 0) {
      uint64_t t;
      if (i + 1 >= argc || !parse_seed(argv[++i], &t) || t < 1 || t > 256)
        return usage_error("--threads takes a number from 1 to 256");
      a->threads = (int)t;
    } else if (strcmp(s, "--backend") == 0) {
      const char *b = i + 1 < argc ? argv[++i] : "";
      if (strcmp(b, "tcc") != 0 && strcmp(b, "cc") != 0)
        return usage_error("--backend takes tcc or cc, not '%s'", b);
      a->backend = b[0] == 'c' ? EXPRC_BACKEND_CC : EXPRC_BACKEND_TCC;
    }
    else if (strcmp(s, "--no-reuse") == 0) a->no_reuse = 1;
    else if (strcmp(s, "--remat") == 0) a->remat = 1;
    else if (strcmp(s, "--no-fuse") == 0) a->no_fuse = 1;
    else if (strcmp(s, "--after") == 0) {
      static const char *const names[NPASS] = {"lower", "grad", "simplify"};
      const char *p = i + 1 < argc ? argv[++i] : "";
      int k = 0;
      while (k < NPASS && strcmp(p, names[k]) != 0)
        k++;
      if (k == NPASS)
        return usage_error("--after takes lower, grad or simplify, not '%s'", p);
      a->after = (Pass)k;
    }
    else if (strcmp(s, "--header") == 0) {
      if (i + 1 >= argc)
        return usage_error("--header needs a value");
      a->header = argv[++i];
    }
    else if ((strcmp(s, "-o") == 0 || strcmp(s, "--seed") == 0 ||
              strcmp(s, "--set") == 0 || strcmp(s, "--save-params") == 0) &&
             i + 1 >= argc)
      return usage_error("%s needs a value", s);
    else if (strcmp(s, "--save-params") == 0) a->save_params = argv[++i];
    else if (strcmp(s, "-o") == 0) a->out = argv[++i];
    else if (strcmp(s, "--seed") == 0) {
      if (!parse_seed(argv[++i], &a->seed))
        return usage_error("--seed takes a whole number, not '%s'", argv[i]);
    } else if (strcmp(s, "--set") == 0) {
      char *eq = strchr(argv[++i], '=');
      if (!eq || eq == argv[i])
        return usage_error("--set takes NAME=VALUE, not '%s'", argv[i]);
      *eq = 0;
      a->set[a->nset++] = (SetArg){argv[i], eq + 1};
    } else if (s[0] == '-' && s[1])
      return usage_error("unknown option '%s'", s);
    else if (a->file)
      return usage_error("more than one model file given");
    else a->file = s;
  }
  if (!a->file)
    return usage_error("no model file given");
  return 0;
}

/* ---- --set values: numbers and nested lists ---- */

typedef struct Value {
  double *v;
  size_t n, cap;
  int rank, seen_leaf;
  int64_t shape[EXPRC_MAX_RANK];
} Value;

typedef struct VParser {
  const char *p;
  Value *val;
  const char *err;
} VParser;

static void skip_ws(VParser *P) {
  while (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r')
    P->p++;
}

static int push_num(VParser *P, double x) {
  Value *v = P->val;
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 16;
    double *nv = realloc(v->v, cap * sizeof *nv);
    if (!nv)
      return P->err = "out of memory", 0;
    v->v = nv;
    v->cap = cap;
  }
  v->v[v->n++] = x;
  return 1;
}

/* item = number | "[" item ("," item)* "]" */
static int parse_item(VParser *P, int level) {
  skip_ws(P);
  if (*P->p != '[') {
    char *end;
    double x = strtod(P->p, &end);
    if (end == P->p)
      return P->err = "expected a number or '['", 0;
    P->p = end;
    if (P->val->seen_leaf && level != P->val->rank)
      return P->err = "the nested lists are ragged", 0;
    P->val->seen_leaf = 1;
    P->val->rank = level;
    return push_num(P, x);
  }
  if (level >= EXPRC_MAX_RANK)
    return P->err = "more than 4 levels of nesting", 0;
  P->p++;
  int64_t count = 0;
  do {
    if (!parse_item(P, level + 1))
      return 0;
    count++;
    skip_ws(P);
  } while (*P->p == ',' && P->p++);
  if (*P->p != ']')
    return P->err = "expected ',' or ']'", 0;
  P->p++;
  int64_t *d = &P->val->shape[level];
  if (*d && *d != count)
    return P->err = "the nested lists are ragged", 0;
  *d = count;
  return 1;
}

static int parse_value(const char *text, Value *val, const char **err) {
  VParser P = {text, val, NULL};
  memset(val, 0, sizeof *val);
  if (parse_item(&P, 0)) {
    skip_ws(&P);
    if (*P.p)
      P.err = "unexpected text after the value";
  }
  *err = P.err;
  return P.err == NULL;
}

/* Apply every --set: params first take their initializers (by seed). */
static int apply_sets(exprc_model *m, const Args *a) {
  exprc_init_params(m, a->seed);
  for (int i = 0; i < a->nset; i++) {
    Value v;
    const char *err;
    exprc_tensor t;
    if (exprc_find(m, a->set[i].name, &t) != EXPRC_OK ||
        t.kind == EXPRC_OUTPUT) {
      char *end; /* a dim no input binds: --set N=7 */
      long long n = strtoll(a->set[i].text, &end, 10);
      if (end != a->set[i].text && !*end &&
          exprc_bind_dim(m, a->set[i].name, n) == EXPRC_OK)
        continue;
      fprintf(stderr, "exprc: --set: the model has no input, param or dim "
              "named '%s'\n", a->set[i].name);
      return 2;
    }
    if (a->set[i].text[0] == '@') { /* a .npy or .csv file */
      if (exprc_set_file(m, a->set[i].name, a->set[i].text + 1) == EXPRC_OK)
        continue;
      fprintf(stderr, "exprc: --set %s: %s\n", a->set[i].name, exprc_errmsg(m));
      return 2;
    }
    if (!parse_value(a->set[i].text, &v, &err)) {
      free(v.v);
      fprintf(stderr, "exprc: --set %s: %s\n", a->set[i].name, err);
      return 2;
    }
    exprc_status st = exprc_set(m, a->set[i].name, v.v, v.rank, v.shape);
    free(v.v);
    if (st != EXPRC_OK) {
      fprintf(stderr, "exprc: --set %s: %s\n", a->set[i].name, exprc_errmsg(m));
      return 2;
    }
  }
  return 0;
}

/* ---- printing tensors ---- */

/* The shortest text that reads back as exactly x. JSON has no NaN or
 * infinity: those print as null. */
static void json_number(FILE *f, double x) {
  char buf[40];
  if (!isfinite(x)) {
    fputs("null", f);
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, x);
    if (strtod(buf, NULL) == x)
      break;
  }
  fputs(buf, f);
}

static void human_number(FILE *f, double x) { fprintf(f, "%.6g", x); }

static void print_nested(FILE *f, const exprc_tensor *t, int json) {
  if (!t->data) {
    fputs(json ? "null" : "(not computed)", f);
    return;
  }
  int64_t stride[EXPRC_MAX_RANK + 1];
  stride[t->rank] = 1;
  for (int d = t->rank; d-- > 0;)
    stride[d] = stride[d + 1] * t->shape[d];
  for (int64_t i = 0; i < t->size || (t->size == 0 && i == 0 && t->rank == 0); i++) {
    int open = 0;
    for (int d = 0; d < t->rank; d++)
      open += i % stride[d] == 0;
    if (i > 0)
      fputs(open && !json && t->rank > 1 ? ",\n    " : ", ", f);
    for (int k = 0; k < open; k++)
      fputc('[', f);
    (json ? json_number : human_number)(f, t->data[i]);
    int close = 0;
    for (int d = 0; d < t->rank; d++)
      close += (i + 1) % stride[d] == 0;
    for (int k = 0; k < close; k++)
      fputc(']', f);
  }
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static void print_json(exprc_model *m) {
  exprc_tensor t;
  printf("{\"outputs\": {");
  for (int i = 0; i < exprc_count(m, EXPRC_OUTPUT); i++) {
    exprc_get(m, EXPRC_OUTPUT, i, &t);
    printf("%s", i ? ", " : "");
    json_string(stdout, t.name);
    printf(": ");
    print_nested(stdout, &t, 1);
  }
  printf("},\n \"losses\": {");
  for (int i = 0; i < exprc_count(m, EXPRC_LOSS); i++) {
    exprc_get(m, EXPRC_LOSS, i, &t);
    printf("%s", i ? ", " : "");
    json_string(stdout, t.name);
    printf(": ");
    print_nested(stdout, &t, 1);
  }
  printf("},\n \"gradients\": {");
  const char *loss = NULL;
  for (int i = 0; i < exprc_count(m, EXPRC_GRADIENT); i++) {
    exprc_get(m, EXPRC_GRADIENT, i, &t);
    if (!loss || strcmp(loss, t.loss) != 0) {
      printf("%s", loss ? "}, " : "");
      json_string(stdout, t.loss);
      printf(": {");
      loss = t.loss;
    } else {
      printf(", ");
    }
    json_string(stdout, t.name);
    printf(": ");
    print_nested(stdout, &t, 1);
  }
  printf("%s}}\n", loss ? "}" : "");
}

static void print_human(exprc_model *m) {
  exprc_tensor t;
  for (int i = 0; i < exprc_count(m, EXPRC_OUTPUT); i++) {
    exprc_get(m, EXPRC_OUTPUT, i, &t);
    printf("%s = ", t.name);
    print_nested(stdout, &t, 0);
    printf("\n");
  }
  for (int i = 0; i < exprc_count(m, EXPRC_LOSS); i++) {
    exprc_get(m, EXPRC_LOSS, i, &t);
    printf("grad %s: %s = ", t.name, t.name);
    print_nested(stdout, &t, 0);
    printf("\n");
    for (int k = 0; k < exprc_count(m, EXPRC_GRADIENT); k++) {
      exprc_tensor g;
      exprc_get(m, EXPRC_GRADIENT, k, &g);
      if (strcmp(g.loss, t.name) != 0)
        continue;
      printf("  d%s/d%s = ", t.name, g.name);
      print_nested(stdout, &g, 0);
      printf("\n");
    }
  }
}

/* ---- check and graph: the front of the pipeline ---- */

static void options_from(const Args *a, exprc_options *o) {
  exprc_options_default(o);
  o->no_simplify = a->no_simplify;
  o->no_reuse = a->no_reuse;
  o->no_fuse = a->no_fuse;
  o->backend = (exprc_backend)a->backend;
  o->threads = a->threads;
  o->remat = a->remat;
  o->seed = a->seed;
}

/* A command that inspects the compiler's module, for the protected call. */
typedef struct Front {
  const Args *a;
  const exprc_options *o;
  int (*fn)(Module *, const Args *);
  int rc;
} Front;

static void run_front(Ctx *c, void *arg) {
  Front *f = arg;
  f->rc = f->fn(model_front(c, f->o, f->a->after, f->a->passes), f->a);
}

static int with_front(const Args *a, int (*fn)(Module *, const Args *)) {
  exprc_options o;
  options_from(a, &o);
  size_t len;
  char *src = model_read_file(a->file, &len, o.limits.max_file_size);
  if (!src) {
    fprintf(stderr, "exprc: %s: %s\n", a->file,
            errno == EILSEQ ? "file contains a NUL byte" : strerror(errno));
    return errno == EFBIG || errno == EILSEQ ? 1 : 2;
  }
  Ctx c;
  ctx_init(&c, a->file, src, len, &o.limits);
  Front job = {a, &o, fn, 0};
  if (ctx_protect(&c, run_front, &job) != EXPRC_OK) {
    fputs(c.msg, stderr);
    job.rc = 1;
  }
  int rc = job.rc;
  ctx_free(&c);
  free(src);
  return rc;
}

static const char *shape_text(Module *mod, uint32_t node, char *buf, size_t n) {
  return shape_str(&mod->g->node[node].shape, mod->dim, buf, n);
}

static int cmd_check(Module *mod, const Args *a) {
  (void)a;
  char sb[128];
  for (uint32_t i = 0; i < mod->nnamed; i++) {
    Named *nm = &mod->named[i];
    printf("%-6s %s", nm->kind, nm->name);
    if (nm->has_shape)
      printf(" %s", shape_str(&nm->shape, mod->dim, sb, sizeof sb));
    printf("\n");
  }
  for (uint32_t k = 0; k < mod->nentry; k++)
    for (uint32_t r = 0; r < mod->entry[k].nres; r++) {
      Result *res = &mod->entry[k].res[r];
      if (k == 0)
        printf("output %s %s\n", res->name, shape_text(mod, res->node, sb, sizeof sb));
      else if (r > 0)
        printf("grad   d%s/d%s %s\n", mod->entry[k].loss, res->name,
               shape_text(mod, res->node, sb, sizeof sb));
    }
  return 0;
}

/* Nodes the entry points need. */
static uint8_t *live_nodes(Module *mod) {
  uint8_t *live = calloc(mod->g->n + 1, 1);
  if (live)
    module_live(mod, live);
  return live;
}

static void node_label(Module *mod, uint32_t i, char *buf, size_t n) {
  Node *nd = &mod->g->node[i];
  const char *op = op_info[nd->op].name;
  switch (nd->op) {
  case OP_INPUT:
  case OP_PARAM:
    snprintf(buf, n, "%s %s", nd->op == OP_INPUT ? "input" : "param",
             mod->var[nd->u.var].name);
    break;
  case OP_CONST:
    if (node_is_tensor_const(nd))
      snprintf(buf, n, "const tensor");
    else
      snprintf(buf, n, "const %.17g", nd->val);
    break;
  case OP_DIMVAL:
    snprintf(buf, n, "dim %s", mod->dim[nd->u.dim]);
    break;
  case OP_SUM:
    snprintf(buf, n, "sum axes 0x%llx", (unsigned long long)nd->u.axes);
    break;
  default: {
    size_t k = 0;
    for (const char *s = op; *s && k + 1 < n; s++)
      buf[k++] = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
    buf[k] = 0;
  }
  }
}

static void print_entries(Module *mod) {
  for (uint32_t k = 0; k < mod->nentry; k++) {
    Entry *e = &mod->entry[k];
    if (e->is_grad)
      printf("entry grad %s:", e->loss);
    else
      printf("entry forward:");
    for (uint32_t r = 0; r < e->nres; r++) {
      printf("%s %s%s = ", r ? "," : "", e->is_grad && r ? "d/d" : "",
             e->res[r].name);
      if (e->res[r].node == NONE)
        printf("(after grad)");
      else
        printf("n%u", e->res[r].node);
    }
    printf("\n");
  }
}

static void print_bytes(const char *what, int64_t b, int symbolic) {
  printf("  %-34s %12lld bytes%s\n", what, (long long)b,
         symbolic ? " + sizes that depend on dims" : "");
}

/* Node counts per pass, and the memory plan of the generated code. */
static int graph_stats(Module *mod, const Args *a) {
  static const char *const names[NPASS] = {"lower", "grad", "simplify"};
  printf("%s\n  %-10s %10s %10s %10s\n", a->file, "pass", "nodes", "forward",
         "backward");
  for (int p = 0; p < NPASS; p++)
    if (a->passes->ran[p])
      printf("  %-10s %10u %10u %10u\n", names[p],
             a->passes->forward[p] + a->passes->backward[p],
             a->passes->forward[p], a->passes->backward[p]);
  if (a->after != PASS_SIMPLIFY && !a->no_simplify)
    return 0;
  exprc_options o;
  options_from(a, &o);
  Plan plan = model_plan(&o);
  model_plan_only(mod->g->c, mod, &plan);
  int64_t vars = 0, results = 0, n;
  int sym = 0;
  for (uint32_t i = 0; i < mod->nvar; i++)
    vars += shape_numel_const(&mod->var[i].shape, &n) ? 8 * n : (sym = 1, 0);
  printf("memory plan\n");
  print_bytes("inputs and params", vars, sym);
  sym = 0;
  for (uint32_t k = 0; k < mod->nentry; k++)
    for (uint32_t r = 0; r < mod->entry[k].nres; r++) {
      Shape *s = &mod->g->node[mod->entry[k].res[r].node].shape;
      results += shape_numel_const(s, &n) ? 8 * n : (sym = 1, 0);
    }
  print_bytes("results", results, sym);
  print_bytes("temporaries (peak work memory)", plan.temp_bytes, plan.symbolic);
  print_bytes("temporaries without sharing", plan.naive_bytes, plan.symbolic);
  if (!o.remat) { /* what rematerialization would save */
    o.remat = 1;
    Plan remat = model_plan(&o);
    model_plan_only(mod->g->c, mod, &remat);
    print_bytes("temporaries with --remat", remat.temp_bytes, remat.symbolic);
  }
  printf("  %-34s %12u\n", "temporary buffers", plan.ntemp);
  return 0;
}

static int graph_text(Module *mod, const Args *a) {
  uint8_t *live = live_nodes(mod);
  uint32_t nf = 0, nb = 0;
  char lab[160], sb[128];
  for (uint32_t i = 0; live && i < mod->g->n; i++)
    if (live[i])
      *(mod->g->node[i].flags & N_BACKWARD ? &nb : &nf) += 1;
  printf("# %s: %u nodes, %u forward and %u backward%s\n", a->file, nf + nb, nf,
         nb, a->no_simplify ? " (not simplified)" : "");
  for (uint32_t i = 0; live && i < mod->g->n; i++) {
    Node *nd = &mod->g->node[i];
    if (!live[i])
      continue;
    node_label(mod, i, lab, sizeof lab);
    printf("n%-5u = %s", i, lab);
    for (int k = 0; k < nd->nin; k++)
      printf(" n%u", nd->in[k]);
    printf("  %s%s\n", shape_str(&nd->shape, mod->dim, sb, sizeof sb),
           nd->flags & N_BACKWARD ? "  backward" : "");
  }
  print_entries(mod);
  free(live);
  return 0;
}

/* ---- graph --dot: drawn for a reader ---- */

/* A reduction says which axes it folds: "sum" (all), "max axis 1". */
static int dot_reduce_label(Module *mod, uint32_t i, char *buf, size_t n) {
  Node *nd = &mod->g->node[i];
  const char *name = nd->op == OP_SUM   ? "sum"
                     : nd->op == OP_MAX ? "max"
                     : nd->op == OP_MIN ? "min"
                     : nd->op == OP_LSE ? "logsumexp"
                                        : NULL;
  if (!name)
    return 0;
  int rank = mod->g->node[nd->in[0]].shape.rank;
  if (nd->u.axes == ((int64_t)1 << rank) - 1) {
    snprintf(buf, n, "%s", name);
    return 1;
  }
  size_t k = (size_t)snprintf(buf, n, "%s axis", name);
  for (int d = 0; d < rank && k < n; d++)
    if (nd->u.axes & ((int64_t)1 << d))
      k += (size_t)snprintf(buf + k, n - k, " %d", d);
  return 1;
}

/* Scalar constants and dim sizes are drawn once per use, as plain text
 * beside the node that uses them, not as one node with an edge to every
 * use: a shared "2" or "N" would otherwise pull lines across the picture. */
static int dot_inline_leaf(const Node *nd) {
  return (nd->op == OP_CONST && nd->u.data == SPLAT) || nd->op == OP_DIMVAL;
}

static void dot_edge(Module *mod, uint32_t from, uint32_t to, int k) {
  Node *src = &mod->g->node[from];
  char lab[160], sb[128];
  if (dot_inline_leaf(src)) {
    node_label(mod, from, lab, sizeof lab);
    const char *text = strchr(lab, ' ') ? strchr(lab, ' ') + 1 : lab;
    printf("  k%u_%d [shape=plaintext, style=\"\", fontsize=11, "
           "label=\"%s\"];\n  k%u_%d -> n%u [arrowsize=0.5];\n",
           to, k, text, to, k, to);
    return;
  }
  shape_str(&src->shape, mod->dim, sb, sizeof sb);
  printf("  n%u -> n%u [label=\"%s\"];\n", from, to,
         src->shape.rank ? sb : ""); /* scalars: no "[]" on the line */
}

static const char *dot_color(const Node *nd) {
  return nd->op == OP_INPUT                         ? "#d9ead3"
         : nd->op == OP_PARAM                       ? "#fff2cc"
         : nd->op == OP_CONST || nd->op == OP_DIMVAL ? "#eeeeee"
         : nd->flags & N_BACKWARD                   ? "#f4cccc"
                                                    : "#cfe2f3";
}

static void dot_results(Module *mod) {
  char lab[160];
  for (uint32_t k = 0; k < mod->nentry; k++)
    for (uint32_t r = 0; r < mod->entry[k].nres; r++) {
      Entry *e = &mod->entry[k];
      uint32_t x = e->res[r].node;
      if (x != NONE && dot_inline_leaf(&mod->g->node[x])) { /* `output c = 2` */
        node_label(mod, x, lab, sizeof lab);
        printf("  n%u [label=\"%s\", fillcolor=\"#eeeeee\"];\n", x, lab);
      }
      printf("  r%u_%u [shape=note, fillcolor=\"#ffffff\", penwidth=1.5, "
             "label=\"%s%s%s%s\"];\n",
             k, r, e->is_grad ? (r ? "d" : "grad ") : "output ",
             e->is_grad && r ? e->loss : "", e->is_grad && r ? "/d" : "",
             e->res[r].name);
      if (e->res[r].node != NONE)
        printf("  n%u -> r%u_%u [style=dashed];\n", e->res[r].node, k, r);
    }
}

static int graph_dot(Module *mod, const Args *a) {
  uint8_t *live = live_nodes(mod);
  char lab[160];
  uint32_t nf = 0, nb = 0;
  for (uint32_t i = 0; live && i < mod->g->n; i++)
    if (live[i] && !dot_inline_leaf(&mod->g->node[i]))
      *(mod->g->node[i].flags & N_BACKWARD ? &nb : &nf) += 1;
  printf("digraph exprc {\n  rankdir=TB;\n  labelloc=t;\n  fontname=\"Helvetica\";\n"
         "  label=\"");
  for (const char *s = a->file; *s; s++) /* a file name in a dot string */
    printf(*s == '"' || *s == '\\' ? "\\%c" : "%c",
           (unsigned char)*s < 0x20 ? '?' : *s);
  printf(": %u forward (blue) and %u backward (red) nodes; "
         "inputs green, params yellow\";\n"
         "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n"
         "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#666666\"];\n",
         nf, nb);
  for (uint32_t i = 0; live && i < mod->g->n; i++) {
    Node *nd = &mod->g->node[i];
    if (!live[i] || dot_inline_leaf(nd))
      continue;
    if (!dot_reduce_label(mod, i, lab, sizeof lab))
      node_label(mod, i, lab, sizeof lab);
    printf("  n%u [label=\"%s\", fillcolor=\"%s\"];\n", i, lab, dot_color(nd));
    for (int k = 0; k < nd->nin; k++)
      dot_edge(mod, nd->in[k], i, k);
  }
  dot_results(mod);
  printf("}\n");
  free(live);
  return 0;
}

/* ---- emit, run, gradcheck: the whole pipeline ---- */

static exprc_model *compile(const Args *a, int *rc) {
  exprc_options o;
  options_from(a, &o);
  exprc_model *m;
  exprc_status st = exprc_compile_file(a->file, &o, &m);
  if (st == EXPRC_OK)
    return m;
  const char *msg = exprc_errmsg(m);
  fputs(msg, stderr);
  if (*msg && msg[strlen(msg) - 1] != '\n')
    fputc('\n', stderr); /* "cannot read" messages have no caret lines */
  *rc = st == EXPRC_ERR_IO ? 2 : 1;
  exprc_free(m);
  return NULL;
}

/* Write text to path through a temporary file and a rename. */
static int write_atomically(const char *path, const char *text) {
  size_t n = strlen(path) + 16;
  char *tmp = malloc(n);
  if (!tmp)
    return 0;
  snprintf(tmp, n, "%s.tmp~", path);
  FILE *f = fopen(tmp, "wb");
  int ok = f && fputs(text, f) >= 0;
  ok = f && fclose(f) == 0 && ok;
  if (ok && rename(tmp, path) != 0)
    ok = 0;
  if (!ok) {
    fprintf(stderr, "exprc: cannot write %s: %s\n", path, strerror(errno));
    remove(tmp);
  }
  free(tmp);
  return ok;
}

/* emit --header: the C and its header from one run of the emitter, with the
 * plan the API's compile makes, so that they describe each other and the C
 * is the same text as without --header. */
static int emit_with_header(Module *mod, const Args *a) {
  exprc_options o;
  if (a->after != PASS_SIMPLIFY)
    return usage_error("emit runs every pass: --after is for graph");
  options_from(a, &o);
  Plan plan = model_plan(&o);
  Ctx *c = mod->g->c;
  char *src = model_back(c, mod, &plan);
  const char *base = strrchr(a->header, '/');
  char *hdr = emit_header(c, mod, &plan, base ? base + 1 : a->header);
  if (!write_atomically(a->header, hdr)) /* first: a failure writes nothing */
    return 2;
  if (!a->out)
    fputs(src, stdout);
  else if (!write_atomically(a->out, src))
    return 2;
  return 0;
}

static int cmd_emit(const Args *a) {
  int rc = 0;
  if (a->header)
    return with_front(a, emit_with_header);
  exprc_model *m = compile(a, &rc);
  if (!m)
    return rc;
  if (a->out)
    rc = write_atomically(a->out, exprc_source(m)) ? 0 : 2;
  else
    fputs(exprc_source(m), stdout);
  exprc_free(m);
  return rc;
}

/* Run every entry point. An input missing from the command line is a
 * usage error (status 2), like a bad --set. */
static int run_all(exprc_model *m) {
  exprc_tensor t;
  exprc_status st = EXPRC_OK;
  if (exprc_count(m, EXPRC_OUTPUT))
    st = exprc_forward(m);
  for (int i = 0; st == EXPRC_OK && i < exprc_count(m, EXPRC_LOSS); i++) {
    exprc_get(m, EXPRC_LOSS, i, &t);
    st = exprc_gradient(m, t.name);
  }
  if (st == EXPRC_OK)
    return 0;
  fprintf(stderr, "exprc: %s%s\n", exprc_errmsg(m),
          st == EXPRC_ERR_STATE ? " (give it with --set NAME=VALUE)" : "");
  return st == EXPRC_ERR_STATE ? 2 : 1;
}

static int cmd_run(const Args *a) {
  int rc = 0;
  exprc_model *m = compile(a, &rc);
  if (!m)
    return rc;
  if ((rc = apply_sets(m, a)) == 0 && (rc = run_all(m)) == 0)
    (a->json ? print_json : print_human)(m);
  if (rc == 0 && a->save_params &&
      exprc_save_params(m, a->save_params) != EXPRC_OK) {
    fprintf(stderr, "exprc: --save-params: %s\n", exprc_errmsg(m));
    rc = 2;
  }
  exprc_free(m);
  return rc;
}

/* The loss of entry `loss` at the current values. */
static double loss_at(exprc_model *m, const char *loss) {
  exprc_tensor t;
  exprc_gradient(m, loss);
  for (int i = 0; i < exprc_count(m, EXPRC_LOSS); i++) {
    exprc_get(m, EXPRC_LOSS, i, &t);
    if (strcmp(t.name, loss) == 0)
      return t.data[0];
  }
  return NAN;
}

/* Compare dL/dp with central differences of L at each element of p (a
 * spread of at most 64 elements of large tensors). The relative error of an
 * element is measured against the larger of its two values, but never
 * against less than 1e-3 of the tensor's largest analytic value, so that
 * elements that are zero up to rounding do not count as disagreeing.
 * Returns the number of elements off by more than 1e-4. */
static int check_one(exprc_model *m, const char *loss, const exprc_tensor *g,
                     double *worst) {
  exprc_tensor p;
  exprc_find(m, g->name, &p);
  double *ana = malloc((size_t)(g->size ? g->size : 1) * sizeof *ana);
  if (!ana)
    return 1;
  exprc_gradient(m, loss);
  memcpy(ana, g->data, (size_t)g->size * sizeof *ana);
  double scale = 0;
  for (int64_t i = 0; i < g->size; i++)
    scale = fmax(scale, fabs(ana[i]));
  int64_t step = p.size > 64 ? p.size / 64 : 1;
  int bad = 0;
  for (int64_t i = 0; i < p.size; i += step) {
    double x = p.data[i], h = 6e-6 * fmax(1.0, fabs(x)); /* ~ cbrt(eps) */
    p.data[i] = x + h;
    double up = loss_at(m, loss);
    p.data[i] = x - h;
    double down = loss_at(m, loss);
    p.data[i] = x;
    double num = (up - down) / (2 * h);
    double floor = fmax(1e-6, 1e-3 * scale);
    double err = fabs(num - ana[i]) / fmax(floor, fmax(fabs(num), fabs(ana[i])));
    if (!(err <= 1e-4) && bad++ < 5)
      printf("  d%s/d%s[%lld]: analytic %.10g, finite differences %.10g\n",
             loss, g->name, (long long)i, ana[i], num);
    if (err > *worst || err != err)
      *worst = err;
  }
  free(ana);
  return bad;
}

static int cmd_gradcheck(const Args *a) {
  int rc = 0, failed = 0;
  exprc_model *m = compile(a, &rc);
  if (!m)
    return rc;
  if ((rc = apply_sets(m, a)) != 0 || (rc = run_all(m)) != 0) {
    exprc_free(m);
    return rc;
  }
  int n = exprc_count(m, EXPRC_GRADIENT);
  for (int i = 0; i < n; i++) {
    exprc_tensor g;
    exprc_get(m, EXPRC_GRADIENT, i, &g);
    double worst = 0;
    int bad = check_one(m, g.loss, &g, &worst);
    printf("%s d%s/d%s: max relative error %.2e\n", bad ? "FAIL" : "ok  ",
           g.loss, g.name, worst);
    failed += bad > 0;
  }
  printf("%d of %d gradients agree with finite differences\n", n - failed, n);
  exprc_free(m);
  return failed ? 1 : 0;
}

/* exprc bench: the time of one call of each entry point: the median, least
 * and most of 15 samples, each of enough calls to last 10 ms, after a
 * warm-up (CLOCK_MONOTONIC). Inputs not given with --set get seeded numbers
 * in [-1, 1), so that a model can be timed without data. */
static int cmd_bench(const Args *a) {
  enum { NS = 15 };
  int rc = 0;
  exprc_model *m = compile(a, &rc);
  if (!m || (rc = apply_sets(m, a)) != 0)
    return exprc_free(m), rc;
  exprc_rng r;
  exprc_tensor t;
  exprc_rng_seed(&r, a->seed); /* the inputs' values: --seed, like params */
  for (int i = 0; i < exprc_count(m, EXPRC_INPUT) && rc == 0; i++) {
    int given = exprc_get(m, EXPRC_INPUT, i, &t) != EXPRC_OK || !t.data;
    for (int k = 0; k < a->nset; k++)
      given |= !strcmp(a->set[k].name, t.name);
    double *v = given ? NULL : malloc((size_t)(t.size + 1) * sizeof *v);
    for (int64_t k = 0; v && k < t.size; k++)
      v[k] = 2 * exprc_rng_uniform(&r) - 1;
    rc = v && exprc_set(m, t.name, v, t.rank, t.shape) != EXPRC_OK;
    free(v);
  }
  for (int e = exprc_count(m, EXPRC_OUTPUT) ? -1 : 0;
       rc == 0 && e < exprc_count(m, EXPRC_LOSS); e++) {
    double s[NS], x;
    long calls = 1;
    if (e >= 0)
      exprc_get(m, EXPRC_LOSS, e, &t);
    for (int j = -1; j < NS && rc == 0; j++) { /* j = -1: the warm-up */
      struct timespec t0, t1;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      for (long c = 0; c < calls && rc == 0; c++)
        rc = (e < 0 ? exprc_forward(m) : exprc_gradient(m, t.name)) != EXPRC_OK;
      clock_gettime(CLOCK_MONOTONIC, &t1);
      double dt = (double)(t1.tv_sec - t0.tv_sec) +
                  1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
      if (j < 0 && dt < 0.01)
        calls *= 2, j--; /* warm up until `calls` last 10 ms */
      else if (j >= 0)
        s[j] = dt / (double)calls;
    }
    for (int i = 1; i < NS; i++) /* insertion sort of the samples */
      for (int k = i; k > 0 && s[k] < s[k - 1]; k--)
        x = s[k], s[k] = s[k - 1], s[k - 1] = x;
    if (rc == 0)
      printf("%-8s %-10s median %10.3f us (min %.3f, max %.3f; "
             "%d x %ld calls)\n",
             e < 0 ? "forward" : "grad", e < 0 ? "" : t.name, s[NS / 2] * 1e6,
             s[0] * 1e6, s[NS - 1] * 1e6, NS, calls);
  }
  if (rc)
    fprintf(stderr, "exprc: bench: %s\n", exprc_errmsg(m));
  exprc_free(m);
  return rc;
}

int main(int argc, char **argv) {
  Args a;
  if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    usage(stdout);
    return 0;
  }
  PassStats passes = {{0}, {0}, {0}};
  int rc = parse_args(argc, argv, &a);
  a.passes = &passes;
  if (rc == 0) {
    if (!strcmp(a.cmd, "check")) rc = with_front(&a, cmd_check);
    else if (!strcmp(a.cmd, "graph"))
      rc = with_front(&a, a.stats ? graph_stats : a.dot ? graph_dot : graph_text);
    else if (!strcmp(a.cmd, "emit")) rc = cmd_emit(&a);
    else if (!strcmp(a.cmd, "run")) rc = cmd_run(&a);
    else if (!strcmp(a.cmd, "gradcheck")) rc = cmd_gradcheck(&a);
    else if (!strcmp(a.cmd, "bench")) rc = cmd_bench(&a);
    else rc = usage_error("unknown command '%s'", a.cmd);
  }
  free(a.set);
  return rc;
}
