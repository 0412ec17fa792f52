/* base.h: what every stage of the compiler shares.
 *
 * A compile runs inside one Ctx. Errors a user can cause are reported with
 * ctx_error(), which formats a gcc-style located message and unwinds to the
 * driver with longjmp, as Lua does: stages never check return codes for user
 * errors, and since every allocation of a compile belongs to the Ctx (its
 * arena) or to an object the driver frees, unwinding leaks nothing. The
 * library never exits.
 */
#ifndef EXPRC_BASE_H
#define EXPRC_BASE_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "exprc.h"

#define MAX_RANK 8
#define NONE UINT32_MAX

#if defined(__GNUC__)
#define NORETURN __attribute__((noreturn))
#define PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NORETURN
#define PRINTF(a, b)
#endif


/* A place in the model source: 1-based line and column, byte offset. */
typedef struct Pos {
  uint32_t line, col, off;
} Pos;

/* A tensor shape. A dimension >= 0 is a constant size; a negative one is the
 * symbolic `dim` number -(d + 1), bound at call time. */
typedef struct Shape {
  int rank;
  int64_t d[MAX_RANK];
} Shape;

#define DIM_SYM(k) (-(int64_t)(k) - 1)
#define DIM_IS_SYM(d) ((d) < 0)
#define DIM_INDEX(d) ((int)(-(d) - 1))

/* Symbolic number k >= SIZE_BASE is not a dim but size term k - SIZE_BASE
 * (size.h): a product of dims times a constant, plus an offset, over a
 * divisor. Its value at run time is D[k], as a dim's is. */
#define SIZE_BASE 64
#define MAX_TERM_DIMS 8
typedef struct SizeTerm {
  int64_t coef, off, div; /* max(0, floor((coef * prod + off) / div)) */
  int n;                  /* dims in the product */
  uint8_t dim[MAX_TERM_DIMS]; /* sorted dim numbers */
} SizeTerm;

typedef struct Chunk Chunk;

typedef struct Ctx {
  jmp_buf *jb;               /* where ctx_error unwinds to */
  const char *file;          /* model file name, for messages */
  const char *src;           /* model text, for the caret line */
  size_t srclen;
  exprc_status status;       /* status of the first error */
  char *msg;                 /* malloc'd message of the first error */
  Chunk *arena;              /* compile-lifetime small allocations */
  uint32_t nchunk;           /* chunks in the arena */
  struct Blk *blocks;        /* compile-lifetime growable blocks */
  struct Blk *spare;         /* big blocks released, kept for reuse */
  exprc_limits lim;
  const char *const *dimnames; /* names of symbolic dims, for messages */
  int64_t work;              /* steps of the passes ctx_work counts */
  int64_t bytes;             /* held in the arena and blocks, against
                                lim.max_compile_bytes */
  Pos at;                    /* where the compile is working (set by the
                                stages as they go), for the memory limit */
  uint64_t key[2];           /* per-context key of the maps' hash, so that
                                no model can be made of colliding names */
  SizeTerm *term;            /* size terms (size.c), deduplicated */
  uint32_t nterm, capterm;
  const char **sizename;     /* dims' names, then at SIZE_BASE + k term k's
                                text: what dimnames points to */
  uint32_t capsizename;
} Ctx;

void ctx_init(Ctx *c, const char *file, const char *src, size_t len,
              const exprc_limits *lim);
void ctx_free(Ctx *c);
/* The string in block p (from ctx_realloc) as the caller's own, freed with
 * ctx_free_str: a big result leaves the context without being copied into
 * memory the process has not touched yet (a fault a page). */
char *ctx_detach_str(Ctx *c, char *p);
void ctx_free_str(char *s);
/* Free the released blocks kept for reuse (ctx_realloc): before a stage
 * whose memory does not come from the context (libtcc's). */
void ctx_trim(Ctx *c);
/* The one protected call, as Lua's: run fn(c, arg) so that a ctx_error or
 * ctx_fail anywhere inside it returns here. Returns EXPRC_OK, or the status
 * of the first error, whose message is then in c->msg. */
exprc_status ctx_protect(Ctx *c, void (*fn)(Ctx *c, void *arg), void *arg);
void *ctx_alloc(Ctx *c, size_t n);          /* zeroed, lives until ctx_free */
char *ctx_strndup(Ctx *c, const char *s, size_t n);
NORETURN void ctx_error(Ctx *c, Pos p, exprc_status st, const char *fmt, ...)
    PRINTF(4, 5);
/* Write the source line of p and a caret under its column into out (n
 * bytes; tabs kept so that the caret lines up in a terminal); returns its
 * length, 0 for no place or a line too long to help. */
size_t src_caret(const char *src, size_t len, Pos p, char *out, size_t n);
/* For errors found later, at run time: the head of a located message at p
 * ("file:line:col: error: ") and the source line with its caret, both
 * malloc'ed (NULL when out of memory). */
void ctx_locate(const Ctx *c, Pos p, char **head, char **show);
NORETURN void ctx_fail(Ctx *c, exprc_status st, const char *fmt, ...)
    PRINTF(3, 4);
/* A growable block owned by the context (freed by ctx_free, or earlier by
 * ctx_release); p == NULL allocates. Unwinds with NOMEM on failure. */
void *ctx_realloc(Ctx *c, void *p, size_t n);
void ctx_release(Ctx *c, void *p);

/* Memory straight from the kernel, for blocks big enough that malloc would
 * map them afresh each time anyway (base.c says why): blocks of
 * mem_big_min() bytes and more (SIZE_MAX under AddressSanitizer, which
 * sees malloc's blocks only) are mapped in whole huge pages, mem_len(n)
 * bytes for n, and the kernel is asked for huge pages. mem_map's memory is
 * zeroed; mem_remap grows a mapping of old bytes to len, moving its pages,
 * not copying them; either gives NULL when out of memory (p then intact).
 * mem_free frees a mapping (mapped: its length) or malloc's block (0). */
size_t mem_big_min(void);
size_t mem_len(size_t bytes);
void *mem_map(size_t len);
void *mem_remap(void *p, size_t old, size_t len);
void mem_free(void *p, size_t mapped);

/* Count n steps of a pass whose cost is a product (each gradient pass, each
 * entry point, walks the whole graph); past 256 x max_nodes steps the compile
 * stops with a LIMIT error at p, so that no model makes it run for hours.
 * A step is a node visited by a cheap walk (a flag set, a count); a node
 * that a gradient pass differentiates, or an entry point plans and emits as
 * C, costs WORK_PER_NODE steps: about what it takes in time. */
#define WORK_PER_NODE 64
void ctx_work(Ctx *c, Pos p, int64_t n);

/* Grow a context-owned dynamic array *pp of *cap elements of size `sz` so
 * that it holds `need`. */
void vec_reserve(Ctx *c, void *pp, uint32_t *cap, uint32_t need, size_t sz);

int shape_numel_const(const Shape *s, int64_t *out); /* 0 if symbolic */
int shape_eq(const Shape *a, const Shape *b);
char *shape_str(const Shape *s, const char *const *dimnames, char *buf,
                size_t n);



/* A string-keyed hash map whose tables live in the Ctx arena. Keys are not
 * copied: they must live as long as the map (arena strings do). Names come
 * from the model, so the hash is keyed (SipHash-1-3) with a key drawn
 * afresh for each context: colliding names cannot be computed in advance. */
typedef struct Map {
  const char **keys;
  void **vals;
  uint32_t cap, n;
  uint64_t key[2];
} Map;

void *map_get(const Map *m, const char *key);
void map_put(Ctx *c, Map *m, const char *key, void *val);
/* FNV-1a: a fixed, unkeyed hash (the same in every process), for keys that
 * must be stable, not for tables an input can fill. */
uint64_t hash_bytes(const void *p, size_t n, uint64_t h);
#endif
