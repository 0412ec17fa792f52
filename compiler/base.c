/* base.c: the compile context: arena allocation, located errors, shapes as
 * text. Everything a stage allocates for the length of one compile comes from
 * the context's arena, so unwinding from an error frees it all at once; and
 * since it all goes through here, here is where the compile's memory is
 * counted against its limit. */
#define _GNU_SOURCE /* mremap, and madvise's MADV_HUGEPAGE */
#include "base.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

struct Chunk {
  Chunk *next;
  size_t used, cap;
  size_t mapped; /* as Blk.mapped */
  max_align_t data[];
};

typedef struct Blk {
  struct Blk *prev, *next;
  size_t size;   /* of data, as counted in Ctx.bytes */
  size_t cap;    /* of data, as allocated (a spare block may be bigger) */
  size_t mapped; /* bytes mapped from the kernel (mem_map); 0: from malloc */
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

/* Before the compile takes n more bytes: past max_compile_bytes it stops
 * with a LIMIT error, located where the stages say they are working (a
 * huge file stops in the lexer, an exploding graph where it explodes). */
static void charge(Ctx *c, size_t n) {
  int64_t lim = c->lim.max_compile_bytes;
  if (lim <= 0 || (n <= (uint64_t)lim && c->bytes <= lim - (int64_t)n)) {
    c->bytes += (int64_t)n;
    return;
  }
  if (c->at.line > 0)
    ctx_error(c, c->at, EXPRC_ERR_LIMIT, "compiling the model needs more "
              "than %lld bytes of memory (the limit)", (long long)lim);
  ctx_fail(c, EXPRC_ERR_LIMIT, "compiling the model needs more than %lld "
           "bytes of memory (the limit)", (long long)lim);
}

/* Big blocks a pass gives back are kept for the next request they fit
 * (the passes of a big compile each take and give back arrays of a few
 * bytes a node): malloc serves blocks this big with mmap and gives them
 * back to the system on free, so each pass faulted its pages in afresh. At
 * 1.4M nodes that was half of the compile's 360k page faults, several
 * microseconds each (bench/RESULTS.md, issue 18). ctx_free frees them. */
#define SPARE_MIN ((size_t)1 << 17)

static Blk *spare_take(Ctx *c, size_t n) {
  Blk **best = NULL;
  for (Blk **b = &c->spare; *b; b = &(*b)->next)
    if ((*b)->cap >= n && (!best || (*b)->cap < (*best)->cap))
      best = b;
  if (!best)
    return NULL;
  Blk *r = *best;
  *best = r->next;
  return r;
}

static void blk_free(Blk *b);

static void spare_put(Ctx *c, Blk *b) {
  if (b->cap < SPARE_MIN) {
    blk_free(b);
    return;
  }
  b->next = c->spare;
  c->spare = b;
}

/* Blocks of BIG_MIN bytes and more are mapped from the kernel, not taken
 * from malloc. Growing one moves its pages (mremap) instead of copying
 * them: malloc's realloc copies a block into fresh pages, each of which
 * faults, and at 1.4M nodes those copies were two thirds of the compile's
 * page faults. And the kernel is asked for huge pages (2 MB on x86-64,
 * where Debian's transparent huge pages are "madvise"): a fault then
 * brings in 512 small pages at once, and the hash table's random probes
 * miss the TLB less. Where the kernel says no, small pages it is. */
#ifdef __SANITIZE_ADDRESS__ /* gcc's; clang's is __has_feature */
#define BASE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BASE_ASAN 1
#endif
#endif
#ifdef BASE_ASAN /* AddressSanitizer sees malloc's blocks only */
#define BIG_MIN SIZE_MAX
#else
#define BIG_MIN ((size_t)4 << 20)
#endif
#define HUGE_PAGE ((size_t)2 << 20)

size_t mem_big_min(void) { return BIG_MIN; }

size_t mem_len(size_t bytes) {
  return (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
}

static void advise_huge(void *p, size_t len) {
#ifdef MADV_HUGEPAGE
  (void)madvise(p, len, MADV_HUGEPAGE);
#else
  (void)p, (void)len;
#endif
}

void *mem_map(size_t len) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  advise_huge(p, len);
  return p;
}

void *mem_remap(void *p, size_t old, size_t len) {
  void *q = mremap(p, old, len, MREMAP_MAYMOVE);
  if (q == MAP_FAILED)
    return NULL;
  advise_huge(q, len);
  return q;
}

void mem_free(void *p, size_t mapped) {
  if (mapped)
    munmap(p, mapped);
  else
    free(p);
}

static void blk_free(Blk *b) { mem_free(b, b->mapped); }

/* Block old (NULL: none) resized for n bytes of data, by malloc's realloc
 * below BIG_MIN, by mapping or mremap from there on; NULL when out of
 * memory, old then untouched. */
static Blk *blk_resize(Blk *old, size_t n) {
  if (n > SIZE_MAX - sizeof(Blk) - HUGE_PAGE)
    return NULL;
  size_t len = mem_len(sizeof(Blk) + n);
  Blk *b;
  if (old && old->mapped) {
    if (len <= old->mapped)
      return old;
    if (!(b = mem_remap(old, old->mapped, len)))
      return NULL;
  } else if (n >= BIG_MIN) {
    if (!(b = mem_map(len)))
      return NULL;
    if (old) {
      memcpy(b->data, old->data, old->size < n ? old->size : n);
      free(old);
    }
  } else {
    if (!(b = realloc(old, sizeof(Blk) + n)))
      return NULL;
    b->mapped = 0;
    b->cap = n;
    return b;
  }
  b->mapped = len;
  b->cap = len - sizeof(Blk);
  return b;
}

/* A new place for old's n bytes (old NULL: none), from the spares or
 * resized; NULL when out of memory, old then untouched and linked. */
static Blk *blk_move(Ctx *c, Blk *old, size_t n) {
  Blk *b = n >= SPARE_MIN && (!old || n > old->cap) ? spare_take(c, n) : NULL;
  if (b) {
    if (old) {
      memcpy(b->data, old->data, old->size < n ? old->size : n);
      blk_unlink(c, old);
      spare_put(c, old);
    }
    return b;
  }
  if (old)
    blk_unlink(c, old); /* it may move */
  b = blk_resize(old, n);
  if (!b && old)
    blk_link(c, old); /* still valid: ctx_free releases it */
  return b;
}

void *ctx_realloc(Ctx *c, void *p, size_t n) {
  Blk *old = p ? BLK(p) : NULL;
  size_t had = old ? old->size : 0;
  if (n > had)
    charge(c, n - had); /* may unwind: the old block is still linked */
  if (old && n <= old->cap && n >= had) {
    old->size = n; /* a spare taken bigger than asked: room to grow */
    return p;
  }
  Blk *b = blk_move(c, old, n);
  if (!b) {
    c->bytes -= n > had ? (int64_t)(n - had) : 0;
    ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
  }
  c->bytes -= n < had ? (int64_t)(had - n) : 0;
  b->size = n;
  blk_link(c, b);
  return b->data;
}

void ctx_release(Ctx *c, void *p) {
  if (p) {
    c->bytes -= (int64_t)BLK(p)->size;
    blk_unlink(c, BLK(p));
    spare_put(c, BLK(p));
  }
}

void ctx_work(Ctx *c, Pos p, int64_t n) {
  c->work += n;
  if (c->work / 256 > c->lim.max_nodes)
    ctx_error(c, p, EXPRC_ERR_LIMIT,
              "model needs more than %lld steps to compile (256 times the "
              "node limit): too many gradients of too large a graph",
              (long long)c->lim.max_nodes * 256);
}

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* The maps' key: from the kernel, or (should that fail) from the clock and
 * addresses, which an attacker who only writes the model cannot know. */
static void draw_key(Ctx *c) {
  if (getrandom(c->key, sizeof c->key, GRND_NONBLOCK) == (ssize_t)sizeof c->key)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t x = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^
               (uint64_t)(uintptr_t)c ^ (uint64_t)(uintptr_t)&ts << 17;
  c->key[0] = splitmix(&x);
  c->key[1] = splitmix(&x);
}

void ctx_init(Ctx *c, const char *file, const char *src, size_t len,
              const exprc_limits *lim) {
  memset(c, 0, sizeof *c);
  c->file = file;
  c->src = src;
  c->srclen = len;
  if (lim)
    c->lim = *lim;
  draw_key(c);
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

char *ctx_detach_str(Ctx *c, char *p) {
  if (!p)
    return NULL;
  Blk *b = BLK(p);
  size_t n = strlen(p) + 1;
  c->bytes -= (int64_t)b->size;
  blk_unlink(c, b);
  Blk *r = b; /* give back what the string does not use */
  if (!b->mapped)
    r = realloc(b, sizeof(Blk) + n);
  else if (mem_len(sizeof(Blk) + n) < b->mapped) {
    size_t keep = mem_len(sizeof(Blk) + n);
    munmap((char *)b + keep, b->mapped - keep);
    b->mapped = keep;
  }
  r = r ? r : b;
  r->size = r->cap = n;
  return (char *)r->data;
}

void ctx_free_str(char *s) {
  if (s)
    blk_free(BLK(s));
}

void ctx_trim(Ctx *c) {
  while (c->spare) {
    Blk *n = c->spare->next;
    blk_free(c->spare);
    c->spare = n;
  }
}

void ctx_free(Ctx *c) {
  while (c->blocks) {
    Blk *n = c->blocks->next;
    blk_free(c->blocks);
    c->blocks = n;
  }
  ctx_trim(c);
  c->nchunk = 0;
  while (c->arena) {
    Chunk *n = c->arena->next;
    mem_free(c->arena, c->arena->mapped);
    c->arena = n;
  }
  c->bytes = 0;
  free(c->msg);
  c->msg = NULL;
}

/* The arena takes 64 KB chunks from malloc, which a small compile's next
 * one reuses without a page fault; past ARENA_SMALL of them (16 MB), a big
 * compile's, 8 MB chunks mapped as big blocks are, in huge pages. */
#define ARENA_SMALL 256
#define ARENA_BIG ((size_t)8 << 20)

/* The capacity of a chunk for cap bytes: a mapped one's is its whole
 * mapping less the header, which is what the arena is charged. */
static size_t chunk_cap(size_t cap) {
  if (cap < BIG_MIN || cap > SIZE_MAX - sizeof(Chunk) - HUGE_PAGE)
    return cap;
  return mem_len(sizeof(Chunk) + cap) - sizeof(Chunk);
}

/* An arena chunk of cap bytes (from chunk_cap), zeroed (big ones mapped,
 * as big blocks are); NULL when out of memory. */
static Chunk *chunk_new(size_t cap) {
  Chunk *k;
  if (cap > SIZE_MAX - sizeof(Chunk) - HUGE_PAGE)
    return NULL;
  if (cap >= BIG_MIN) {
    if (!(k = mem_map(sizeof(Chunk) + cap)))
      return NULL;
    k->mapped = sizeof(Chunk) + cap;
  } else if (!(k = calloc(1, sizeof(Chunk) + cap))) {
    return NULL;
  }
  k->cap = cap;
  return k;
}

void *ctx_alloc(Ctx *c, size_t n) {
  n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  Chunk *k = c->arena;
  if (!k || k->cap - k->used < n) {
    size_t cap = c->nchunk < ARENA_SMALL ? 65536 : ARENA_BIG - sizeof(Chunk);
    cap = chunk_cap(n > cap ? n : cap);
    charge(c, cap);
    k = chunk_new(cap);
    if (!k)
      ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
    k->next = c->arena;
    c->arena = k;
    c->nchunk++;
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
static void line_bounds(const char *src, size_t len, uint32_t off, size_t *b,
                        size_t *e) {
  size_t s = off < len ? off : len;
  *b = s;
  while (*b > 0 && src[*b - 1] != '\n')
    (*b)--;
  *e = s;
  while (*e < len && src[*e] != '\n')
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

size_t src_caret(const char *src, size_t len, Pos p, char *out, size_t n) {
  size_t b, e, k = 0;
  out[0] = 0;
  if (p.line == 0 || !src)
    return 0;
  line_bounds(src, len, p.off, &b, &e);
  if (e - b > 240)
    return 0; /* a huge line helps nobody */
  k += (size_t)snprintf(out + k, n - k, "   %.*s\n   ", (int)(e - b), src + b);
  for (size_t i = b; i < b + p.col - 1 && i < e && k + 2 < n; i++)
    out[k++] = src[i] == '\t' ? '\t' : ' ';
  if (k + 3 < n) {
    out[k++] = '^';
    out[k++] = '\n';
    out[k] = 0;
  }
  return k;
}

static size_t caret(const Ctx *c, Pos p, char *out, size_t n) {
  return src_caret(c->src, c->srclen, p, out, n);
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

void ctx_locate(const Ctx *c, Pos p, char **head, char **show) {
  size_t n = strlen(c->file) + 64;
  *head = malloc(n);
  if (*head)
    snprintf(*head, n, "%s:%u:%u: error: ", c->file, p.line, p.col);
  *show = malloc(700);
  if (*show) {
    (*show)[0] = 0;
    if (p.line > 0 && c->src)
      caret(c, p, *show, 700);
  }
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

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4]) {
  v[0] += v[1], v[1] = ROTL(v[1], 13), v[1] ^= v[0], v[0] = ROTL(v[0], 32);
  v[2] += v[3], v[3] = ROTL(v[3], 16), v[3] ^= v[2];
  v[0] += v[3], v[3] = ROTL(v[3], 21), v[3] ^= v[0];
  v[2] += v[1], v[1] = ROTL(v[1], 17), v[1] ^= v[2], v[2] = ROTL(v[2], 32);
}

/* SipHash-1-3 (Aumasson and Bernstein; the variant Python and Rust use for
 * their tables): without the key, which inputs collide is unknowable. */
static uint64_t siphash(const uint64_t k[2], const char *s, size_t n) {
  uint64_t v[4] = {k[0] ^ 0x736f6d6570736575ULL, k[1] ^ 0x646f72616e646f6dULL,
                   k[0] ^ 0x6c7967656e657261ULL, k[1] ^ 0x7465646279746573ULL};
  uint64_t m = (uint64_t)n << 56;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = 0;
    for (int j = 0; j < 8; j++)
      w |= (uint64_t)(unsigned char)s[i + j] << (8 * j);
    v[3] ^= w, sip_round(v), v[0] ^= w;
  }
  for (int j = 0; i + (size_t)j < n; j++)
    m |= (uint64_t)(unsigned char)s[i + (size_t)j] << (8 * j);
  v[3] ^= m, sip_round(v), v[0] ^= m;
  v[2] ^= 0xff;
  sip_round(v), sip_round(v), sip_round(v);
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint32_t map_slot(const Map *m, const char *key) {
  uint32_t mask = m->cap - 1;
  uint32_t i = (uint32_t)siphash(m->key, key, strlen(key)) & mask;
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
  memcpy(n.key, m->cap ? m->key : c->key, sizeof n.key);
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
