/* train_chars.c: a character-level model trained from integer ids.
 *
 *   train_chars [TEXT] [--epochs N] [--seed N]
 *
 * Reads a text (by default the GNU GPL version 3, which Debian's base-files
 * package ships as /usr/share/common-licenses/GPL-3), turns each character
 * into its ASCII code (an id from 0 to 127), and trains
 * examples/char_ngram.expr to predict each character from the three before
 * it, with Adam on minibatches of 256. The first 90% of the text trains;
 * the last 10% tests. It prints the test loss and accuracy after each epoch
 * and, for comparison, the accuracy of always guessing the most common
 * character of the training text.
 *
 * The ids go in with exprc_set_int64; the params are updated in place
 * through the views exprc_get hands out. Only include/exprc.h is used.
 */
#include <exprc.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CTX = 3, BATCH = 256, MAXP = 16 };

static char *read_text(const char *path, long *n) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *s = NULL;
  long cap = 0;
  *n = 0;
  for (int c; (c = fgetc(f)) != EOF;) {
    if (*n == cap) {
      cap = cap ? 2 * cap : 65536;
      char *t = realloc(s, (size_t)cap);
      if (!t)
        break;
      s = t;
    }
    s[(*n)++] = (char)(c & 127); /* ASCII; other bytes fold into it */
  }
  fclose(f);
  return s;
}

/* Examples lo .. lo+n-1 (the character at position CTX + k and the CTX
 * before it) into ctx[n][CTX] and next[n]. */
static void batch(const char *text, const long *order, long n, int64_t *ctx,
                  int64_t *next) {
  for (long k = 0; k < n; k++) {
    long at = order[k] + CTX;
    for (int j = 0; j < CTX; j++)
      ctx[k * CTX + j] = (unsigned char)text[at - CTX + j];
    next[k] = (unsigned char)text[at];
  }
}

static int run(exprc_model *m, const char *text, const long *order, long n,
               int64_t *ctx, int64_t *next, int grad) {
  int64_t sc[2] = {n, CTX}, sn[2] = {n, 1};
  batch(text, order, n, ctx, next);
  if (exprc_set_int64(m, "ctx", ctx, 2, sc) != EXPRC_OK ||
      exprc_set_int64(m, "next", next, 2, sn) != EXPRC_OK)
    return -1;
  return (grad ? exprc_gradient(m, "loss") : exprc_forward(m)) == EXPRC_OK
             ? 0 : -1;
}

typedef struct Adam {
  exprc_tensor p[MAXP], g[MAXP];
  double *mo[MAXP], *ve[MAXP];
  int np;
  long t;
} Adam;

static int adam_open(exprc_model *m, Adam *a) {
  a->np = exprc_count(m, EXPRC_PARAM);
  if (a->np > MAXP)
    return -1;
  for (int i = 0; i < a->np; i++) {
    exprc_get(m, EXPRC_PARAM, i, &a->p[i]);
    a->mo[i] = calloc((size_t)a->p[i].size, sizeof(double));
    a->ve[i] = calloc((size_t)a->p[i].size, sizeof(double));
    if (!a->mo[i] || !a->ve[i])
      return -1;
  }
  return 0;
}

static void adam_step(exprc_model *m, Adam *a, double lr) {
  const double b1 = 0.9, b2 = 0.999;
  a->t++;
  double c1 = 1 - pow(b1, (double)a->t), c2 = 1 - pow(b2, (double)a->t);
  for (int i = 0; i < a->np; i++) {
    exprc_tensor g;
    exprc_find_grad(m, "loss", a->p[i].name, &g);
    for (int64_t k = 0; k < a->p[i].size; k++) {
      a->mo[i][k] = b1 * a->mo[i][k] + (1 - b1) * g.data[k];
      a->ve[i][k] = b2 * a->ve[i][k] + (1 - b2) * g.data[k] * g.data[k];
      a->p[i].data[k] -=
          lr * (a->mo[i][k] / c1) / (sqrt(a->ve[i][k] / c2) + 1e-8);
    }
  }
}

/* Test loss and accuracy over examples order[0..n-1], in batches. */
static int test(exprc_model *m, const char *text, const long *order, long n,
                int64_t *ctx, int64_t *next, double *loss, double *acc) {
  long right = 0;
  double sum = 0;
  for (long lo = 0; lo < n; lo += BATCH) {
    long k = n - lo < BATCH ? n - lo : BATCH;
    if (run(m, text, order + lo, k, ctx, next, 0) != 0)
      return -1;
    exprc_tensor guess, l;
    exprc_find(m, "guess", &guess);
    exprc_find(m, "loss", &l);
    sum += l.data[0] * (double)k;
    for (long i = 0; i < k; i++)
      right += (int64_t)guess.data[i] == next[i];
  }
  *loss = sum / (double)n;
  *acc = (double)right / (double)n;
  return 0;
}

static uint64_t rnd(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int main(int argc, char **argv) {
  const char *path = "/usr/share/common-licenses/GPL-3";
  const char *model = "examples/char_ngram.expr";
  int epochs = 15;
  uint64_t seed = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
      epochs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
      seed = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--model") && i + 1 < argc)
      model = argv[++i];
    else if (argv[i][0] != '-')
      path = argv[i];
    else {
      fprintf(stderr, "usage: train_chars [TEXT] [--epochs N] [--seed N] "
              "[--model FILE]\n");
      return 2;
    }
  }
  long n;
  char *text = read_text(path, &n);
  if (!text || n < 100) {
    fprintf(stderr, "train_chars: cannot read a text from %s\n", path);
    return 1;
  }
  long nex = n - CTX, ntrain = nex * 9 / 10, ntest = nex - ntrain;
  long *order = malloc((size_t)nex * sizeof *order);
  int64_t *ctx = malloc(BATCH * CTX * sizeof *ctx), *next = malloc(BATCH * sizeof *next);
  long count[128] = {0}, top = 0;
  for (long k = 0; k < nex; k++)
    order[k] = k;
  for (long k = 0; k < ntrain; k++)
    count[(unsigned char)text[k + CTX]]++;
  for (int c = 0; c < 128; c++)
    top = count[c] > count[top] ? c : top;
  long base = 0;
  for (long k = ntrain; k < nex; k++)
    base += (unsigned char)text[k + CTX] == top;
  exprc_options o;
  exprc_options_default(&o);
  o.seed = seed;
  exprc_model *m;
  Adam a = {0};
  if (exprc_compile_file(model, &o, &m) != EXPRC_OK || adam_open(m, &a) != 0) {
    fprintf(stderr, "train_chars: %s\n", exprc_errmsg(m));
    return 1;
  }
  printf("%s: %ld characters, %ld training and %ld test examples\n", path, n,
         ntrain, ntest);
  printf("always guessing '%c' (the most common): test accuracy %.3f\n",
         (char)top, (double)base / (double)ntest);
  uint64_t rs = seed;
  for (int e = 1; e <= epochs; e++) {
    for (long k = ntrain - 1; k > 0; k--) { /* shuffle the training part */
      long j = (long)(rnd(&rs) % (uint64_t)(k + 1)), t = order[k];
      order[k] = order[j], order[j] = t;
    }
    for (long lo = 0; lo + BATCH <= ntrain; lo += BATCH) {
      if (run(m, text, order + lo, BATCH, ctx, next, 1) != 0) {
        fprintf(stderr, "train_chars: %s\n", exprc_errmsg(m));
        return 1;
      }
      adam_step(m, &a, 0.01);
    }
    double loss, acc;
    if (test(m, text, order + ntrain, ntest, ctx, next, &loss, &acc) != 0) {
      fprintf(stderr, "train_chars: %s\n", exprc_errmsg(m));
      return 1;
    }
    printf("epoch %d: test loss %.3f, test accuracy %.3f\n", e, loss, acc);
  }
  for (int i = 0; i < a.np; i++)
    free(a.mo[i]), free(a.ve[i]);
  exprc_free(m);
  free(order), free(ctx), free(next), free(text);
  return 0;
}
