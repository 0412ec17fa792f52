/* cli_inspect.c: the commands that look inside the compiler: `check`
 * (names and shapes), `graph` (the graph after a pass, its statistics, or
 * Graphviz) and `emit` (the generated C, and with --header its interface).
 * They run the front of the pipeline under the one protected call.
 *
 * Output files are written to a new temporary file and renamed, so a failed
 * run never leaves half a file behind; a device or FIFO is written in place.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "emit_c.h"
#include "io.h"
#include "model.h"

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
  cli_options(a, &o);
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
  return shape_str(mod->g->node[node].shape, mod->g->c->dimnames, buf, n);
}

static int check(Module *mod, const Args *a) {
  (void)a;
  char sb[128];
  for (uint32_t i = 0; i < mod->nnamed; i++) {
    Named *nm = &mod->named[i];
    printf("%-6s %s", nm->kind, nm->name);
    if (nm->has_shape)
      printf(" %s", shape_str(&nm->shape, mod->g->c->dimnames, sb, sizeof sb));
    for (uint32_t v = 0; v < mod->nvar && !strcmp(nm->kind, "input"); v++)
      if (mod->var[v].is_int && !strcmp(mod->var[v].name, nm->name))
        printf(" : int"); /* the element type, as declared */
    printf("\n");
  }
  for (uint32_t k = 0; k < mod->nentry; k++)
    for (uint32_t r = 0; r < mod->entry[k].nres; r++) {
      Result *res = &mod->entry[k].res[r];
      if (k == 0)
        printf("output %s %s%s\n", res->name,
               shape_text(mod, res->node, sb, sizeof sb),
               res->is_int ? " : int" : "");
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

void node_label(Module *mod, uint32_t i, char *buf, size_t n) {
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
      exprc_rt_format(buf, n, "const %.17g", nd->val);
    break;
  case OP_DIMVAL:
    snprintf(buf, n, "dim %s", mod->g->c->dimnames[nd->u.dim]);
    break;
  case OP_SUM:
    snprintf(buf, n, "sum axes 0x%llx", (unsigned long long)nd->u.axes);
    break;
  case OP_PROD:
  case OP_FLIP:
    snprintf(buf, n, "%s axes 0x%llx", nd->op == OP_PROD ? "prod" : "flip",
             (unsigned long long)nd->u.axes);
    break;
  case OP_SHIFT:
  case OP_SORTBY:
  case OP_UNSORTBY:
  case OP_LINREC:
  case OP_CUMLSE: /* along one axis, maybe from the end */
    snprintf(buf, n, "%s axis %d%s", op, (int)(nd->u.word & 15),
             nd->u.word & 16 ? " reversed" : "");
    for (char *s = buf; *s && *s != ' '; s++)
      *s = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
    break;
  case OP_CONV: /* the geometry, which tells two convolutions apart */
  case OP_CONV_TX:
  case OP_CONV_TW:
  case OP_POOL_PICK:
  case OP_POOL_PUT: {
    ConvAttr a = conv_unpack(nd);
    int pool = nd->op == OP_POOL_PICK || nd->op == OP_POOL_PUT;
    int k = snprintf(buf, n, "%s", op_info[nd->op].name);
    for (int i = 0; i < k; i++)
      buf[i] = (char)(buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] - 'A' + 'a'
                                                      : buf[i]);
    if (pool)
      snprintf(buf + k, n - (size_t)k, " window %lldx%lld",
               (long long)a.kernel[0], (long long)a.kernel[1]);
    k = (int)strlen(buf);
    snprintf(buf + k, n - (size_t)k, " stride %lldx%lld pad %lldx%lld",
             (long long)a.stride[0], (long long)a.stride[1],
             (long long)a.pad[0], (long long)a.pad[1]);
    k = (int)strlen(buf);
    if (!pool)
      snprintf(buf + k, n - (size_t)k, " dil %lldx%lld groups %lld",
               (long long)a.dil[0], (long long)a.dil[1], (long long)a.groups);
    break;
  }
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
  cli_options(a, &o);
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
      const Shape *s = mod->g->node[mod->entry[k].res[r].node].shape;
      results += shape_numel_const(s, &n) ? 8 * n : (sym = 1, 0);
    }
  print_bytes("results", results, sym);
  print_bytes("temporaries (peak work memory)", plan.temp_bytes, plan.symbolic);
  print_bytes("temporaries without sharing", plan.naive_bytes, plan.symbolic);
  if (!o.remat) { /* what rematerialization would save */
    o.remat = 1;
    Plan remat = model_plan(&o);
    if (mod->g->nloop) /* folds' gradients are then other graphs */
      mod = model_front(mod->g->c, &o, PASS_SIMPLIFY, NULL);
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
    printf("  %s%s\n", shape_str(nd->shape, mod->g->c->dimnames, sb, sizeof sb),
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
                     : nd->op == OP_PROD ? "prod"
                                        : NULL;
  if (!name)
    return 0;
  int rank = mod->g->node[nd->in[0]].shape->rank;
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
  shape_str(src->shape, mod->g->c->dimnames, sb, sizeof sb);
  printf("  n%u -> n%u [label=\"%s\"];\n", from, to,
         src->shape->rank ? sb : ""); /* scalars: no "[]" on the line */
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

/* Write text to path: a regular file through a new temporary file and a
 * rename, a device or FIFO in place, never through a planted link (io.h). */
static int write_atomically(const char *path, const char *text) {
  char err[1024];
  exprc_rt_out o;
  if (exprc_rt_out_open(&o, path, err, sizeof err) == 0 &&
      exprc_rt_out_close(&o, fputs(text, o.f) >= 0, err, sizeof err) == 0)
    return 1;
  fprintf(stderr, "exprc: %s\n", err);
  return 0;
}

/* emit --header: the C and its header from one run of the emitter, with the
 * plan the API's compile makes, so that they describe each other and the C
 * is the same text as without --header. */
static int emit_with_header(Module *mod, const Args *a) {
  exprc_options o;
  if (a->after != PASS_SIMPLIFY)
    return cli_usage_error("emit runs every pass: --after is for graph");
  cli_options(a, &o);
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

int cmd_emit(const Args *a) {
  int rc = 0;
  if (a->header)
    return with_front(a, emit_with_header);
  exprc_model *m = cli_compile(a, &rc);
  if (!m)
    return rc;
  if (a->out)
    rc = write_atomically(a->out, exprc_source(m)) ? 0 : 2;
  else
    fputs(exprc_source(m), stdout);
  exprc_free(m);
  return rc;
}

int cmd_check(const Args *a) { return with_front(a, check); }

int cmd_graph(const Args *a) {
  return with_front(a, a->stats ? graph_stats : a->dot ? graph_dot : graph_text);
}
