/* lower_block.c: lowering of block functions and destructuring.
 *
 * A block def, def f(a, b) { z = ...; return e1, e2 }, is inlined like a
 * one-line def (lower_call.c binds its parameters in a Scope), with its
 * local assignments bound in that same scope's `locals` map, so that they
 * are visible to the rest of its body and nowhere else. It may return
 * several values; a call that returns several is only allowed on the right
 * of a destructuring assignment, x, y = f(...), which takes them by
 * position, so that a value never stands for a tuple.
 *
 * A local may not take the name of a parameter, of another local, or of a
 * name of the model visible where the def is called: hiding one would make
 * the body read differently from how it looks.
 */
#include "lower_impl.h"

#include <string.h>

/* Names of a def's locals, checked once when the def is declared: repeats
 * and parameters. Globals are checked at each call, where they are known. */
void lower_block_check(Lower *L, Stmt *d, const Map *params) {
  Map seen = {0};
  for (int i = 0; i < d->nbody; i++) {
    Stmt *st = &d->body[i];
    int n = st->nnames ? st->nnames : 1;
    for (int k = 0; k < n; k++) {
      const char *name = st->nnames ? st->names[k] : st->name;
      Pos pos = st->nnames ? st->namespos[k] : st->namepos;
      if (map_get(params, name))
        ctx_error(L->c, pos, EXPRC_ERR_NAME, "local '%.64s' hides the "
                  "parameter of the same name of '%.64s'", name, d->name);
      Stmt *old = map_get(&seen, name);
      if (old)
        ctx_error(L->c, pos, EXPRC_ERR_NAME, "'%.64s' is already defined "
                  "(at line %u); each name is assigned once", name,
                  old->namepos.line);
      map_put(L->c, &seen, name, st);
    }
  }
}

static void bind_local(Lower *L, Scope *s, const char *name, Pos pos,
                       uint32_t node) {
  Binding *g = lower_lookup(L, name);
  if (g)
    ctx_error(L->c, pos, EXPRC_ERR_NAME, "local '%.64s' hides the model's "
              "'%.64s' (line %u); give it another name", name, name,
              g->pos.line);
  map_put(L->c, s->locals, name, (void *)(uintptr_t)(node + 1));
}

/* The body of block def d, its parameters already bound in scope in: the
 * locals in order, then the n results into out. */
void lower_block_body(Lower *L, Stmt *d, Scope *in, uint32_t *out) {
  in->locals = ctx_alloc(L->c, sizeof *in->locals);
  for (int i = 0; i < d->nbody; i++) {
    Stmt *st = &d->body[i];
    if (!st->nnames) {
      uint32_t v = lower_expr(L, st->expr, in);
      bind_local(L, in, st->name, st->namepos, v);
      continue;
    }
    uint32_t *v = ctx_alloc(L->c, (size_t)st->nnames * sizeof *v);
    lower_results(L, st->expr, in, v, st->nnames, st->namespos[0]);
    for (int k = 0; k < st->nnames; k++)
      bind_local(L, in, st->names[k], st->namespos[k], v[k]);
  }
  for (int k = 0; k < d->nrets; k++)
    out[k] = lower_expr(L, d->rets[k], in);
}

/* The n values of expression a, for a destructuring whose first name is at
 * `at`: a call to a def returning n values (or scan/fold with n carries). */
void lower_results(Lower *L, Ast *a, Scope *s, uint32_t *out, int n,
                   Pos at) {
  Binding *b = a->kind == A_CALL ? lower_lookup(L, a->name) : NULL;
  if (b && b->kind == B_DEF) {
    lower_inline(L, a, s, b, out, n);
    return;
  }
  if (a->kind == A_CALL && lower_call_results(L, a, s, out, n))
    return;
  ctx_error(L->c, at, EXPRC_ERR_SHAPE, "%d names for one value: only a "
            "call of a def that returns %d values (or of scan or fold) can "
            "be destructured", n, n);
}

