/* api.c: the calls on a compiled model (include/exprc.h): finding its
 * tensors, binding dims, setting inputs and params, and running its entry
 * points. Every call checks its handle and arguments first and reports
 * through the model's message; none can crash on a bad argument.
 */
#include "handle.h"

#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "runtime.h"

/* ---- finding tensors ---- */

/* A view of slot i: the float64 API's (data), or with f32 the float32 one
 * (data_f32), which decides whose values the model follows (handle.h). */
static void view(exprc_model *m, int i, exprc_tensor *t, int f32) {
  Slot *s = &m->slot[i];
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
  if (m->f32 && !f32 && !s->view64) /* the copy starts from the floats */
    handle_settle(m, i);
  if (m->f32)
    s->view64 = !f32;
  t->data = f32 ? NULL : s->data;
  t->data_f32 = f32 ? s->f32 : NULL;
  t->dtype = s->is_int ? EXPRC_INT64 : m->f32 ? EXPRC_FLOAT32 : EXPRC_FLOAT64;
}

/* The float32 calls need a float32 model. */
static exprc_status need_f32(exprc_model *m, exprc_status st, const char *fn) {
  if (st == EXPRC_OK && !m->f32)
    return handle_fail(m, EXPRC_ERR_STATE, "%s: the model is float64 (compile "
                       "it with exprc_options.dtype = EXPRC_FLOAT32)", fn);
  return st;
}

/* A usable model, or a status saying why not. */
static exprc_status usable(exprc_model *m, const void *arg, const char *fn) {
  if (!m || m->magic != MAGIC_LIVE) /* NULL, or freed (debug builds) */
    return EXPRC_ERR_ARG;
  if (m->failed)
    return handle_fail(m, EXPRC_ERR_STATE, "%s: the model failed to compile", fn);
  if (!arg)
    return handle_fail(m, EXPRC_ERR_ARG, "%s: an argument is NULL", fn);
  return EXPRC_OK;
}

int exprc_count(const exprc_model *m, exprc_kind kind) {
  if (!m || m->magic != MAGIC_LIVE || m->failed ||
      (unsigned)kind > EXPRC_GRADIENT)
    return 0;
  return m->nkind[kind];
}

static exprc_status get(exprc_model *m, exprc_kind kind, int k,
                        exprc_tensor *t, int f32, const char *fn) {
  exprc_status st = usable(m, t, fn);
  if (f32 && (st = need_f32(m, st, fn)) != EXPRC_OK)
    return st;
  if (st != EXPRC_OK)
    return st;
  if (k < 0 || k >= exprc_count(m, kind))
    return handle_fail(m, EXPRC_ERR_ARG, "%s: index out of range", fn);
  view(m, m->bykind[kind][k], t, f32);
  return EXPRC_OK;
}

exprc_status exprc_get(exprc_model *m, exprc_kind kind, int k,
                       exprc_tensor *t) {
  return get(m, kind, k, t, 0, "exprc_get");
}

exprc_status exprc_get_f32(exprc_model *m, exprc_kind kind, int k,
                           exprc_tensor *t) {
  return get(m, kind, k, t, 1, "exprc_get_f32");
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

static exprc_status find(exprc_model *m, const char *name, exprc_tensor *t,
                         int f32, const char *fn) {
  exprc_status st = usable(m, name && t ? name : NULL, fn);
  if (f32)
    st = need_f32(m, st, fn);
  if (st != EXPRC_OK)
    return st;
  int i = find_slot(m, name);
  if (i < 0)
    return handle_fail(m, EXPRC_ERR_NAME, "no input, param or output named '%.64s'",
                name);
  view(m, i, t, f32);
  return EXPRC_OK;
}

exprc_status exprc_find(exprc_model *m, const char *name, exprc_tensor *t) {
  return find(m, name, t, 0, "exprc_find");
}

exprc_status exprc_find_f32(exprc_model *m, const char *name, exprc_tensor *t) {
  return find(m, name, t, 1, "exprc_find_f32");
}

static int find_entry(const exprc_model *m, const char *loss) {
  for (int k = 1; k < m->nentry; k++)
    if (strcmp(m->entry[k].loss, loss) == 0)
      return k;
  return -1;
}

static exprc_status find_grad(exprc_model *m, const char *loss,
                              const char *wrt, exprc_tensor *t, int f32,
                              const char *fn) {
  exprc_status st = usable(m, loss && wrt && t ? t : NULL, fn);
  if (f32)
    st = need_f32(m, st, fn);
  if (st != EXPRC_OK)
    return st;
  int k = find_entry(m, loss);
  if (k < 0)
    return handle_fail(m, EXPRC_ERR_NAME, "no 'grad %.64s wrt ...' in the model", loss);
  EntryInfo *e = &m->entry[k];
  for (int r = 1; r < e->nres; r++)
    if (strcmp(m->slot[e->first + r].name, wrt) == 0)
      return view(m, e->first + r, t, f32), EXPRC_OK;
  return handle_fail(m, EXPRC_ERR_NAME, "'grad %.64s' is not taken wrt '%.64s'", loss,
              wrt);
}

exprc_status exprc_find_grad(exprc_model *m, const char *loss, const char *wrt,
                             exprc_tensor *t) {
  return find_grad(m, loss, wrt, t, 0, "exprc_find_grad");
}

exprc_status exprc_find_grad_f32(exprc_model *m, const char *loss,
                                 const char *wrt, exprc_tensor *t) {
  return find_grad(m, loss, wrt, t, 1, "exprc_find_grad_f32");
}

/* The gradients of `grad loss wrt ...` as one block, in the order of wrt:
 * what a data-parallel trainer sums across processes in one call. */
static exprc_status grad_block(exprc_model *m, const char *loss, void **ptr,
                               int64_t *count, int f32, const char *fn) {
  exprc_status st = usable(m, loss && ptr && count ? loss : NULL, fn);
  if (f32)
    st = need_f32(m, st, fn);
  if (st != EXPRC_OK)
    return st;
  int k = find_entry(m, loss);
  if (k < 0)
    return handle_fail(m, EXPRC_ERR_NAME,
                       "no 'grad %.64s wrt ...' in the model", loss);
  EntryInfo *e = &m->entry[k];
  if (!e->block)
    return handle_fail(m, EXPRC_ERR_STATE,
                       "%s: the sizes of the gradients of '%.64s'"
                       " need dims not yet bound", fn, loss);
  exprc_tensor t;
  for (int r = 1; r < e->nres; r++) /* each gradient's view, as one */
    view(m, e->first + r, &t, f32);
  *ptr = f32 ? (void *)e->block32 : (void *)e->block;
  *count = e->nblock;
  return EXPRC_OK;
}

exprc_status exprc_grad_block(exprc_model *m, const char *loss, double **ptr,
                              int64_t *count) {
  void *p = NULL;
  exprc_status st = grad_block(m, loss, ptr ? &p : NULL, count, 0,
                               "exprc_grad_block");
  if (st == EXPRC_OK)
    *ptr = p;
  return st;
}

exprc_status exprc_grad_block_f32(exprc_model *m, const char *loss,
                                  float **ptr, int64_t *count) {
  void *p = NULL;
  exprc_status st = grad_block(m, loss, ptr ? &p : NULL, count, 1,
                               "exprc_grad_block_f32");
  if (st == EXPRC_OK)
    *ptr = p;
  return st;
}

exprc_dtype exprc_model_dtype(const exprc_model *m) {
  return m && m->magic == MAGIC_LIVE && !m->failed && m->f32 ? EXPRC_FLOAT32
                                                             : EXPRC_FLOAT64;
}

/* ---- binding dims and setting values ---- */

static const char *binder(const exprc_model *m, int who) {
  return who >= 0 ? m->slot[who].name : "exprc_bind_dim";
}

/* Check that binding dim d to n by `who` is consistent with this cycle. */
static exprc_status check_bind(exprc_model *m, int d, int64_t n, int who) {
  if (n < (d < 64 && (m->may_be_empty >> d & 1) ? 0 : 1) ||
      n > m->lim.max_elements)
    return handle_fail(m, EXPRC_ERR_SHAPE, "dim %s cannot be %lld", m->dimname[d],
                (long long)n);
  if (m->f32 && n > F32_MAX_AXIS)
    return handle_fail(m, EXPRC_ERR_LIMIT, "dim %s cannot be %lld in a float32 "
                       "model: its axes are at most 2^24 long, so that every "
                       "index along one is exact in float", m->dimname[d],
                       (long long)n);
  if (m->bound_by[d] != -1 && m->D[d] != n)
    return handle_fail(m, EXPRC_ERR_SHAPE,
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
  handle_sizes(m);
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
    st = handle_allocate(m);
    return st == EXPRC_OK ? st : binds_undo(m, &saved, st);
  }
  return handle_fail(m, EXPRC_ERR_NAME, "no dim named '%.64s'", dim);
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
  return handle_fail(m, EXPRC_ERR_SHAPE, "'%s' has shape %s; the data given has %s",
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
  exprc_status st = handle_allocate(m);
  return st == EXPRC_OK ? st : binds_undo(m, &saved, st);
}

/* Elements of a model buffer from p to its end, or -1 if p is in none:
 * a caller may pass a view of the model's own memory (a gradient, an
 * output), which binding new sizes frees. */
static int64_t left_in_buffer(const exprc_model *m, const void *p,
                              size_t size) {
  uintptr_t at = (uintptr_t)p;
  for (int i = 0; i < m->nslot; i++) {
    uintptr_t b = size == sizeof(float) ? (uintptr_t)m->slot[i].f32
                                        : (uintptr_t)m->slot[i].data;
    int64_t n = m->slot[i].size;
    if (b && n > 0 && at >= b && at < b + (uintptr_t)n * size)
      return n - (int64_t)((at - b) / size);
  }
  return -1;
}

/* Data in the model's own memory is copied before anything is freed; NULL
 * with *st set if it cannot be. */
static void *copy_if_inside(exprc_model *m, const void *data, size_t size,
                            int rank, const int64_t *shape, exprc_status *st) {
  int64_t left = left_in_buffer(m, data, size), n = 1;
  if (left < 0)
    return NULL;
  for (int d = 0; d < rank; d++)
    n = shape[d] < 0 || (shape[d] > 0 && n > left / shape[d])
            ? left + 1 : n * shape[d]; /* left + 1: too many */
  if (n > left) {
    *st = handle_fail(m, EXPRC_ERR_ARG, "exprc_set: the data runs past the "
                      "end of the model's buffer that it points into");
    return NULL;
  }
  void *copy = malloc((size_t)(n ? n : 1) * size);
  if (!copy)
    *st = handle_fail(m, EXPRC_ERR_NOMEM, "out of memory");
  else
    memcpy(copy, data, (size_t)n * size);
  return copy;
}

#define EXACT_INT 9007199254740992.0 /* 2^53: doubles hold integers exactly
                                       up to here */
#define EXACT_INT_F32 16777216.0     /* 2^24: floats do */

/* Element k of data given as double, or as float (size 4). */
static double given(const void *data, size_t size, int64_t k) {
  return size == sizeof(float) ? (double)((const float *)data)[k]
                               : ((const double *)data)[k];
}

/* The element count of a shape given to exprc_set, or -1 if it is not a
 * shape (exprc_set's checks then report it). */
static int64_t given_count(int rank, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < rank && d < EXPRC_MAX_RANK; d++) {
    if (shape[d] < 0 || (shape[d] > 0 && n > INT64_MAX / shape[d]))
      return -1;
    n *= shape[d];
  }
  return rank < 0 || rank > EXPRC_MAX_RANK ? -1 : n;
}

/* An integer input takes whole numbers within 2^53 only. The data is read
 * only as far as the declared shape allows: a shape that does not match
 * is left for bind_from to report. */
static exprc_status whole_numbers(exprc_model *m, int i, const void *data,
                                  size_t size, int rank,
                                  const int64_t *shape) {
  double most = m->f32 ? EXACT_INT_F32 : EXACT_INT;
  int64_t n = given_count(rank, shape), want;
  const Slot *s = &m->slot[i];
  if (n < 0 || rank != s->shape.rank ||
      (shape_numel_const(&s->shape, &want) && want != n))
    return EXPRC_OK;
  for (int d = 0; d < rank; d++)
    if (!DIM_IS_SYM(s->shape.d[d]) && s->shape.d[d] != shape[d])
      return EXPRC_OK;
  for (int64_t k = 0; k < n; k++) {
    double v = given(data, size, k);
    if (!(v == floor(v) && v >= -most && v <= most))
      return handle_fail(m, EXPRC_ERR_ARG, "'%s' holds integers; element %lld "
                         "is %.17g, not a whole number within 2^%d%s",
                         s->name, (long long)k, v, m->f32 ? 24 : 53,
                         m->f32 ? " (a float32 model)" : "");
  }
  return EXPRC_OK;
}

exprc_status exprc_set_int64(exprc_model *m, const char *name,
                             const int64_t *data, int rank,
                             const int64_t *shape) {
  exprc_status st = usable(m, name && data && (shape || rank == 0) ? name : NULL,
                           "exprc_set_int64");
  if (st != EXPRC_OK)
    return st;
  int64_t n = given_count(rank, shape);
  if (n < 0)
    return handle_fail(m, EXPRC_ERR_ARG, "exprc_set_int64: rank %d or a size "
                       "is out of range", rank);
  if (n > m->lim.max_elements)
    return handle_fail(m, EXPRC_ERR_LIMIT, "exprc_set_int64: %lld elements "
                       "is above the limit", (long long)n);
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  if (!v)
    return handle_fail(m, EXPRC_ERR_NOMEM, "out of memory");
  for (int64_t k = 0; k < n; k++) {
    if (data[k] > (INT64_C(1) << 53) || data[k] < -(INT64_C(1) << 53)) {
      free(v);
      return handle_fail(m, EXPRC_ERR_ARG, "exprc_set_int64: element %lld "
                         "is %lld, beyond 2^53, the largest integer exprc "
                         "holds exactly", (long long)k, (long long)data[k]);
    }
    v[k] = (double)data[k];
  }
  st = exprc_set(m, name, v, rank, shape);
  free(v);
  return st;
}

/* Copy size-byte elements (double or float) into slot i's buffer, rounding
 * or widening them to the model's type, and its double copy when a view of
 * that is out. */
static void store(exprc_model *m, int i, const void *src, size_t size) {
  Slot *s = &m->slot[i];
  if (m->f32 && size == sizeof(float))
    memcpy(s->f32, src, (size_t)s->size * size);
  else if (!m->f32 && size == sizeof(double))
    memcpy(s->data, src, (size_t)s->size * size);
  else
    for (int64_t k = 0; k < s->size; k++)
      handle_put(m, i, k, given(src, size, k));
  if (m->f32 && s->view64)
    handle_settle(m, i);
}

static exprc_status set(exprc_model *m, const char *name, const void *data,
                        size_t size, int rank, const int64_t *shape,
                        const char *fn) {
  exprc_status st = usable(m, name && data && (shape || rank == 0) ? name : NULL,
                           fn);
  if (st != EXPRC_OK)
    return st;
  int i = find_slot(m, name);
  if (i < 0 || i >= m->nvar)
    return handle_fail(m, EXPRC_ERR_NAME, "no input or param named '%.64s'", name);
  if (rank < 0 || rank > EXPRC_MAX_RANK)
    return handle_fail(m, EXPRC_ERR_ARG, "%s: rank %d is out of range", fn, rank);
  if (m->slot[i].is_int && (st = whole_numbers(m, i, data, size, rank, shape)))
    return st;
  void *copy = copy_if_inside(m, data, size, rank, shape, &st);
  if (st == EXPRC_OK && (st = bind_from(m, i, rank, shape)) == EXPRC_OK) {
    store(m, i, copy ? copy : data, size);
    m->slot[i].set = 1;
  }
  free(copy);
  return st;
}

exprc_status exprc_set(exprc_model *m, const char *name, const double *data,
                       int rank, const int64_t *shape) {
  return set(m, name, data, sizeof *data, rank, shape, "exprc_set");
}

exprc_status exprc_set_f32(exprc_model *m, const char *name, const float *data,
                           int rank, const int64_t *shape) {
  return set(m, name, data, sizeof *data, rank, shape, "exprc_set_f32");
}

exprc_status exprc_set_file(exprc_model *m, const char *name,
                            const char *path) {
  exprc_status st = usable(m, name && path ? name : NULL, "exprc_set_file");
  if (st != EXPRC_OK)
    return st;
  int i = find_slot(m, name);
  if (i < 0 || i >= m->nvar)
    return handle_fail(m, EXPRC_ERR_NAME, "no input or param named '%.64s'", name);
  _Static_assert(EXPRC_RT_MAX_RANK == EXPRC_MAX_RANK, "io.h and exprc.h");
  exprc_rt_array a;
  char err[512];
  if (exprc_rt_read_array(path, &a, m->lim.max_elements, err, sizeof err) != 0)
    return handle_fail(m, EXPRC_ERR_IO, "%s", err);
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
    handle_settle(m, i); /* a float32 model's copy: what the model holds */
    size_t n = strlen(dir) + strlen(s->name) + 8;
    char *path = malloc(n), err[512];
    if (!path)
      return handle_fail(m, EXPRC_ERR_NOMEM, "out of memory");
    snprintf(path, n, "%s/%s.npy", dir, s->name);
    if (exprc_rt_write_npy_as(path, m->f32 ? (void *)s->f32 : (void *)s->data,
                              m->f32 ? 4 : 8, s->shape.rank, s->shape.d, err,
                              sizeof err) != 0)
      st = handle_fail(m, EXPRC_ERR_IO, "%s", err);
    free(path);
  }
  return st;
}

exprc_status exprc_init_params(exprc_model *m, uint64_t seed) {
  exprc_status st = usable(m, "", "exprc_init_params");
  if (st == EXPRC_OK)
    handle_init_params(m, seed);
  return st;
}

exprc_status exprc_seed_draws(exprc_model *m, uint64_t seed) {
  exprc_status st = usable(m, "", "exprc_seed_draws");
  if (st == EXPRC_OK)
    handle_seed_draws(m, seed);
  return st;
}

/* ---- running ---- */

/* A size of a Shape at the bound dims, and for messages "N = 3" or "3". */
static long size_now(const exprc_model *m, int64_t d, char *buf, size_t n) {
  long v = DIM_IS_SYM(d) ? m->D[DIM_INDEX(d)] : (long)d;
  if (DIM_IS_SYM(d))
    snprintf(buf, n, "%.64s = %ld", m->dimname[DIM_INDEX(d)], v);
  else
    snprintf(buf, n, "%ld", v);
  return v;
}

/* The sequences of each loop have one length, which dims may decide: the
 * generated code runs a loop as long as its first sequence. */
static exprc_status check_lengths(exprc_model *m) {
  for (int i = 0; i < m->nlenrule; i++) {
    const LenRule *r = &m->lenrule[i];
    char sa[96], sb[96];
    if (size_now(m, r->a, sa, sizeof sa) != size_now(m, r->b, sb, sizeof sb))
      return handle_fail(m, EXPRC_ERR_SHAPE, "%ssequences of different "
                         "lengths: %s and %s along axis 0\n%s", r->head, sa,
                         sb, r->show);
  }
  return EXPRC_OK;
}

static exprc_status run(exprc_model *m, int k, const char *fn) {
  for (int d = 0; d < m->ndim; d++)
    if (!m->known[d])
      return handle_fail(m, EXPRC_ERR_STATE,
                  "%s: dim %s is not bound; set an input that uses it", fn,
                  m->dimname[d]);
  for (int i = 0; i < m->nvar; i++)
    if (m->slot[i].kind == EXPRC_INPUT && !m->slot[i].set)
      return handle_fail(m, EXPRC_ERR_STATE, "%s: input '%s' is not set", fn,
                  m->slot[i].name);
  for (int i = 0; i < m->nslot; i++)
    if (!m->S[i])
      return handle_fail(m, EXPRC_ERR_INTERNAL, "%s: a buffer is missing", fn);
  if (check_lengths(m) != EXPRC_OK) { /* as a run that failed: the next */
    for (int d = 0; d < m->ndim; d++) /* may bind other sizes */
      m->bound_by[d] = -1;
    return EXPRC_ERR_SHAPE;
  }
  int was = exprc_rt_use_threads(m->threads); /* per thread, not global */
  exprc_rt_error err = {.site = -1}, *outer = exprc_rt_catch(&err);
  check_clear(m); /* --check-finite: the generated code reports here */
  exprc_rng *was_rng = exprc_rt_use_rng(&m->rng); /* the model's draws */
  handle_sync_in(m); /* float32: what the float64 views of inputs hold */
  jit_kick(m->jit); /* --backend auto: cc once the runs took long enough */
  jit_entries(m->jit, m->fn)[k](m->D, m->S); /* one tier per run */
  jit_ran(m->jit);
  handle_sync_out(m); /* float32: the float64 views of the results */
  exprc_rt_use_rng(was_rng);
  exprc_rt_catch(outer);
  exprc_rt_use_threads(was);
  for (int d = 0; d < m->ndim; d++)
    m->bound_by[d] = -1; /* the next call may use other sizes */
  if (err.site >= 0) /* data the code refused (an index, a matrix) */
    return handle_run_error(m, &err);
  return check_report(m); /* a value --check-finite caught */
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
    return handle_fail(m, EXPRC_ERR_NAME, "no 'grad %.64s wrt ...' in the model",
                loss);
  return run(m, k, "exprc_gradient");
}

/* ---- tiers (--backend auto) ---- */

exprc_backend exprc_backend_now(const exprc_model *m) {
  if (!m || m->magic != MAGIC_LIVE || m->failed)
    return EXPRC_BACKEND_TCC;
  return jit_backend_now(m->jit);
}

exprc_status exprc_wait_tier(exprc_model *m) {
  exprc_status st = usable(m, "", "exprc_wait_tier");
  char why[2048];
  if (st != EXPRC_OK || jit_wait(m->jit, why, sizeof why) == 0)
    return st;
  return handle_fail(m, EXPRC_ERR_JIT, "exprc_wait_tier: the system "
                     "compiler's code does not run; libtcc's does:\n%s", why);
}
