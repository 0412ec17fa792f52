/* emit_c.c: the emission stage: the planned graph to C source.
 *
 * One translation unit per model: a prelude (libm prototypes, the runtime's
 * matrix product and parallel loop, the scalar helpers of scalar.h that the
 * code calls), tensor constants, then one function per entry point. Each
 * function computes the nodes its results need, in index order (a
 * topological order). Where each value lives, its "home", comes from the
 * entry's memory plan (plan.c), which the emitter only reads: a constant
 * printed inline, a C local, a slot buffer S[k] that the host allocates, or
 * nowhere (fused into its reader's loop). This file is the stage's door
 * (emit_begin, emit_entry, emit_end); emit.h lists the other rooms.
 *
 * Nothing the user wrote reaches the C text except the file name in #line
 * directives (escaped as a C string) and, in the header, names made into
 * identifiers and comment-safe text: every C name is made by the emitter (S,
 * D, p<slot>, r<local>, t<slot>, a<accumulator>, c<node>, xc_*), so no
 * identifier in a model can collide with C or libc.
 */
#include "emit.h"

#include <string.h>

#include "loop.h"
#include "runtime.h"
#include "scalar.h"

#define TEXT_(x) #x
#define TEXT(x) TEXT_(x) /* the text a macro expands to */

/* ---- entry points ---- */

void emit_entry_name(int k, char *buf, size_t n) {
  if (k == 0)
    snprintf(buf, n, "xc_forward");
  else
    snprintf(buf, n, "xc_grad_%d", k);
}

/* Results whose node lives elsewhere (a leaf, a constant, another result)
 * are copied into their slot. */
static void copy_results(Emitter *E, Entry *e) {
  for (uint32_t r = 0; r < e->nres; r++) {
    uint32_t x = e->res[r].node;
    Home h = E->home[x];
    if (h.kind == H_SLOT && h.slot == e->res[r].slot)
      continue;
    char n[128], in[EM_EXPR];
    em_count_expr(at(E, x)->shape, 0, n, sizeof n);
    em_value(E, x, em_is_scalar(E, x) ? "0" : "i", in, sizeof in);
    em_mark(E, x, &E->body);
    em_put(E, &E->body, "  for (i = 0; i < %s; i++)\n    p%d[i] = %s;\n", n,
        e->res[r].slot, in);
    em_mark_end(E, &E->body);
    E->used_i = 1;
  }
}

static void declarations(Emitter *E) {
  for (uint32_t s = 0; s < E->ep->nused; s++)
    if (E->ep->used[s])
      em_put(E, &E->out, "  xc_real *const p%u = (xc_real *)S[%u];\n", s, s);
  for (uint32_t s = 0; s < E->ep->nused; s++) /* buffers used only by */
    if (E->ep->used[s] && (E->helpers.n || E->loop.was_local[s])) /* parallel */
      em_put(E, &E->out, "  (void)p%u;\n", s); /* bodies, or kept in locals */
  for (uint32_t r = 0; r < E->ep->nlocal; r++) {
    if (r % 8)
      em_put(E, &E->out, ", r%u", r);
    else
      em_put(E, &E->out, "%s  xc_real r%u", r ? ";\n" : "", r);
  }
  if (E->ep->nlocal)
    em_put_str(E, &E->out, ";\n");
  if (E->used_i) em_put_str(E, &E->out, "  long i;\n");
  if (E->used_o) em_put_str(E, &E->out, "  long o;\n");
  for (int j = 0; j < E->depth; j++)
    em_put(E, &E->out, "  long i%d;\n", j);
  if (E->used_acc) em_put_str(E, &E->out, "  double acc;\n");
  if (E->used_acc2) em_put_str(E, &E->out, "  double acc2;\n");
  if (E->used_tb) /* a float32 tanh's arguments, a block at a time */
    em_put(E, &E->out, "  double xc_tb[%d];\n  long xc_tb0, xc_tbe;\n",
           EXPRC_RT_TANH_BLOCK);
  for (uint32_t a = 0; a < E->nacc_locals; a++) {
    if (a % 8)
      em_put(E, &E->out, ", a%u", a);
    else
      em_put(E, &E->out, "%s  double a%u", a ? ";\n" : "", a);
  }
  if (E->nacc_locals)
    em_put_str(E, &E->out, ";\n");
}

void emit_entry(Emitter *E, int k, const EntryPlan *ep) {
  char name[32];
  Entry *e = &E->m->entry[k];
  emit_entry_name(k, name, sizeof name);
  em_function(E, e, name, e->is_grad ? "a gradient entry point"
                                     : "the forward entry point", ep);
}

void em_function(Emitter *E, Entry *e, const char *name, const char *what,
                 const EntryPlan *ep) {
  E->body.n = 0;
  E->used_i = E->used_o = E->used_acc = E->used_acc2 = E->depth = 0;
  E->used_tb = 0;
  E->line = 0;
  E->ep = ep;
  E->home = ep->home;
  E->nacc_locals = 0;
  E->loop.nkeys = E->ep->nused + E->ep->nlocal + 1;
  vec_reserve(E->c, &E->loop.wrote, &E->loop.cap, E->loop.nkeys, 1);
  E->loop.shifted = ctx_realloc(E->c, E->loop.shifted, E->loop.cap);
  E->loop.uses = ctx_realloc(E->c, E->loop.uses, E->loop.cap);
  E->loop.inflow = ctx_realloc(E->c, E->loop.inflow, E->loop.cap);
  E->loop.local = ctx_realloc(E->c, E->loop.local, E->loop.cap);
  E->loop.was_local = ctx_realloc(E->c, E->loop.was_local, E->loop.cap);
  memset(E->loop.was_local, 0, E->loop.cap);
  vec_reserve(E->c, &E->loop.writer, &E->loop.wcap, E->loop.nkeys, 4);
  em_loop_reset(E);
  for (uint32_t i = 0; i < E->g->n; i++) {
    if (!E->ep->need[i])
      continue;
    Op op = (Op)at(E, i)->op;
    if (E->home[i].kind == H_FUSED || E->home[i].view)
      continue; /* computed inside its reader's loop, or a view */
    if (E->home[i].fill) {
      em_loop_flush(E);
      em_mark(E, i, &E->body);
      em_fill(E, i);
      em_mark_end(E, &E->body);
    }
    else if (op != OP_INPUT && op != OP_PARAM && op != OP_CONST &&
             op != OP_DIMVAL && op != OP_HOLE)
      em_node(E, i), em_check(E, i);
    else if (op == OP_INPUT || op == OP_PARAM)
      em_check(E, i); /* --check-finite: a NaN given, not made */
  }
  em_loop_flush(E);
  copy_results(E, e);
  if (E->helpers.n)
    em_put_mem(E, &E->out, E->helpers.s, E->helpers.n);
  em_put(E, &E->out, "\n/* %s: %s */\nvoid %s(const long *D, double *const *S)\n{\n",
      name, what, name);
  declarations(E);
  em_put_str(E, &E->out, "  (void)D;\n  (void)S;\n");
  if (E->body.n)
    em_put_mem(E, &E->out, E->body.s, E->body.n); /* not vsnprintf:
                                    megabytes at a big model */
  em_put_str(E, &E->out, "}\n");
  E->helpers.n = 0;
  E->ep = NULL, E->home = NULL;
}

static void prelude(Emitter *E) {
  static const struct { const char *name; int n; } libm[] = {
#define XC_LIBM(name, n) {#name, n},
      XC_LIBM_FNS(XC_LIBM)
#undef XC_LIBM
  };
  em_put_str(E, &E->out,
          "/* Generated by exprc: C99, self-contained. Each entry point reads\n"
          "   and writes the buffers S[slot] and takes the sizes of the dims\n"
          "   in D. exprc_rt_gemm is exprc's runtime matrix product. */\n");
  em_put(E, &E->out, "typedef %s xc_real; /* every stored value */\n",
         E->f32 ? "float" : "double");
  for (size_t i = 0; i < sizeof libm / sizeof libm[0]; i++)
    em_put(E, &E->out, "double %s(double%s);\n", libm[i].name,
        libm[i].n == 2 ? ", double" : "");
  em_put_str(E, &E->out, "typedef void (*exprc_rt_body)" TEXT(
                             EXPRC_RT_BODY_PARAMS) ";\n");
#define RT_PROTOTYPE(name, params) "void " #name #params ";\n"
  em_put_str(E, &E->out, EXPRC_RT_FNS(RT_PROTOTYPE));
#undef RT_PROTOTYPE
  if (E->fails) /* the messages of exprc_rt_fail, by number */
    em_put_str(E, &E->out, "enum {"
#define RT_ERROR_NAME(name, status, fmt) " " #name ","
               EXPRC_RT_ERRORS(RT_ERROR_NAME)
#undef RT_ERROR_NAME
               " EXPRC_RTE_COUNT };\n");
  for (int k = 0; em_helper_text[k]; k++)
    if (E->used_helpers & (1u << k))
      em_put_str(E, &E->out, em_helper_text[k]);
  em_check_prelude(E);
  for (uint32_t l = 0; l < E->g->nloop; l++) /* steps, called before them */
    if (E->g->loop[l].step == l)
      em_put(E, &E->out, "void xc_loop_%u(const long *D, double *const *S);\n", l);
}

static void constants(Emitter *E) {
  char num[64];
  for (uint32_t i = 0; i < E->g->n; i++) {
    Node *nd = at(E, i);
    int64_t n;
    if (!node_is_tensor_const(nd) || !shape_numel_const(nd->shape, &n))
      continue;
    em_put(E, &E->out, "static const xc_real c%u[%lld] = {", i, (long long)n);
    for (int64_t k = 0; k < n; k++) {
      em_number(E->g->cdata[nd->u.data + k], num, sizeof num);
      em_put(E, &E->out, "%s%s", k % 6 ? ", " : (k ? ",\n  " : "\n  "), num);
    }
    em_put_str(E, &E->out, "};\n");
  }
}

Emitter *emit_begin(Ctx *c, Module *m, const Plan *plan) {
  Emitter *E = ctx_alloc(c, sizeof *E);
  *E = (Emitter){.c = c, .m = m, .g = m->g, .plan = plan, .f32 = plan->f32};
  for (uint32_t i = 0; i < E->g->n && !E->fails; i++)
    E->fails = (op_info[E->g->node[i].op].flags & F_FAILS) != 0;
  return E;
}

void emit_mark_nodes(Emitter *E) { E->marks = 1; }

/* The entry functions were written first, to know which helpers they call:
 * the prelude and the constants go before them. */
char *emit_end(Emitter *E) {
  Ctx *c = E->c;
  Buf entries = E->out;
  E->out = (Buf){0};
  prelude(E);
  constants(E);
  em_put_mem(E, &E->out, entries.s ? entries.s : "", entries.n);
  ctx_release(c, entries.s);
  ctx_release(c, E->body.s);
  ctx_release(c, E->loop.pre.s);
  ctx_release(c, E->loop.body.s);
  ctx_release(c, E->loop.post.s);
  ctx_release(c, E->loop.wrote);
  ctx_release(c, E->loop.shifted);
  ctx_release(c, E->loop.uses);
  ctx_release(c, E->loop.inflow);
  ctx_release(c, E->loop.local);
  ctx_release(c, E->loop.was_local);
  ctx_release(c, E->loop.writer);
  ctx_release(c, E->helpers.s);
  ctx_release(c, E->qfile.s);
  ctx_release(c, E->reads);
  return E->out.s;
}
