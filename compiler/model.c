/* model.c: the public API (include/exprc.h) and the compile pipeline.
 *
 * exprc_compile_string shows the whole pipeline in one function: text ->
 * AST -> graph -> graph + gradients -> simplified graph -> C text -> machine
 * code. The compile runs inside one Ctx whose arena holds every intermediate
 * structure; what a model keeps (its tensors' layout, the C source, the
 * compiled code) is copied out into memory it owns.
 *
 * At run time a model holds one buffer per slot: inputs and params, the
 * results of each entry point, and the temporaries of the memory plan. Slots
 * whose shapes use a `dim` are (re)allocated when the dim is bound.
 */
#include "model.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "runtime.h"
#include "emit_c.h"
#include "grad.h"
#include "jit.h"
#include "parser.h"
#include "simplify.h"

typedef struct Slot {
  char *name, *loss;
  exprc_kind kind;
  int internal;       /* a temporary */
  Shape shape;        /* may hold dims */
  double *data;
  int64_t size;       /* elements allocated, -1 none */
  int set;            /* inputs: given since their dims last changed */
  InitKind init;
  double arg[2];
} Slot;

typedef struct EntryInfo {
  char *loss;          /* NULL for the forward entry */
  int first, nres;     /* its result slots */
} EntryInfo;

#define MAGIC_LIVE 0x6578707263ULL /* "exprc" */
#define MAGIC_DEAD 0xdeadULL

struct exprc_model {
  uint64_t magic;      /* MAGIC_LIVE; MAGIC_DEAD once freed (debug builds) */
  char *err;
  int failed;          /* compile failed: only errmsg and free work */
  char *csrc;
  Jit *jit;
  EntryFn *fn;
  EntryInfo *entry;
  int nentry;
  Slot *slot;
  double **S;
  int nslot, nvar;
  int ndim;
  char **dimname;
  long *D;
  int *bound_by;       /* slot that bound the dim this cycle; -1 free */
  uint8_t *known;
  int *bykind[EXPRC_GRADIENT + 1]; /* slots of each kind, for exprc_get */
  int nkind[EXPRC_GRADIENT + 1];
  exprc_limits lim;
};

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

static exprc_status fail(exprc_model *m, exprc_status st, const char *fmt, ...)
    PRINTF(3, 4);
static exprc_status fail(exprc_model *m, exprc_status st, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  free(m->err);
  m->err = strdup(buf);
  return st;
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
}

static void simplify_module(Module *mod) {
  uint32_t n = 0;
  for (uint32_t k = 0; k < mod->nentry; k++)
    n += mod->entry[k].nres;
  uint32_t **roots = ctx_alloc(mod->g->c, (n + 1) * sizeof *roots);
  n = 0;
  for (uint32_t k = 0; k < mod->nentry; k++)
    for (uint32_t r = 0; r < mod->entry[k].nres; r++)
      roots[n++] = &mod->entry[k].res[r].node;
  Graph *old = mod->g;
  mod->g = simplify_graph(old, roots, n);
  ctx_release(old->c, old->node); /* the unsimplified graph is not needed */
  ctx_release(old->c, old->htab);
  ctx_release(old->c, old->cdata);
}

void model_count(Module *mod, uint32_t *forward, uint32_t *backward) {
  Graph *g = mod->g;
  uint8_t *live = ctx_realloc(g->c, NULL, g->n + 1);
  memset(live, 0, g->n + 1);
  for (uint32_t k = 0; k < mod->nentry; k++)
    for (uint32_t r = 0; r < mod->entry[k].nres; r++)
      if (mod->entry[k].res[r].node != NONE)
        live[mod->entry[k].res[r].node] = 1;
  *forward = *backward = 0;
  for (uint32_t i = g->n; i-- > 0;) {
    if (!live[i])
      continue;
    *(g->node[i].flags & N_BACKWARD ? backward : forward) += 1;
    for (int k = 0; k < g->node[i].nin; k++)
      live[g->node[i].in[k]] = 1;
  }
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
  m->nvar = (int)mod->nvar;
  m->nslot = mod->nslot + (int)plan->ntemp;
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
      s->shape = mod->g->node[e->res[r].node].shape;
    }
  }
  for (uint32_t t = 0; t < plan->ntemp; t++) {
    m->slot[mod->nslot + (int)t].shape = plan->temp[t];
    m->slot[mod->nslot + (int)t].internal = 1;
  }
  m->ndim = (int)mod->ndim;
  m->dimname = zalloc_or_fail(c, (mod->ndim + 1) * sizeof *m->dimname);
  m->D = zalloc_or_fail(c, (mod->ndim + 1) * sizeof *m->D);
  m->bound_by = zalloc_or_fail(c, (mod->ndim + 1) * sizeof *m->bound_by);
  m->known = zalloc_or_fail(c, mod->ndim + 1);
  for (uint32_t d = 0; d < mod->ndim; d++) {
    m->dimname[d] = dup_or_fail(c, mod->dim[d]);
    m->bound_by[d] = -1;
  }
  index_kinds(c, m);
}

static void compile_entries(Ctx *c, exprc_model *m, Module *mod,
                            const exprc_options *o) {
  char **names = ctx_alloc(c, (mod->nentry + 1) * sizeof *names);
  for (uint32_t k = 0; k < mod->nentry; k++) {
    names[k] = ctx_alloc(c, 32);
    emit_entry_name((int)k, names[k], 32);
  }
  m->jit = jit_compile(c, m->csrc, (const char *const *)names,
                       (int)mod->nentry, m->fn, o ? (int)o->backend : 0);
}

static exprc_status allocate_buffers(exprc_model *m);
static void init_params(exprc_model *m, uint64_t seed);

Plan model_plan(const exprc_options *o) {
  Plan plan = {.reuse = !o || !o->no_reuse, .fuse = !o || !o->no_fuse,
               .remat = o && o->remat, .threads = o ? o->threads : 0};
  return plan;
}

/* text -> AST -> graph -> + gradients -> simplified -> C -> machine code */
static void pipeline(Ctx *c, exprc_model *m, const exprc_options *o) {
  Module *mod = model_front(c, o, PASS_SIMPLIFY, NULL);
  Plan plan = model_plan(o);
  char *src = emit_c(c, mod, &plan);
  m->csrc = dup_or_fail(c, src);
  layout(c, m, mod, &plan);
  compile_entries(c, m, mod, o);
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
                                 const exprc_options *opt, exprc_model **out) {
  if (!out)
    return EXPRC_ERR_ARG;
  exprc_model *m = model_new();
  *out = m;
  if (!m)
    return EXPRC_ERR_NOMEM;
  if (!src)
    return m->failed = 1, fail(m, EXPRC_ERR_ARG, "exprc_compile_string: src is NULL");
  exprc_limits lim = model_limits(opt);
  m->lim = lim;
  if ((int64_t)len > lim.max_file_size)
    return m->failed = 1, fail(m, EXPRC_ERR_LIMIT,
                               "%s: error: model is larger than %lld bytes",
                               name ? name : "<string>",
                               (long long)lim.max_file_size);
  Ctx c;
  jmp_buf jb;
  ctx_init(&c, name ? name : "<string>", src, len, &lim);
  c.jb = &jb;
  if (setjmp(jb) == 0) {
    pipeline(&c, m, opt);
  } else {
    m->failed = 1;
    free(m->err);
    m->err = c.msg;
    c.msg = NULL;
    exprc_status st = c.status;
    ctx_free(&c);
    return st;
  }
  ctx_free(&c);
  exprc_status st = allocate_buffers(m);
  if (st != EXPRC_OK) { /* name the model in the message, as errors do */
    char *why = m->err;
    m->err = NULL;
    fail(m, st, "%s: error: %s\n", name ? name : "<string>",
         why ? why : "out of memory");
    free(why);
    return m->failed = 1, st;
  }
  init_params(m, opt ? opt->seed : 0);
  if (opt && opt->threads > 0)
    exprc_rt_set_threads(opt->threads);
  return EXPRC_OK;
}

exprc_status exprc_compile_string(const char *src, const char *name,
                                  const exprc_options *opt, exprc_model **out) {
  return compile_text(src, src ? strlen(src) : 0, name, opt, out);
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
    return fail(m, EXPRC_ERR_ARG, "exprc_compile_file: path is NULL");
  }
  char *src = model_read_file(path, &len, lim.max_file_size);
  if (!src) {
    exprc_model *m = model_new();
    *out = m;
    if (!m)
      return EXPRC_ERR_NOMEM;
    m->failed = 1;
    if (errno == EFBIG)
      return fail(m, EXPRC_ERR_LIMIT, "%s: error: file is larger than %lld bytes",
                  path, (long long)lim.max_file_size);
    if (errno == EILSEQ)
      return fail(m, EXPRC_ERR_SYNTAX, "%s: error: file contains a NUL byte",
                  path);
    return fail(m, EXPRC_ERR_IO, "%s: error: cannot read: %s", path,
                strerror(errno));
  }
  exprc_status st = compile_text(src, len, path, opt, out);
  free(src);
  return st;
}

/* ---- buffers ---- */

/* Elements of slot s at the current dim sizes; -1 while a dim is unbound. */
static int64_t slot_size(const exprc_model *m, const Slot *s) {
  int64_t n = 1;
  for (int i = 0; i < s->shape.rank; i++) {
    int64_t d = s->shape.d[i];
    if (DIM_IS_SYM(d)) {
      if (!m->known[DIM_INDEX(d)])
        return -1;
      d = m->D[DIM_INDEX(d)];
    }
    if (d > 0 && n > m->lim.max_elements / d)
      return -2; /* over the limit */
    n *= d;
  }
  return n;
}

/* Give every slot whose size is known a buffer of that size. Inputs whose
 * buffer changes must be set again. */
static exprc_status allocate_buffers(exprc_model *m) {
  int64_t total = 0;
  for (int i = 0; i < m->nslot; i++) {
    int64_t n = slot_size(m, &m->slot[i]);
    if (n == -2 || (n > 0 && total > m->lim.max_memory / 8 - n))
      return fail(m, EXPRC_ERR_LIMIT,
                  "tensors of this size need more than %lld bytes (the limit)",
                  (long long)m->lim.max_memory);
    total += n > 0 ? n : 0;
  }
  for (int i = 0; i < m->nslot; i++) {
    Slot *s = &m->slot[i];
    int64_t n = slot_size(m, s);
    if (n == s->size)
      continue;
    free(s->data);
    s->data = NULL;
    s->size = -1;
    s->set = 0;
    m->S[i] = NULL;
    if (n < 0)
      continue;
    s->data = calloc((size_t)(n ? n : 1), sizeof(double));
    if (!s->data)
      return fail(m, EXPRC_ERR_NOMEM, "out of memory for '%s'",
                  s->name ? s->name : "a temporary");
    s->size = n;
    m->S[i] = s->data;
  }
  return EXPRC_OK;
}

static void init_one(Slot *s, exprc_rng *r) {
  for (int64_t k = 0; k < s->size; k++) {
    double v = 0;
    switch (s->init) {
    case INIT_ZEROS: v = 0; break;
    case INIT_FILL: v = s->arg[0]; break;
    case INIT_NORMAL: v = s->arg[0] + s->arg[1] * exprc_rng_normal(r); break;
    case INIT_UNIFORM:
      v = s->arg[0] + (s->arg[1] - s->arg[0]) * exprc_rng_uniform(r);
      break;
    }
    s->data[k] = v;
  }
}

/* Params are initialised in declaration order from one generator, so that a
 * seed gives the same values on every machine. */
static void init_params(exprc_model *m, uint64_t seed) {
  exprc_rng r;
  exprc_rng_seed(&r, seed);
  for (int i = 0; i < m->nvar; i++)
    if (m->slot[i].kind == EXPRC_PARAM && m->slot[i].data)
      init_one(&m->slot[i], &r);
}

#ifndef NDEBUG
/* Debug builds keep the last freed models' headers (their contents are
 * freed) as tombstones, so that a call on a freed model is reported as such
 * instead of reading freed memory. The ring is a global: memory it holds is
 * reachable, not leaked, and the oldest tombstone is freed for real. */
static exprc_model *tombstones[64];
static unsigned ntomb;
static pthread_mutex_t tomb_lock = PTHREAD_MUTEX_INITIALIZER;

static void bury(exprc_model *m) {
  static const exprc_model dead = {.magic = MAGIC_DEAD};
  *m = dead;
  pthread_mutex_lock(&tomb_lock);
  exprc_model **slot = &tombstones[ntomb++ % 64];
  free(*slot);
  *slot = m;
  pthread_mutex_unlock(&tomb_lock);
}
#endif

void exprc_free(exprc_model *m) {
  if (!m || m->magic != MAGIC_LIVE) /* a second free is ignored */
    return;
  jit_free(m->jit);
  for (int i = 0; m->slot && i < m->nslot; i++) {
    free(m->slot[i].name);
    free(m->slot[i].loss);
    free(m->slot[i].data);
  }
  for (int k = 0; m->entry && k < m->nentry; k++)
    free(m->entry[k].loss);
  for (int d = 0; m->dimname && d < m->ndim; d++)
    free(m->dimname[d]);
  free(m->slot);
  free(m->S);
  free(m->entry);
  free(m->fn);
  free(m->dimname);
  free(m->D);
  free(m->bound_by);
  free(m->known);
  for (int k = 0; k <= EXPRC_GRADIENT; k++)
    free(m->bykind[k]);
  free(m->csrc);
  free(m->err);
#ifndef NDEBUG
  bury(m);
#else
  free(m);
#endif
}

const char *exprc_errmsg(const exprc_model *m) {
  if (m && m->magic == MAGIC_DEAD)
    return "the model was used after exprc_free";
  return m && m->err ? m->err : "";
}

const char *exprc_source(const exprc_model *m) {
  return m && m->magic == MAGIC_LIVE && m->csrc ? m->csrc : "";
}

/* ---- finding tensors ---- */

static void view(const exprc_model *m, int i, exprc_tensor *t) {
  const Slot *s = &m->slot[i];
  memset(t, 0, sizeof *t);
  t->name = s->name;
  t->loss = s->kind == EXPRC_LOSS || s->kind == EXPRC_GRADIENT ? s->loss : NULL;
  t->kind = s->kind;
  t->rank = s->shape.rank;
  for (int d = 0; d < s->shape.rank; d++) {
    int64_t v = s->shape.d[d];
    t->shape[d] = !DIM_IS_SYM(v) ? v
                  : m->known[DIM_INDEX(v)] ? m->D[DIM_INDEX(v)] : -1;
  }
  t->size = s->size;
  t->data = s->data;
}

/* A usable model, or a status saying why not. */
static exprc_status usable(exprc_model *m, const void *arg, const char *fn) {
  if (!m || m->magic != MAGIC_LIVE) /* NULL, or freed (debug builds) */
    return EXPRC_ERR_ARG;
  if (m->failed)
    return fail(m, EXPRC_ERR_STATE, "%s: the model failed to compile", fn);
  if (!arg)
    return fail(m, EXPRC_ERR_ARG, "%s: an argument is NULL", fn);
  return EXPRC_OK;
}

int exprc_count(const exprc_model *m, exprc_kind kind) {
  if (!m || m->magic != MAGIC_LIVE || m->failed ||
      (unsigned)kind > EXPRC_GRADIENT)
    return 0;
  return m->nkind[kind];
}

exprc_status exprc_get(exprc_model *m, exprc_kind kind, int k,
                       exprc_tensor *t) {
  exprc_status st = usable(m, t, "exprc_get");
  if (st != EXPRC_OK)
    return st;
  if (k < 0 || k >= exprc_count(m, kind))
    return fail(m, EXPRC_ERR_ARG, "exprc_get: index out of range");
  view(m, m->bykind[kind][k], t);
  return EXPRC_OK;
}

static int find_slot(const exprc_model *m, const char *name) {
  for (int i = 0; i < m->nslot; i++) {
    const Slot *s = &m->slot[i];
    if (!s->internal && s->kind != EXPRC_LOSS && s->kind != EXPRC_GRADIENT &&
        strcmp(s->name, name) == 0)
      return i;
  }
  return -1;
}

exprc_status exprc_find(exprc_model *m, const char *name, exprc_tensor *t) {
  exprc_status st = usable(m, name && t ? name : NULL, "exprc_find");
  if (st != EXPRC_OK)
    return st;
  int i = find_slot(m, name);
  if (i < 0)
    return fail(m, EXPRC_ERR_NAME, "no input, param or output named '%.64s'",
                name);
  view(m, i, t);
  return EXPRC_OK;
}

static int find_entry(const exprc_model *m, const char *loss) {
  for (int k = 1; k < m->nentry; k++)
    if (strcmp(m->entry[k].loss, loss) == 0)
      return k;
  return -1;
}

exprc_status exprc_find_grad(exprc_model *m, const char *loss, const char *wrt,
                             exprc_tensor *t) {
  exprc_status st = usable(m, loss && wrt && t ? t : NULL, "exprc_find_grad");
  if (st != EXPRC_OK)
    return st;
  int k = find_entry(m, loss);
  if (k < 0)
    return fail(m, EXPRC_ERR_NAME, "no 'grad %.64s wrt ...' in the model", loss);
  EntryInfo *e = &m->entry[k];
  for (int r = 1; r < e->nres; r++)
    if (strcmp(m->slot[e->first + r].name, wrt) == 0)
      return view(m, e->first + r, t), EXPRC_OK;
  return fail(m, EXPRC_ERR_NAME, "'grad %.64s' is not taken wrt '%.64s'", loss,
              wrt);
}

/* ---- binding dims and setting values ---- */

static const char *binder(const exprc_model *m, int who) {
  return who >= 0 ? m->slot[who].name : "exprc_bind_dim";
}

/* Check that binding dim d to n by `who` is consistent with this cycle. */
static exprc_status check_bind(exprc_model *m, int d, int64_t n, int who) {
  if (n < 1 || n > m->lim.max_elements)
    return fail(m, EXPRC_ERR_SHAPE, "dim %s cannot be %lld", m->dimname[d],
                (long long)n);
  if (m->bound_by[d] != -1 && m->D[d] != n)
    return fail(m, EXPRC_ERR_SHAPE,
                "dim %s is %ld (from '%s') but '%s' makes it %lld",
                m->dimname[d], m->D[d], binder(m, m->bound_by[d]),
                binder(m, who), (long long)n);
  return EXPRC_OK;
}

static void do_bind(exprc_model *m, int d, int64_t n, int who) {
  m->D[d] = (long)n;
  m->known[d] = 1;
  m->bound_by[d] = who;
}

/* The dims' binding state, saved so that a bind that fails part way (a bad
 * size, or buffers over the memory limit) leaves the model as it was. */
typedef struct Binds {
  long D[64];
  int by[64];
  uint8_t known[64];
} Binds;

static void binds_save(const exprc_model *m, Binds *b) {
  for (int d = 0; d < m->ndim && d < 64; d++)
    b->D[d] = m->D[d], b->by[d] = m->bound_by[d], b->known[d] = m->known[d];
}

static exprc_status binds_undo(exprc_model *m, const Binds *b,
                               exprc_status st) {
  for (int d = 0; d < m->ndim && d < 64; d++)
    m->D[d] = b->D[d], m->bound_by[d] = b->by[d], m->known[d] = b->known[d];
  return st;
}

exprc_status exprc_bind_dim(exprc_model *m, const char *dim, int64_t n) {
  exprc_status st = usable(m, dim, "exprc_bind_dim");
  if (st != EXPRC_OK)
    return st;
  for (int d = 0; d < m->ndim; d++) {
    if (strcmp(m->dimname[d], dim) != 0)
      continue;
    if ((st = check_bind(m, d, n, -2)) != EXPRC_OK)
      return st;
    Binds saved;
    binds_save(m, &saved);
    do_bind(m, d, n, -2);
    st = allocate_buffers(m);
    return st == EXPRC_OK ? st : binds_undo(m, &saved, st);
  }
  return fail(m, EXPRC_ERR_NAME, "no dim named '%.64s'", dim);
}

static exprc_status shape_mismatch(exprc_model *m, int i, int rank,
                                   const int64_t *shape) {
  char want[96], got[160] = "[";
  size_t k = 1;
  for (int d = 0; d < rank && d < 8 && k < sizeof got; d++)
    k += (size_t)snprintf(got + k, sizeof got - k, "%s%lld", d ? "," : "",
                          (long long)shape[d]);
  if (k < sizeof got)
    snprintf(got + k, sizeof got - k, "]");
  shape_str(&m->slot[i].shape, (const char *const *)m->dimname, want,
            sizeof want);
  return fail(m, EXPRC_ERR_SHAPE, "'%s' has shape %s; the data given has %s",
              m->slot[i].name, want, got);
}

/* Check the data's shape against the declaration and bind its dims. */
static exprc_status bind_from(exprc_model *m, int i, int rank,
                              const int64_t *shape) {
  Slot *s = &m->slot[i];
  if (rank != s->shape.rank)
    return shape_mismatch(m, i, rank, shape);
  Binds saved;
  binds_save(m, &saved);
  for (int d = 0; d < rank; d++) {
    int64_t want = s->shape.d[d];
    exprc_status st = EXPRC_OK;
    if (!DIM_IS_SYM(want) && want != shape[d])
      st = shape_mismatch(m, i, rank, shape);
    else if (DIM_IS_SYM(want))
      st = check_bind(m, DIM_INDEX(want), shape[d], i);
    if (st != EXPRC_OK)
      return binds_undo(m, &saved, st); /* leave no half-made binding */
    if (DIM_IS_SYM(want))
      m->bound_by[DIM_INDEX(want)] = i, m->D[DIM_INDEX(want)] = (long)shape[d],
      m->known[DIM_INDEX(want)] = 1;
  }
  exprc_status st = allocate_buffers(m);
  return st == EXPRC_OK ? st : binds_undo(m, &saved, st);
}

exprc_status exprc_set(exprc_model *m, const char *name, const double *data,
                       int rank, const int64_t *shape) {
  exprc_status st = usable(m, name && data && (shape || rank == 0) ? name : NULL,
                           "exprc_set");
  if (st != EXPRC_OK)
    return st;
  int i = find_slot(m, name);
  if (i < 0 || i >= m->nvar)
    return fail(m, EXPRC_ERR_NAME, "no input or param named '%.64s'", name);
  if (rank < 0 || rank > EXPRC_MAX_RANK)
    return fail(m, EXPRC_ERR_ARG, "exprc_set: rank %d is out of range", rank);
  if ((st = bind_from(m, i, rank, shape)) != EXPRC_OK)
    return st;
  Slot *s = &m->slot[i];
  memcpy(s->data, data, (size_t)s->size * sizeof *data);
  s->set = 1;
  return EXPRC_OK;
}

exprc_status exprc_set_file(exprc_model *m, const char *name,
                            const char *path) {
  exprc_status st = usable(m, name && path ? name : NULL, "exprc_set_file");
  if (st != EXPRC_OK)
    return st;
  int i = find_slot(m, name);
  if (i < 0 || i >= m->nvar)
    return fail(m, EXPRC_ERR_NAME, "no input or param named '%.64s'", name);
  exprc_rt_array a;
  char err[512];
  if (exprc_rt_read_array(path, &a, err, sizeof err) != 0)
    return fail(m, EXPRC_ERR_IO, "%s", err);
  int want = m->slot[i].shape.rank;
  if (want != a.rank && (want == 0 || want == 1) && a.rank == 2 &&
      (a.shape[0] == 1 || a.shape[1] == 1) && (want == 1 || a.size == 1)) {
    a.rank = want; /* one row or one column as a vector, 1x1 as a scalar */
    a.shape[0] = a.size;
  }
  st = exprc_set(m, name, a.data, a.rank, a.shape);
  free(a.data);
  return st;
}

exprc_status exprc_save_params(exprc_model *m, const char *dir) {
  exprc_status st = usable(m, dir, "exprc_save_params");
  for (int i = 0; st == EXPRC_OK && i < m->nvar; i++) {
    Slot *s = &m->slot[i];
    if (s->kind != EXPRC_PARAM)
      continue;
    size_t n = strlen(dir) + strlen(s->name) + 8;
    char *path = malloc(n), err[512];
    if (!path)
      return fail(m, EXPRC_ERR_NOMEM, "out of memory");
    snprintf(path, n, "%s/%s.npy", dir, s->name);
    if (exprc_rt_write_npy(path, s->data, s->shape.rank, s->shape.d, err,
                           sizeof err) != 0)
      st = fail(m, EXPRC_ERR_IO, "%s", err);
    free(path);
  }
  return st;
}

exprc_status exprc_init_params(exprc_model *m, uint64_t seed) {
  exprc_status st = usable(m, "", "exprc_init_params");
  if (st == EXPRC_OK)
    init_params(m, seed);
  return st;
}

/* ---- running ---- */

static exprc_status run(exprc_model *m, int k, const char *fn) {
  for (int d = 0; d < m->ndim; d++)
    if (!m->known[d])
      return fail(m, EXPRC_ERR_STATE,
                  "%s: dim %s is not bound; set an input that uses it", fn,
                  m->dimname[d]);
  for (int i = 0; i < m->nvar; i++)
    if (m->slot[i].kind == EXPRC_INPUT && !m->slot[i].set)
      return fail(m, EXPRC_ERR_STATE, "%s: input '%s' is not set", fn,
                  m->slot[i].name);
  for (int i = 0; i < m->nslot; i++)
    if (!m->S[i])
      return fail(m, EXPRC_ERR_INTERNAL, "%s: a buffer is missing", fn);
  m->fn[k](m->D, m->S);
  for (int d = 0; d < m->ndim; d++)
    m->bound_by[d] = -1; /* the next call may use other sizes */
  return EXPRC_OK;
}

exprc_status exprc_forward(exprc_model *m) {
  exprc_status st = usable(m, "", "exprc_forward");
  return st != EXPRC_OK ? st : run(m, 0, "exprc_forward");
}

exprc_status exprc_gradient(exprc_model *m, const char *loss) {
  exprc_status st = usable(m, loss, "exprc_gradient");
  if (st != EXPRC_OK)
    return st;
  int k = find_entry(m, loss);
  if (k < 0)
    return fail(m, EXPRC_ERR_NAME, "no 'grad %.64s wrt ...' in the model",
                loss);
  return run(m, k, "exprc_gradient");
}
