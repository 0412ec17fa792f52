/* char_gru.c: train examples/char/char_gru.expr, a GRU character model, on a
 * text file, with Adam, printing the loss (nats per character) every 25
 * steps.
 *
 *   char_gru MODEL.expr TEXT [--steps N] [--seed N]
 *
 * Each step takes 32 windows of 17 characters at random places in the
 * text: the model reads the first 16 of each and predicts characters 2 to
 * 17. Symbols: a-z (upper case folded), space (any white space), and one
 * for everything else: 28. A model that knows nothing scores ln 28 = 3.33.
 * Only exprc.h and libc are used.
 *
 * On the text of the GNU GPL version 3 as Debian ships it in base-files
 * (/usr/share/common-licenses/GPL-3, 35,149 bytes; the licence's own terms
 * let anyone copy it verbatim), 300 steps, seed 1, take about 11 s here:
 *
 *   char_gru examples/char/char_gru.expr /usr/share/common-licenses/GPL-3
 *
 *   step  loss (nats per character)
 *      1  3.3463
 *     25  2.4953
 *     50  2.1615
 *     75  1.9931
 *    100  1.7828
 *    125  1.8396
 *    150  1.6295
 *    175  1.5122
 *    200  1.5891
 *    225  1.4317
 *    250  1.5328
 *    275  1.4883
 *    300  1.4135
 */
#include <exprc.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T = 16, B = 32, V = 28, MAXP = 16 };

static int symbol(int c) {
  if (c >= 'A' && c <= 'Z')
    c += 'a' - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a';
  return c == ' ' || c == '\n' || c == '\t' || c == '\r' ? 26 : 27;
}

static char *read_text(const char *path, long *n) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *s = NULL;
  size_t cap = 0, len = 0, got;
  do {
    if (len + 4096 > cap && !(s = realloc(s, cap = 2 * cap + 4096)))
      break;
    got = fread(s + len, 1, cap - len, f);
    len += got;
  } while (got > 0);
  fclose(f);
  *n = (long)len;
  return s;
}

static uint64_t next_random(uint64_t *x) { /* splitmix64 */
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* One batch of windows, one-hot: xs[T][B][V], ys[T*B][V]. */
static void batch(const char *text, long n, uint64_t *rng, double *xs,
                  double *ys) {
  memset(xs, 0, sizeof(double) * T * B * V);
  memset(ys, 0, sizeof(double) * T * B * V);
  for (int b = 0; b < B; b++) {
    long at = (long)(next_random(rng) % (uint64_t)(n - T - 1));
    for (int t = 0; t < T; t++) {
      xs[(t * B + b) * V + symbol((unsigned char)text[at + t])] = 1;
      ys[(t * B + b) * V + symbol((unsigned char)text[at + t + 1])] = 1;
    }
  }
}

/* Adam (Kingma and Ba) on every param, with the moments in m1, m2. */
static void adam(exprc_model *m, double **m1, double **m2, long step) {
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  int np = exprc_count(m, EXPRC_GRADIENT);
  for (int i = 0; i < np && i < MAXP; i++) {
    exprc_tensor g, p;
    exprc_get(m, EXPRC_GRADIENT, i, &g);
    if (exprc_find(m, g.name, &p) != EXPRC_OK)
      continue;
    if (!m1[i]) {
      m1[i] = calloc((size_t)p.size, sizeof(double));
      m2[i] = calloc((size_t)p.size, sizeof(double));
    }
    double c1 = 1 - pow(b1, (double)step), c2 = 1 - pow(b2, (double)step);
    for (int64_t k = 0; k < p.size && m1[i] && m2[i]; k++) {
      m1[i][k] = b1 * m1[i][k] + (1 - b1) * g.data[k];
      m2[i][k] = b2 * m2[i][k] + (1 - b2) * g.data[k] * g.data[k];
      p.data[k] -= lr * (m1[i][k] / c1) / (sqrt(m2[i][k] / c2) + eps);
    }
  }
}

int main(int argc, char **argv) {
  long steps = 300, n;
  uint64_t seed = 1;
  if (argc < 3) {
    fputs("usage: char_gru MODEL.expr TEXT [--steps N] [--seed N]\n", stderr);
    return 2;
  }
  for (int i = 3; i + 1 < argc; i += 2)
    if (!strcmp(argv[i], "--steps"))
      steps = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--seed"))
      seed = strtoull(argv[i + 1], NULL, 10);
  char *text = read_text(argv[2], &n);
  if (!text || n < T + 2) {
    fprintf(stderr, "char_gru: %s: cannot read enough text\n", argv[2]);
    return 2;
  }
  exprc_model *m;
  if (exprc_compile_file(argv[1], NULL, &m) != EXPRC_OK) {
    fprintf(stderr, "%s", exprc_errmsg(m));
    return 1;
  }
  static double xs[T * B * V], ys[T * B * V];
  double *m1[MAXP] = {0}, *m2[MAXP] = {0};
  const int64_t sx[3] = {T, B, V}, sy[2] = {T * B, V};
  printf("step  loss (nats per character)\n");
  for (long s = 1; s <= steps; s++) {
    batch(text, n, &seed, xs, ys);
    if (exprc_set(m, "xs", xs, 3, sx) != EXPRC_OK ||
        exprc_set(m, "ys", ys, 2, sy) != EXPRC_OK ||
        exprc_gradient(m, "loss") != EXPRC_OK) {
      fprintf(stderr, "char_gru: %s\n", exprc_errmsg(m));
      return 1;
    }
    exprc_tensor loss;
    if (exprc_get(m, EXPRC_LOSS, 0, &loss) != EXPRC_OK) {
      fprintf(stderr, "char_gru: %s\n", exprc_errmsg(m));
      return 1;
    }
    if (s == 1 || s % 25 == 0)
      printf("%4ld  %.4f\n", s, loss.data[0]);
    adam(m, m1, m2, s);
  }
  for (int i = 0; i < MAXP; i++)
    free(m1[i]), free(m2[i]);
  exprc_free(m);
  free(text);
  return 0;
}
