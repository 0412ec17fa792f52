/* handle.c: a compiled model's memory: one buffer per slot, sized from the
 * dims bound so far (the gradients of an entry point share one block, so
 * that they can be summed across processes at once), the params' seeded initial values, its message, and
 * freeing it (in debug builds, a freed model is remembered so that a later
 * call on it is reported rather than reading freed memory).
 */
#include "handle.h"

#include "check.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "size.h"

exprc_status handle_fail(exprc_model *m, exprc_status st, const char *fmt,
                         ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  free(m->err);
  m->err = strdup(buf);
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

/* Forget slot i's buffer (a gradient's lies in its entry's block). */
static void drop_buffer(exprc_model *m, int i) {
  Slot *s = &m->slot[i];
  if (s->kind != EXPRC_GRADIENT)
    free(s->data), free(s->f32);
  s->data = NULL;
  s->f32 = NULL;
  s->size = -1;
  s->set = 0;
  m->S[i] = NULL;
}

static exprc_status no_memory(exprc_model *m, const char *what) {
  return handle_fail(m, EXPRC_ERR_NOMEM, "out of memory for '%s'",
                     what ? what : "a temporary");
}

/* Give slot i (not a gradient) a buffer of its current size. */
static exprc_status allocate_slot(exprc_model *m, int i) {
  Slot *s = &m->slot[i];
  int64_t n = slot_size(m, s);
  if (n == s->size)
    return EXPRC_OK;
  drop_buffer(m, i);
  if (n < 0)
    return EXPRC_OK;
  size_t k = (size_t)(n ? n : 1);
  if (m->f32 && !(s->f32 = calloc(k, sizeof(float))))
    return no_memory(m, s->name);
  if ((!m->f32 || !s->internal) && !(s->data = calloc(k, sizeof(double))))
    return free(s->f32), s->f32 = NULL, no_memory(m, s->name);
  s->size = n;
  m->S[i] = m->f32 ? (double *)(void *)s->f32 : s->data;
  return EXPRC_OK;
}

/* Lay the gradients of entry e end to end in one block, in the order of
 * `wrt`, once all their sizes are known. The block moves whenever one of
 * them changes size, so every gradient view of the entry moves with it. */
static exprc_status allocate_block(exprc_model *m, EntryInfo *e) {
  int64_t total = 0;
  int same = e->block != NULL;
  for (int r = 1; r < e->nres; r++) {
    int64_t n = slot_size(m, &m->slot[e->first + r]);
    if (n < 0)
      total = -1;
    if (total >= 0)
      total += n;
    same = same && n == m->slot[e->first + r].size;
  }
  if (same)
    return EXPRC_OK;
  for (int r = 1; r < e->nres; r++)
    drop_buffer(m, e->first + r);
  free(e->block);
  free(e->block32);
  e->block = NULL;
  e->block32 = NULL;
  if (total < 0)
    return EXPRC_OK;
  size_t k = (size_t)(total ? total : 1);
  if (!(e->block = calloc(k, sizeof(double))) ||
      (m->f32 && !(e->block32 = calloc(k, sizeof(float)))))
    return free(e->block), e->block = NULL, no_memory(m, "the gradient block");
  e->nblock = total;
  int64_t at = 0;
  for (int r = 1; r < e->nres; r++) {
    Slot *s = &m->slot[e->first + r];
    s->size = slot_size(m, s);
    s->data = e->block + at;
    s->f32 = e->block32 ? e->block32 + at : NULL;
    m->S[e->first + r] = m->f32 ? (double *)(void *)s->f32 : s->data;
    at += s->size;
  }
  return EXPRC_OK;
}

/* Give every slot whose size is known a buffer of that size. Inputs whose
 * buffer changes must be set again. */
void handle_sizes(exprc_model *m) {
  for (int k = SIZE_BASE; k < m->nsize; k++) {
    int64_t v = size_eval(&m->term[k - SIZE_BASE], m->D, m->known);
    m->known[k] = v >= 0;
    m->D[k] = v < 0 ? 0 : v > LONG_MAX ? LONG_MAX : (long)v;
  }
}

exprc_status handle_allocate(exprc_model *m) {
  int64_t total = 0, per = m->f32 ? 12 : 8; /* bytes an element at most: a
                               float32 model's buffer, and its double copy */
  handle_sizes(m);
  for (int k = SIZE_BASE; m->f32 && k < m->nsize; k++)
    if (m->known[k] && m->D[k] > F32_MAX_AXIS) /* sizes made of dims */
      return handle_fail(m, EXPRC_ERR_LIMIT, "a size of %ld (%s) is above "
                         "2^24, the longest axis of a float32 model",
                         m->D[k], m->dimname[k] ? m->dimname[k] : "of dims");
  for (int i = 0; i < m->nslot; i++) {
    int64_t n = slot_size(m, &m->slot[i]);
    if (n == -2 || (n > 0 && total > m->lim.max_memory / per - n))
      return handle_fail(m, EXPRC_ERR_LIMIT,
                  "tensors of this size need more than %lld bytes (the limit)",
                  (long long)m->lim.max_memory);
    total += n > 0 ? n : 0;
  }
  exprc_status st = EXPRC_OK;
  for (int i = 0; i < m->nslot && st == EXPRC_OK; i++)
    if (m->slot[i].kind != EXPRC_GRADIENT)
      st = allocate_slot(m, i);
  for (int k = 1; k < m->nentry && st == EXPRC_OK; k++)
    st = allocate_block(m, &m->entry[k]);
  return st;
}

static void init_one(exprc_model *m, int i, exprc_rng *r) {
  const Slot *s = &m->slot[i];
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
    handle_put(m, i, k, v);
  }
}

/* Params are initialised in declaration order from one generator, so that a
 * seed gives the same values on every machine. The draws inside the model
 * (normal(...), bernoulli(...)) start again from the same seed, on a stream
 * of their own (another seed word), so they are not the params' values. */
void handle_seed_draws(exprc_model *m, uint64_t seed) {
  exprc_rng_seed(&m->rng, seed ^ 0x6472617773ULL); /* "draws" */
}

void handle_init_params(exprc_model *m, uint64_t seed) {
  exprc_rng r;
  handle_seed_draws(m, seed);
  exprc_rng_seed(&r, seed);
  for (int i = 0; i < m->nvar; i++)
    if (m->slot[i].kind == EXPRC_PARAM && m->slot[i].data)
      init_one(m, i, &r);
}

/* ---- float32 buffers and their double copies ---- */

double handle_at(const exprc_model *m, int i, int64_t k) {
  const Slot *s = &m->slot[i];
  return m->f32 ? (double)s->f32[k] : s->data[k];
}

void handle_put(exprc_model *m, int i, int64_t k, double v) {
  Slot *s = &m->slot[i];
  if (m->f32)
    v = s->f32[k] = (float)v;
  if (s->data)
    s->data[k] = v;
}

void handle_settle(exprc_model *m, int i) {
  Slot *s = &m->slot[i];
  if (!m->f32 || !s->data || !s->f32)
    return;
  int in = s->kind == EXPRC_INPUT || s->kind == EXPRC_PARAM;
  for (int64_t k = 0; k < s->size; k++) {
    if (in && s->view64)
      s->f32[k] = (float)s->data[k];
    s->data[k] = s->f32[k];
  }
}

void handle_sync_in(exprc_model *m) {
  for (int i = 0; m->f32 && i < m->nvar; i++)
    if (m->slot[i].view64)
      handle_settle(m, i);
}

void handle_sync_out(exprc_model *m) {
  for (int i = m->nvar; m->f32 && i < m->nslot; i++)
    if (m->slot[i].view64)
      handle_settle(m, i);
}

#ifndef NDEBUG
/* Debug builds keep the last freed models' headers (their contents are
 * freed) as tombstones, so that a call on a freed model is reported as such
 * instead of reading freed memory. The ring is a global: memory it holds is
 * reachable, not leaked, and the oldest tombstone is freed for real. */
static exprc_model *tombstones[64];
static unsigned ntomb;
static pthread_mutex_t tomb_lock = PTHREAD_MUTEX_INITIALIZER;

static void tomb_take(void) { pthread_mutex_lock(&tomb_lock); }
static void tomb_give(void) { pthread_mutex_unlock(&tomb_lock); }

/* fork holds the lock, so that a child never starts with it taken by a
 * thread it does not have (its exprc_free would wait forever). */
__attribute__((constructor)) static void tomb_lock_fork_safe(void) {
  pthread_atfork(tomb_take, tomb_give, tomb_give);
}

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
  check_free(m);
  for (int i = 0; m->slot && i < m->nslot; i++) {
    free(m->slot[i].name);
    free(m->slot[i].loss);
    if (m->slot[i].kind != EXPRC_GRADIENT) /* those lie in a block */
      free(m->slot[i].data), free(m->slot[i].f32);
  }
  for (int k = 0; m->entry && k < m->nentry; k++) {
    free(m->entry[k].loss);
    free(m->entry[k].block);
    free(m->entry[k].block32);
  }
  for (int d = 0; m->dimname && d < m->ndim; d++)
    free(m->dimname[d]);
  for (int d = SIZE_BASE; m->dimname && d < m->nsize; d++)
    free(m->dimname[d]);
  free(m->term);
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
  for (int k = 0; m->site && k < m->nsite; k++) {
    free(m->site[k].head);
    free(m->site[k].show);
  }
  free(m->site);
  for (int k = 0; m->lenrule && k < m->nlenrule; k++) {
    free(m->lenrule[k].head);
    free(m->lenrule[k].show);
  }
  free(m->lenrule);
  ctx_free_str(m->csrc);
  free(m->err);
#ifndef NDEBUG
  bury(m);
#else
  free(m);
#endif
}

static const Site *find_site(const exprc_model *m, long node) {
  int lo = 0, hi = m->nsite;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (m->site[mid].node < node)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < m->nsite && m->site[lo].node == node ? &m->site[lo] : NULL;
}

exprc_status handle_run_error(exprc_model *m, const exprc_rt_error *e) {
  static const struct { exprc_status st; const char *fmt; } what[] = {
#define RT_ERROR_ROW(name, status, fmt) {status, fmt},
      EXPRC_RT_ERRORS(RT_ERROR_ROW)
#undef RT_ERROR_ROW
  };
  if (e->what < 0 || e->what >= EXPRC_RTE_COUNT)
    return handle_fail(m, EXPRC_ERR_INTERNAL, "a run failed with an unknown "
                       "error %d at node %ld", e->what, e->site);
  char body[256];
  snprintf(body, sizeof body, what[e->what].fmt, e->a, e->b);
  const Site *s = find_site(m, e->site);
  if (!s || !s->head)
    return handle_fail(m, what[e->what].st, "error: %s (node %ld)\n", body,
                       e->site);
  return handle_fail(m, what[e->what].st, "%s%s\n%s", s->head, body,
                     s->show ? s->show : "");
}

const char *exprc_errmsg(const exprc_model *m) {
  if (m && m->magic == MAGIC_DEAD)
    return "the model was used after exprc_free";
  return m && m->err ? m->err : "";
}

const char *exprc_source(const exprc_model *m) {
  return m && m->magic == MAGIC_LIVE && m->csrc ? m->csrc : "";
}
