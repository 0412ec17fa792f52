/* base.c: the compile context: arena allocation, located errors, shapes as
 * text. Everything a stage allocates for the length of one compile comes from
 * the context's arena, so unwinding from an error frees it all at once. */
#include "base.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct Chunk {
  Chunk *next;
  size_t used, cap;
  max_align_t data[];
};

typedef struct Blk {
  struct Blk *prev, *next;
  max_align_t data[];
} Blk;

#define BLK(p) ((Blk *)((char *)(p) - offsetof(Blk, data)))

static void blk_link(Ctx *c, Blk *b) {
  b->prev = NULL;
  b->next = c->blocks;
  if (c->blocks)
    c->blocks->prev = b;
  c->blocks = b;
}

static void blk_unlink(Ctx *c, Blk *b) {
  if (b->prev)
    b->prev->next = b->next;
  else
    c->blocks = b->next;
  if (b->next)
    b->next->prev = b->prev;
}

void *ctx_realloc(Ctx *c, void *p, size_t n) {
  Blk *old = p ? BLK(p) : NULL;
  if (old)
    blk_unlink(c, old); /* realloc may move it */
  Blk *b = n <= SIZE_MAX - sizeof(Blk) ? realloc(old, sizeof(Blk) + n) : NULL;
  if (!b) {
    if (old)
      blk_link(c, old); /* still valid: ctx_free releases it */
    ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
  }
  blk_link(c, b);
  return b->data;
}

void ctx_release(Ctx *c, void *p) {
  if (p) {
    blk_unlink(c, BLK(p));
    free(BLK(p));
  }
}

void ctx_work(Ctx *c, Pos p, int64_t n) {
  c->work += n;
  if (c->work / 16 > c->lim.max_nodes)
    ctx_error(c, p, EXPRC_ERR_LIMIT,
              "model needs more than %lld steps to compile (16 times the "
              "node limit): too many gradients of too large a graph",
              (long long)c->lim.max_nodes * 16);
}

void ctx_init(Ctx *c, const char *file, const char *src, size_t len,
              const exprc_limits *lim) {
  memset(c, 0, sizeof *c);
  c->file = file;
  c->src = src;
  c->srclen = len;
  if (lim)
    c->lim = *lim;
}

exprc_status ctx_protect(Ctx *c, void (*fn)(Ctx *c, void *arg), void *arg) {
  jmp_buf jb, *outer = c->jb;
  c->jb = &jb;
  if (setjmp(jb) == 0) {
    fn(c, arg);
    c->jb = outer;
    return EXPRC_OK;
  }
  c->jb = outer;
  return c->status;
}

void ctx_free(Ctx *c) {
  while (c->blocks) {
    Blk *n = c->blocks->next;
    free(c->blocks);
    c->blocks = n;
  }
  while (c->arena) {
    Chunk *n = c->arena->next;
    free(c->arena);
    c->arena = n;
  }
  free(c->msg);
  c->msg = NULL;
}

void *ctx_alloc(Ctx *c, size_t n) {
  n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  Chunk *k = c->arena;
  if (!k || k->cap - k->used < n) {
    size_t cap = n > 65536 ? n : 65536;
    k = calloc(1, sizeof(Chunk) + cap);
    if (!k)
      ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
    k->cap = cap;
    k->next = c->arena;
    c->arena = k;
  }
  void *p = (char *)k->data + k->used;
  k->used += n;
  return p;
}

char *ctx_strndup(Ctx *c, const char *s, size_t n) {
  char *p = ctx_alloc(c, n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

void vec_reserve(Ctx *c, void *pp, uint32_t *cap, uint32_t need, size_t sz) {
  if (need <= *cap)
    return;
  uint64_t n = *cap ? *cap : 16;
  while (n < need)
    n *= 2;
  if (n > UINT32_MAX)
    ctx_fail(c, EXPRC_ERR_LIMIT, "too many elements in an internal table");
  void **p = pp;
  *p = ctx_realloc(c, *p, (size_t)n * sz);
  *cap = (uint32_t)n;
}

/* The source line around byte offset `off`, for the caret display. */
static void line_bounds(const Ctx *c, uint32_t off, size_t *b, size_t *e) {
  size_t s = off < c->srclen ? off : c->srclen;
  *b = s;
  while (*b > 0 && c->src[*b - 1] != '\n')
    (*b)--;
  *e = s;
  while (*e < c->srclen && c->src[*e] != '\n')
    (*e)++;
}

static NORETURN void unwind(Ctx *c, exprc_status st, char *msg) {
  if (!c->msg) {
    c->msg = msg;
    c->status = st;
  } else {
    free(msg);
  }
  longjmp(*c->jb, 1);
}

/* Append the source line and a caret under column p.col; tabs are kept so
 * that the caret lines up in a terminal. */
static size_t caret(const Ctx *c, Pos p, char *out, size_t n) {
  size_t b, e, k = 0;
  line_bounds(c, p.off, &b, &e);
  if (e - b > 240)
    return 0; /* a huge line helps nobody */
  k += (size_t)snprintf(out + k, n - k, "   %.*s\n   ", (int)(e - b), c->src + b);
  for (size_t i = b; i < b + p.col - 1 && i < e && k + 2 < n; i++)
    out[k++] = c->src[i] == '\t' ? '\t' : ' ';
  if (k + 3 < n) {
    out[k++] = '^';
    out[k++] = '\n';
    out[k] = 0;
  }
  return k;
}

void ctx_error(Ctx *c, Pos p, exprc_status st, const char *fmt, ...) {
  char body[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  size_t n = strlen(c->file) + sizeof body + 700;
  char *msg = malloc(n);
  if (!msg)
    unwind(c, EXPRC_ERR_NOMEM, NULL);
  size_t k = (size_t)snprintf(msg, n, "%s:%u:%u: error: %s\n", c->file,
                              p.line, p.col, body);
  if (p.line > 0 && c->src)
    caret(c, p, msg + k, n - k);
  unwind(c, st, msg);
}

void ctx_fail(Ctx *c, exprc_status st, const char *fmt, ...) {
  char body[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  size_t n = strlen(c->file) + sizeof body + 32;
  char *msg = malloc(n);
  if (msg)
    snprintf(msg, n, "%s: error: %s\n", c->file, body);
  unwind(c, msg ? st : EXPRC_ERR_NOMEM, msg);
}

int shape_numel_const(const Shape *s, int64_t *out) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) {
    if (DIM_IS_SYM(s->d[i]))
      return 0;
    if (s->d[i] > 0 && n > INT64_MAX / s->d[i])
      n = INT64_MAX; /* saturate: a shape not yet checked against the limit */
    else
      n *= s->d[i];
  }
  *out = n;
  return 1;
}

int shape_eq(const Shape *a, const Shape *b) {
  if (a->rank != b->rank)
    return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i] != b->d[i])
      return 0;
  return 1;
}

char *shape_str(const Shape *s, const char *const *dimnames, char *buf,
                size_t n) {
  size_t k = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < s->rank && k < n; i++) {
    const char *sep = i ? "," : "";
    if (DIM_IS_SYM(s->d[i]) && dimnames)
      k += (size_t)snprintf(buf + k, n - k, "%s%.40s", sep,
                            dimnames[DIM_INDEX(s->d[i])]);
    else
      k += (size_t)snprintf(buf + k, n - k, "%s%lld", sep,
                            (long long)s->d[i]);
  }
  if (k < n)
    snprintf(buf + k, n - k, "]");
  return buf;
}

uint64_t hash_bytes(const void *p, size_t n, uint64_t h) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ s[i]) * 0x100000001b3ULL; /* FNV-1a */
  return h;
}

static uint32_t map_slot(const Map *m, const char *key) {
  uint32_t mask = m->cap - 1;
  uint32_t i = (uint32_t)hash_bytes(key, strlen(key), 0xcbf29ce484222325ULL) & mask;
  while (m->keys[i] && strcmp(m->keys[i], key) != 0)
    i = (i + 1) & mask;
  return i;
}

void *map_get(const Map *m, const char *key) {
  if (!m->cap)
    return NULL;
  uint32_t i = map_slot(m, key);
  return m->keys[i] ? m->vals[i] : NULL;
}

static void map_grow(Ctx *c, Map *m) {
  Map n = {0};
  n.cap = m->cap ? m->cap * 2 : 64;
  n.keys = ctx_alloc(c, n.cap * sizeof *n.keys);
  n.vals = ctx_alloc(c, n.cap * sizeof *n.vals);
  for (uint32_t i = 0; i < m->cap; i++) {
    if (m->keys[i]) {
      uint32_t j = map_slot(&n, m->keys[i]);
      n.keys[j] = m->keys[i];
      n.vals[j] = m->vals[i];
      n.n++;
    }
  }
  *m = n;
}

void map_put(Ctx *c, Map *m, const char *key, void *val) {
  if ((m->n + 1) * 2 > m->cap)
    map_grow(c, m);
  uint32_t i = map_slot(m, key);
  if (!m->keys[i]) {
    m->keys[i] = key;
    m->n++;
  }
  m->vals[i] = val;
}
