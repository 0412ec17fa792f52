/* model.c: the compile driver: exprc_compile_string and exprc_compile_file.
 *
 * pipeline() shows the whole path: text -> AST -> graph -> graph + gradients
 * -> simplified graph -> memory plan -> C text -> machine code. The compile
 * runs inside one Ctx whose arena holds every intermediate structure; what a
 * model keeps (its tensors' layout, the C source, the compiled code) is
 * copied out into memory it owns (handle.h).
 */
#include "model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "handle.h"
#include "runtime.h"
#include "emit_c.h"
#include "grad.h"
#include "jit.h"
#include "loop.h"
#include "parser.h"
#include "simplify.h"

exprc_limits model_limits(const exprc_options *o) {
  exprc_limits l = o ? o->limits : (exprc_limits){0};
  if (l.max_rank <= 0 || l.max_rank > MAX_RANK) l.max_rank = MAX_RANK;
  if (l.max_elements <= 0) l.max_elements = (int64_t)1 << 28;
  if (l.max_memory <= 0) l.max_memory = (int64_t)8 << 30;
  if (l.max_depth <= 0) l.max_depth = 200;
  if (l.max_depth > 1000) l.max_depth = 1000; /* the parser recurses */
  if (l.max_nodes <= 0) l.max_nodes = (int64_t)1 << 20;
  if (l.max_file_size <= 0) l.max_file_size = (int64_t)64 << 20;
  if (l.max_compile_bytes <= 0) l.max_compile_bytes = (int64_t)1 << 30;
  return l;
}

void exprc_options_default(exprc_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->limits = model_limits(NULL);
}

/* ---- the pipeline ---- */

/* The gradient passes' cost is counted for all of them before any runs: a
 * model with too many stops at once, not after minutes of work. */
static void backprop_work(Module *mod) {
  for (uint32_t k = 1; k < mod->nentry; k++) {
    Entry *e = &mod->entry[k];
    mod->g->c->at = e->pos;
    ctx_work(mod->g->c, e->pos, mod->g->n); /* planned and emitted whole */
    ctx_work(mod->g->c, e->pos, (int64_t)WORK_PER_NODE *
             lower_reach(mod->g, &e->loss_node, 1)); /* differentiated */
  }
}

static void backprop(Module *mod) {
  backprop_work(mod);
  for (uint32_t k = 1; k < mod->nentry; k++) {
    Entry *e = &mod->entry[k];
    uint32_t n = e->nres - 1;
    uint32_t *wrt = ctx_alloc(mod->g->c, (n + 1) * sizeof *wrt);
    uint32_t *out = ctx_alloc(mod->g->c, (n + 1) * sizeof *out);
    for (uint32_t i = 0; i < n; i++)
      wrt[i] = mod->var[e->wrt[i]].node;
    mod->g->pos = mod->g->c->at = e->pos;
    grad_build(mod->g, e->loss_node, wrt, (int)n, out);
    for (uint32_t i = 0; i < n; i++)
      e->res[1 + i].node = out[i];
  }
  for (uint32_t k = 1; k < mod->nentry; k++) { /* loops' values from twins */
    Entry *e = &mod->entry[k];
    uint32_t **roots = ctx_alloc(mod->g->c, (e->nres + 1) * sizeof *roots);
    for (uint32_t r = 0; r < e->nres; r++)
      roots[r] = &e->res[r].node;
    loop_unalias(mod->g, roots, (int)e->nres);
  }
}

static void simplify_module(Module *mod) {
  uint32_t n = 0;
  for (uint32_t l = 0; l < mod->g->nloop; l++) /* loops' steps: kept too */
    n += mod->g->loop[l].step == l ? (uint32_t)mod->g->loop[l].k : 0;
  for (uint32_t k = 0; k < mod->nentry; k++)
    n += mod->entry[k].nres;
  uint32_t **roots = ctx_alloc(mod->g->c, (n + 1) * sizeof *roots);
  n = 0;
  for (uint32_t l = 0; l < mod->g->nloop; l++) /* twins share res */
    for (int j = 0; j < mod->g->loop[l].k && mod->g->loop[l].step == l; j++)
      roots[n++] = &mod->g->loop[l].res[j];
  for (uint32_t k = 0; k < mod->nentry; k++)
    for (uint32_t r = 0; r < mod->entry[k].nres; r++)
      roots[n++] = &mod->entry[k].res[r].node;
  Graph *old = mod->g;
  mod->g = simplify_graph(old, roots, n);
  mod->g->loop = old->loop, mod->g->nloop = old->nloop; /* by number */
  mod->g->caploop = old->caploop;
  mod->g->hole = old->hole, mod->g->nhole = old->nhole;
  mod->g->caphole = old->caphole;
  graph_free(old); /* the unsimplified graph is not needed */
}

void model_count(Module *mod, uint32_t *forward, uint32_t *backward) {
  Graph *g = mod->g;
  uint8_t *live = ctx_realloc(g->c, NULL, g->n + 1);
  memset(live, 0, g->n + 1);
  module_live(mod, live);
  *forward = *backward = 0;
  for (uint32_t i = 0; i < g->n; i++)
    if (live[i])
      *(g->node[i].flags & N_BACKWARD ? backward : forward) += 1;
  ctx_release(g->c, live);
}

static void count_pass(Module *mod, Pass p, PassStats *st) {
  if (!st)
    return;
  st->ran[p] = 1;
  model_count(mod, &st->forward[p], &st->backward[p]);
}

/* Each entry point is planned and emitted on its own: its cost, counted
 * before any of it is done. */
static void emit_work(Ctx *c, Module *mod) {
  for (uint32_t k = 0; k < mod->nentry; k++) {
    Entry *e = &mod->entry[k];
    uint32_t *roots = ctx_realloc(c, NULL, (e->nres + 1) * sizeof *roots);
    for (uint32_t r = 0; r < e->nres; r++)
      roots[r] = e->res[r].node;
    Pos p = e->nres && e->pos.line == 0 ? mod->g->node[roots[0]].pos : e->pos;
    ctx_work(c, p, (int64_t)WORK_PER_NODE * lower_reach(mod->g, roots, e->nres));
    ctx_release(c, roots);
  }
}

Module *model_front(Ctx *c, const exprc_options *o, Pass last, PassStats *st) {
  int simp = !o || !o->no_simplify;
  Program *prog = parse_program(c);           /* text -> AST */
  Module *mod = lower_program(c, prog, simp); /* AST -> graph */
  count_pass(mod, PASS_LOWER, st);
  if (last == PASS_LOWER)
    return mod;
  mod->g->loop_ckpt = o && o->remat;          /* folds' gradients */
  backprop(mod);                              /* graph + gradients */
  count_pass(mod, PASS_GRAD, st);
  if (simp && last >= PASS_SIMPLIFY) {
    simplify_module(mod);                     /* simplified graph */
    count_pass(mod, PASS_SIMPLIFY, st);
  }
  if (last >= PASS_SIMPLIFY)
    emit_work(c, mod);                        /* what emitting it costs */
  return mod;
}

/* ---- from the compile to the model ---- */

static char *dup_or_fail(Ctx *c, const char *s) {
  char *d = s ? strdup(s) : NULL;
  if (s && !d)
    ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
  return d;
}

static void *zalloc_or_fail(Ctx *c, size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (!p)
    ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
  return p;
}

/* The slots of each kind in order, so that exprc_count and exprc_get take
 * constant time: a caller loops over them, and a model may have very many. */
static void index_kinds(Ctx *c, exprc_model *m) {
  for (int i = 0; i < m->nslot; i++)
    m->nkind[m->slot[i].kind] += !m->slot[i].internal;
  for (int k = 0; k <= EXPRC_GRADIENT; k++) {
    m->bykind[k] = zalloc_or_fail(c, (size_t)m->nkind[k] * sizeof(int));
    m->nkind[k] = 0;
  }
  for (int i = 0; i < m->nslot; i++)
    if (!m->slot[i].internal)
      m->bykind[m->slot[i].kind][m->nkind[m->slot[i].kind]++] = i;
}

static void layout(Ctx *c, exprc_model *m, Module *mod, Plan *plan) {
  int status = mod->nslot + (int)plan->ntemp; /* --check-finite's slot */
  m->nvar = (int)mod->nvar;
  m->nslot = status + (plan->check != 0);
  m->slot = zalloc_or_fail(c, (size_t)m->nslot * sizeof *m->slot);
  m->S = zalloc_or_fail(c, (size_t)m->nslot * sizeof *m->S);
  for (int i = 0; i < m->nslot; i++)
    m->slot[i].size = -1;
  for (uint32_t i = 0; i < mod->nvar; i++) {
    Slot *s = &m->slot[i];
    Var *v = &mod->var[i];
    s->name = dup_or_fail(c, v->name);
    s->kind = v->kind == V_INPUT ? EXPRC_INPUT : EXPRC_PARAM;
    s->shape = v->shape;
    s->is_int = v->is_int;
    s->init = v->init;
    memcpy(s->arg, v->arg, sizeof s->arg);
  }
  m->nentry = (int)mod->nentry;
  m->entry = zalloc_or_fail(c, mod->nentry * sizeof *m->entry);
  m->fn = zalloc_or_fail(c, mod->nentry * sizeof *m->fn);
  for (uint32_t k = 0; k < mod->nentry; k++) {
    Entry *e = &mod->entry[k];
    m->entry[k].loss = dup_or_fail(c, e->loss);
    m->entry[k].nres = (int)e->nres;
    m->entry[k].first = e->nres ? e->res[0].slot : 0;
    for (uint32_t r = 0; r < e->nres; r++) {
      Slot *s = &m->slot[e->res[r].slot];
      s->name = dup_or_fail(c, e->res[r].name);
      s->loss = dup_or_fail(c, e->loss);
      s->kind = !e->is_grad ? EXPRC_OUTPUT : r == 0 ? EXPRC_LOSS : EXPRC_GRADIENT;
      s->shape = *mod->g->node[e->res[r].node].shape;
      s->is_int = e->res[r].is_int;
    }
  }
  for (uint32_t t = 0; t < plan->ntemp; t++) {
    m->slot[mod->nslot + (int)t].shape = plan->temp[t];
    m->slot[mod->nslot + (int)t].internal = 1;
  }
  if (plan->check) { /* [node + 1, value] of the first non-finite value */
    m->slot[status].shape = (Shape){.rank = 1, .d = {2}};
    m->slot[status].internal = 1;
    check_keep(c, m, mod, status);
  }
  m->ndim = (int)mod->ndim;
  /* D[] holds the dims, then at SIZE_BASE the size terms (size.h) */
  m->nsize = SIZE_BASE + (int)c->nterm;
  m->dimname = zalloc_or_fail(c, (size_t)m->nsize * sizeof *m->dimname);
  m->D = zalloc_or_fail(c, (size_t)m->nsize * sizeof *m->D);
  m->bound_by = zalloc_or_fail(c, (mod->ndim + 1) * sizeof *m->bound_by);
  m->known = zalloc_or_fail(c, (size_t)m->nsize);
  m->term = zalloc_or_fail(c, (c->nterm + 1) * sizeof *m->term);
  m->may_be_empty = mod->may_be_empty;
  for (uint32_t d = 0; d < mod->ndim; d++) {
    m->dimname[d] = dup_or_fail(c, mod->dim[d]);
    m->bound_by[d] = -1;
  }
  for (uint32_t k = 0; k < c->nterm; k++) {
    m->term[k] = c->term[k];
    m->dimname[SIZE_BASE + k] = dup_or_fail(c, c->sizename[SIZE_BASE + k]);
  }
  index_kinds(c, m);
}

/* The places of the nodes whose code may stop a run (F_FAILS), with their
 * messages' heads, for handle_run_error. */
static void record_sites(Ctx *c, exprc_model *m, Module *mod) {
  Graph *g = mod->g;
  int n = 0;
  for (uint32_t i = 0; i < g->n; i++)
    n += (op_info[g->node[i].op].flags & F_FAILS) != 0;
  if (!n)
    return;
  m->site = zalloc_or_fail(c, (size_t)n * sizeof *m->site);
  for (uint32_t i = 0; i < g->n; i++) {
    Node *nd = &g->node[i];
    if (!(op_info[nd->op].flags & F_FAILS))
      continue;
    Site *s = &m->site[m->nsite++];
    char *head;
    s->node = (long)i;
    ctx_locate(c, nd->pos, &head, &s->show);
    if (!head || !s->show)
      ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
    const char *what = op_info[nd->op].dsl[0] ? op_info[nd->op].dsl
                                               : op_info[nd->op].name;
    size_t len = strlen(head) + strlen(what) + 3;
    s->head = malloc(len);
    if (s->head)
      snprintf(s->head, len, "%s%s: ", head, what);
    free(head);
    if (!s->head)
      ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
  }
}

/* The loops' sequence lengths that a run checks (lower_scan.c), with the
 * heads of their messages. */
static void record_lengths(Ctx *c, exprc_model *m, Module *mod) {
  if (!mod->nlencheck)
    return;
  m->lenrule = zalloc_or_fail(c, mod->nlencheck * sizeof *m->lenrule);
  for (uint32_t i = 0; i < mod->nlencheck; i++) {
    LenRule *r = &m->lenrule[m->nlenrule++];
    r->a = mod->lencheck[i].a, r->b = mod->lencheck[i].b;
    ctx_locate(c, mod->lencheck[i].pos, &r->head, &r->show);
    if (!r->head || !r->show)
      ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
  }
}

static void compile_entries(Ctx *c, exprc_model *m, Module *mod,
                            const exprc_options *o) {
  char **names = ctx_alloc(c, (mod->nentry + 1) * sizeof *names);
  for (uint32_t k = 0; k < mod->nentry; k++) {
    names[k] = ctx_alloc(c, 32);
    emit_entry_name((int)k, names[k], 32);
  }
  m->jit = jit_compile(c, m->csrc, (const char *const *)names,
                       (int)mod->nentry, m->fn, o);
}


Plan model_plan(const exprc_options *o) {
  int check = o && o->check_finite; /* checks need every value stored */
  Plan plan = {.reuse = !o || !o->no_reuse,
               .fuse = (!o || !o->no_fuse) && !check,
               .remat = o && o->remat && !check, .threads = o ? o->threads : 0,
               .check = check, .f32 = o && o->dtype == EXPRC_FLOAT32};
  return plan;
}

/* The loops whose steps some entry point runs: of live LOOP nodes, of LOOP
 * nodes in those steps, and the folds that checkpointing loops run again.
 * A loop whose value a gradient reads from its twin (loop_stash.c) may run
 * nowhere, and its step is then not compiled. */
static uint8_t *live_steps(Ctx *c, Module *mod) {
  Graph *g = mod->g;
  uint8_t *live = ctx_alloc(c, g->n + 1), *used = ctx_alloc(c, g->nloop + 1);
  module_live(mod, live);
  for (int more = 1; more;) {
    more = 0;
    for (uint32_t i = 0; i < g->n; i++) {
      if (!live[i] || g->node[i].op != OP_LOOP)
        continue;
      const LoopInfo *li = &g->loop[g->node[i].u.word];
      uint32_t s[2] = {li->step, li->ckpt == NONE ? NONE : g->loop[li->ckpt].step};
      for (int k = 0; k < 2; k++)
        if (s[k] != NONE && !used[s[k]]) {
          used[s[k]] = more = 1;
          for (int j = 0; j < g->loop[s[k]].k; j++)
            live[g->loop[s[k]].res[j]] = 1;
        }
    }
    if (more)
      graph_live(g, live, NULL);
  }
  return used;
}

/* Slots, then each entry point's plan, handed to the emitter if there is
 * one (graph --stats wants the plans alone). */
static void plan_entries(Ctx *c, Module *mod, Plan *plan, Emitter *E) {
  plan_assign_result_slots(mod);               /* vars, then results */
  plan_loops(c, mod, plan);                    /* loops' holes and results */
  for (uint32_t k = 0; k < mod->nentry; k++) {
    EntryPlan ep;
    plan_entry(c, mod, plan, (int)k, &ep);     /* where each value lives */
    if (E)
      emit_entry(E, (int)k, &ep);              /* its C function */
    plan_entry_free(c, &ep);
  }
  uint8_t *used = live_steps(c, mod);
  for (uint32_t l = 0; l < mod->g->nloop; l++) { /* each loop's step */
    LoopInfo *li = &mod->g->loop[l];
    if (li->step != l || !used[l])
      continue; /* a twin calls the step of the loop it copies */
    Entry e = {.nres = (uint32_t)li->k, .pos = li->pos};
    e.res = ctx_alloc(c, (size_t)(li->k + 1) * sizeof *e.res);
    for (int j = 0; j < li->k; j++)
      e.res[j] = (Result){.name = "", .node = li->res[j], .slot = plan->loop_slot[l][j]};
    EntryPlan ep;
    plan_step(c, mod, plan, &e, &ep);
    if (E)
      emit_step(E, l, &e, &ep);
    plan_entry_free(c, &ep);
  }
}

char *model_back(Ctx *c, Module *mod, Plan *plan) {
  return model_back_marked(c, mod, plan, 0);
}

char *model_back_marked(Ctx *c, Module *mod, Plan *plan, int marks) {
  Emitter *E = emit_begin(c, mod, plan);
  if (marks)
    emit_mark_nodes(E);
  plan_entries(c, mod, plan, E);
  return emit_end(E);                          /* prelude, constants, entries */
}

void model_plan_only(Ctx *c, Module *mod, Plan *plan) {
  plan_entries(c, mod, plan, NULL);
}

/* A float32 model refuses an axis longer than 2^24 (F32_MAX_AXIS): an index
 * along it would not be an exact float. Sizes made of dims are checked when
 * they are bound. */
static void f32_axes(Ctx *c, Module *mod) {
  for (uint32_t i = 0; i < mod->g->n; i++) {
    const Node *nd = &mod->g->node[i];
    for (int k = 0; k < nd->shape->rank; k++)
      if (!DIM_IS_SYM(nd->shape->d[k]) && nd->shape->d[k] > F32_MAX_AXIS)
        ctx_error(c, nd->pos, EXPRC_ERR_LIMIT, "an axis of %lld: a float32 "
                  "model's axes are at most 2^24 long, so that every index "
                  "along one is exact in float",
                  (long long)nd->shape->d[k]);
  }
}

/* A compile's arguments, for the protected call. */
typedef struct Compile {
  exprc_model *m;
  const exprc_options *o;
  ModelHook hook; /* model_compile_file_hooked's, or NULL */
  void *hook_arg;
} Compile;

/* text -> AST -> graph -> + gradients -> simplified -> C -> machine code */
static void pipeline(Ctx *c, void *arg) {
  exprc_model *m = ((Compile *)arg)->m;
  const exprc_options *o = ((Compile *)arg)->o;
  Module *mod = model_front(c, o, PASS_SIMPLIFY, NULL); /* ... simplified */
  if (((Compile *)arg)->hook)
    ((Compile *)arg)->hook(mod, ((Compile *)arg)->hook_arg);
  Plan plan = model_plan(o);
  if (plan.f32)
    f32_axes(c, mod);
  m->csrc = ctx_detach_str(c, model_back(c, mod, &plan)); /* plan -> C:
                                    the model's, to outlive the context */
  m->f32 = plan.f32;
  layout(c, m, mod, &plan);                      /* the model's buffers */
  record_sites(c, m, mod);                       /* run-time errors' places */
  record_lengths(c, m, mod);                     /* and loops' lengths */
  ctx_trim(c);                /* libtcc's memory is its own: room for it */
  compile_entries(c, m, mod, o);                 /* C -> machine code */
}

static exprc_model *model_new(void) {
  exprc_model *m = calloc(1, sizeof(exprc_model));
  if (m)
    m->magic = MAGIC_LIVE;
  return m;
}

/* The text is len bytes, which may include NUL bytes (from a file): the
 * lexer reports those at their line and column. */
static exprc_status compile_text(const char *src, size_t len, const char *name,
                                 const exprc_options *opt, Compile job,
                                 exprc_model **out) {
  if (!out)
    return EXPRC_ERR_ARG;
  exprc_model *m = model_new();
  *out = m;
  if (!m)
    return EXPRC_ERR_NOMEM;
  if (!src)
    return m->failed = 1, handle_fail(m, EXPRC_ERR_ARG, "exprc_compile_string: src is NULL");
  if (opt && opt->dtype != EXPRC_FLOAT64 && opt->dtype != EXPRC_FLOAT32)
    return m->failed = 1, handle_fail(m, EXPRC_ERR_ARG, "exprc_options.dtype "
                                      "is %d: EXPRC_FLOAT64 or EXPRC_FLOAT32",
                                      (int)opt->dtype);
  exprc_limits lim = model_limits(opt);
  m->lim = lim;
  if ((int64_t)len > lim.max_file_size)
    return m->failed = 1, handle_fail(m, EXPRC_ERR_LIMIT,
                               "%s: error: model is larger than %lld bytes",
                               name ? name : "<string>",
                               (long long)lim.max_file_size);
  Ctx c;
  ctx_init(&c, name ? name : "<string>", src, len, &lim);
  job.m = m;
  job.o = opt;
  exprc_status st = ctx_protect(&c, pipeline, &job);
  if (st != EXPRC_OK) {
    m->failed = 1;
    free(m->err);
    m->err = c.msg;
    c.msg = NULL;
    ctx_free(&c);
    return st;
  }
  ctx_free(&c);
  st = handle_allocate(m);
  if (st != EXPRC_OK) { /* name the model in the message, as errors do */
    char *why = m->err;
    m->err = NULL;
    handle_fail(m, st, "%s: error: %s\n", name ? name : "<string>",
         why ? why : "out of memory");
    free(why);
    return m->failed = 1, st;
  }
  handle_init_params(m, opt ? opt->seed : 0);
  m->threads = opt && opt->threads > 0 ? opt->threads : 0;
  return EXPRC_OK;
}

exprc_status exprc_compile_string(const char *src, const char *name,
                                  const exprc_options *opt, exprc_model **out) {
  return compile_text(src, src ? strlen(src) : 0, name, opt, (Compile){0}, out);
}

char *model_read_file(const char *path, size_t *len, int64_t limit) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t k = fread(buf + n, 1, cap - n - 1, f);
    n += k;
    if ((int64_t)n > limit) {
      free(buf);
      buf = NULL;
      errno = EFBIG;
      break;
    }
    if (k == 0)
      break;
    if (cap - n - 1 == 0) {
      char *nb = realloc(buf, cap * 2);
      if (!nb)
        free(buf);
      buf = nb;
      cap *= 2;
    }
  }
  int bad = ferror(f), err = errno; /* a directory reads as EISDIR */
  fclose(f);
  if (buf && bad) {
    free(buf);
    buf = NULL;
    errno = err ? err : EIO;
  }
  if (!buf)
    return NULL;
  buf[n] = 0; /* NUL bytes inside are the lexer's to report, located */
  *len = n;
  return buf;
}

exprc_status exprc_compile_file(const char *path, const exprc_options *opt,
                                exprc_model **out) {
  return model_compile_file_hooked(path, opt, NULL, NULL, out);
}

exprc_status model_compile_file_hooked(const char *path,
                                       const exprc_options *opt, ModelHook hook,
                                       void *hook_arg, exprc_model **out) {
  exprc_limits lim = model_limits(opt);
  size_t len;
  if (!out)
    return EXPRC_ERR_ARG;
  if (!path) {
    exprc_model *m = model_new();
    *out = m;
    if (!m)
      return EXPRC_ERR_NOMEM;
    m->failed = 1;
    return handle_fail(m, EXPRC_ERR_ARG, "exprc_compile_file: path is NULL");
  }
  char *src = model_read_file(path, &len, lim.max_file_size);
  if (!src) {
    exprc_model *m = model_new();
    *out = m;
    if (!m)
      return EXPRC_ERR_NOMEM;
    m->failed = 1;
    if (errno == EFBIG)
      return handle_fail(m, EXPRC_ERR_LIMIT, "%s: error: file is larger than %lld bytes",
                  path, (long long)lim.max_file_size);
    if (errno == EILSEQ)
      return handle_fail(m, EXPRC_ERR_SYNTAX, "%s: error: file contains a NUL byte",
                  path);
    return handle_fail(m, EXPRC_ERR_IO, "%s: error: cannot read: %s", path,
                strerror(errno));
  }
  exprc_status st =
      compile_text(src, len, path, opt, (Compile){NULL, NULL, hook, hook_arg}, out);
  free(src);
  return st;
}
