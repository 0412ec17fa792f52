/* test_base.c: the compile context's memory (compiler/base.c). Small blocks
 * come from malloc; from 4 MB on they are mapped from the kernel and grow
 * by moving their pages, not by copying them; the arena switches to 8 MB
 * mapped chunks past 16 MB. Whatever the path, a block keeps its bytes as
 * it grows, memory from the arena starts zeroed, and a detached string
 * outlives the context. Under AddressSanitizer nothing is mapped (it would
 * hide overflows), so these tests then check the malloc path only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/base.h"
#include "../compiler/model.h"
#include "testutil.h"

/* Run fn(ctx, arg) under the context's protected call, then free the
 * context: what fn allocated is gone, except what it detached. */
static void in_context(void (*fn)(Ctx *, void *), void *arg) {
  Ctx c;
  exprc_limits lim = model_limits(NULL);
  ctx_init(&c, "test_base", "", 0, &lim);
  ck_assert_int_eq(ctx_protect(&c, fn, arg), EXPRC_OK);
  ctx_free(&c);
}

typedef struct Grow {
  size_t wrong_at, wrong_size; /* SIZE_MAX, 0: none */
} Grow;

/* Double a block from 16 bytes to 64 MB, through the 4 MB switch to a
 * mapping and many moves, filling each new part; check every byte after
 * each step. A second block grows in step, so that the mapping cannot
 * always grow where it stands. */
static void grow(Ctx *c, void *arg) {
  Grow *g = arg;
  unsigned char *a = NULL, *b = NULL;
  g->wrong_at = SIZE_MAX;
  for (size_t had = 0, n = 16; n <= ((size_t)64 << 20); had = n, n *= 2) {
    a = ctx_realloc(c, a, n);
    b = ctx_realloc(c, b, n);
    tu_fill(a, had, n, 1);
    tu_fill(b, had, n, 2);
    size_t wa = tu_first_wrong(a, n, 1), wb = tu_first_wrong(b, n, 2);
    if (wa != SIZE_MAX || wb != SIZE_MAX) {
      g->wrong_at = wa < wb ? wa : wb, g->wrong_size = n;
      return;
    }
  }
  a = ctx_realloc(c, a, 100); /* shrinking keeps the front */
  if (tu_first_wrong(a, 100, 1) != SIZE_MAX)
    g->wrong_at = tu_first_wrong(a, 100, 1), g->wrong_size = 100;
  ctx_release(c, b); /* kept as a spare: the next big request takes it */
  unsigned char *d = ctx_realloc(c, NULL, (size_t)40 << 20);
  tu_fill(d, 0, (size_t)40 << 20, 3);
  if (tu_first_wrong(d, (size_t)40 << 20, 3) != SIZE_MAX)
    g->wrong_at = tu_first_wrong(d, (size_t)40 << 20, 3), g->wrong_size = 40 << 20;
}

START_TEST(growing_blocks_keep_their_bytes) {
  Grow g;
  in_context(grow, &g);
  ck_assert_msg(g.wrong_at == SIZE_MAX, "byte %zu wrong at size %zu",
                g.wrong_at, g.wrong_size);
}
END_TEST

typedef struct Arena {
  size_t nonzero, wrong; /* counts */
} Arena;

/* 48 MB of the arena in 200-byte pieces, past the switch to big chunks:
 * each starts zeroed, and keeps what was written into it. */
#define PIECES 240000
#define PIECE 200

static void arena(Ctx *c, void *arg) {
  Arena *a = arg;
  unsigned char **piece = ctx_realloc(c, NULL, PIECES * sizeof *piece);
  a->nonzero = a->wrong = 0;
  for (unsigned k = 0; k < PIECES; k++) {
    piece[k] = ctx_alloc(c, PIECE);
    for (int i = 0; i < PIECE; i++)
      a->nonzero += piece[k][i] != 0;
    tu_fill(piece[k], 0, PIECE, k);
  }
  for (unsigned k = 0; k < PIECES; k++)
    a->wrong += tu_first_wrong(piece[k], PIECE, k) != SIZE_MAX;
}

START_TEST(the_arena_gives_zeroed_memory_that_stays_put) {
  Arena a;
  in_context(arena, &a);
  ck_assert_uint_eq(a.nonzero, 0);
  ck_assert_uint_eq(a.wrong, 0);
}
END_TEST

typedef struct Text {
  size_t len;
  char *s;
} Text;

/* A string built in a growing block, as the emitter builds the C text. */
static void text(Ctx *c, void *arg) {
  Text *t = arg;
  char *s = ctx_realloc(c, NULL, t->len + 1);
  for (size_t i = 0; i < t->len; i++)
    s[i] = (char)('a' + i % 26);
  s[t->len] = 0;
  t->s = ctx_detach_str(c, s);
}

/* Both sides of the switch: the string outlives the context, whole. */
START_TEST(a_detached_string_outlives_the_context) {
  size_t lens[] = {1000, (size_t)9 << 20};
  for (int k = 0; k < 2; k++) {
    Text t = {.len = lens[k]};
    in_context(text, &t);
    ck_assert_uint_eq(strlen(t.s), lens[k]);
    ck_assert_int_eq(t.s[lens[k] - 1], 'a' + (int)((lens[k] - 1) % 26));
    ctx_free_str(t.s);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("base");
  TCase *tc = tu_tcase("memory", 120);
  tcase_add_test(tc, growing_blocks_keep_their_bytes);
  tcase_add_test(tc, the_arena_gives_zeroed_memory_that_stays_put);
  tcase_add_test(tc, a_detached_string_outlives_the_context);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
