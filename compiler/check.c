/* check.c: the host's side of --check-finite (exprc_options.check_finite).
 *
 * The generated code (emit_check.c) reports the first infinite or NaN value
 * an operation produced as a node number and the value, in the status slot.
 * The model keeps, from the compile, each node's place in the source, its
 * op and, for a node of the backward pass, the forward op whose derivative
 * rule made it (Node.from, set by grad.c), and the model's text: enough to
 * turn the number into a message located as compile errors are,
 *
 *   m.expr:7:12: error: backward of 'sqrt' produced inf
 *      loss = sum(sqrt(d))
 *                 ^
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

#include "graph.h"

static void *or_fail(Ctx *c, void *p) {
  if (!p)
    ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
  return p;
}

void check_keep(Ctx *c, exprc_model *m, const Module *mod, int status_slot) {
  const Graph *g = mod->g;
  CheckInfo *k = or_fail(c, calloc(1, sizeof *k));
  m->check = k;
  k->slot = status_slot;
  k->site = or_fail(c, calloc(g->n + 1, sizeof *k->site));
  k->nsite = g->n;
  for (uint32_t i = 0; i < g->n; i++) {
    const Node *nd = &g->node[i];
    int leaf = nd->op == OP_INPUT || nd->op == OP_PARAM;
    k->site[i] = (CheckSite){nd->pos, nd->op, nd->from,
                             (nd->flags & N_BACKWARD) != 0,
                             leaf ? (int32_t)nd->u.var : -1};
  }
  k->file = or_fail(c, strdup(c->file));
  k->src = or_fail(c, malloc(c->srclen + 1));
  memcpy(k->src, c->src, c->srclen);
  k->src[c->srclen] = 0;
  k->srclen = c->srclen;
}

void check_free(exprc_model *m) {
  if (!m->check)
    return;
  free(m->check->site);
  free(m->check->file);
  free(m->check->src);
  free(m->check);
  m->check = NULL;
}

void check_clear(exprc_model *m) {
  if (m->check)
    handle_put(m, m->check->slot, 0, 0);
}

/* An op as the model writes it: its operator or function name, else the
 * built-in it comes from. */
static const char *op_word(Op op) {
  static const struct { Op op; const char *word; } words[] = {
      {OP_SUM, "sum"},         {OP_MAX, "max"},         {OP_MIN, "min"},
      {OP_LSE, "logsumexp"},   {OP_BCAST, "broadcast"}, {OP_RESHAPE, "reshape"},
      {OP_SLICE, "index"},     {OP_PAD, "pad"},         {OP_MULZ, "*"},
      {OP_DIVZ, "/"},
  };
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (words[i].op == op)
      return words[i].word;
  return op < OP_COUNT && op_info[op].dsl[0] ? op_info[op].dsl : "?";
}

exprc_status check_report(exprc_model *m) {
  const CheckInfo *k = m->check;
  if (!k || handle_at(m, k->slot, 0) == 0)
    return EXPRC_OK;
  double at = handle_at(m, k->slot, 0), v = handle_at(m, k->slot, 1);
  if (!(at >= 1 && at <= k->nsite))
    return handle_fail(m, EXPRC_ERR_INTERNAL, "a check reported node %g", at);
  const CheckSite *s = &k->site[(uint32_t)at - 1];
  const char *what = v != v ? "nan" : v > 0 ? "inf" : "-inf";
  char text[600];
  if (s->var >= 0) /* not made by the model: given to it */
    snprintf(text, sizeof text, "%s '%.200s' holds %s",
             s->op == OP_INPUT ? "input" : "param", m->slot[s->var].name, what);
  else if (s->backward)
    snprintf(text, sizeof text, "backward of '%s' produced %s",
             op_word((Op)s->from), what);
  else
    snprintf(text, sizeof text, "'%s' produced %s in the forward pass",
             op_word((Op)s->op), what);
  char where[600] = "";
  src_caret(k->src, k->srclen, s->pos, where, sizeof where);
  return handle_fail(m, EXPRC_ERR_NUMERIC, "%s:%u:%u: error: %s\n%s", k->file,
                     s->pos.line, s->pos.col, text, where);
}
