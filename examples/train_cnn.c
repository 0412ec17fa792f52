/* train_cnn.c: train a convolutional network on the 8x8 handwritten digits.
 *
 *   train_cnn MODEL.expr DIGITS.csv [--epochs N] [--seed N] [--keep X]
 *             [--threads N] [--lr X]
 *
 * DIGITS.csv is the UCI "Optical Recognition of Handwritten Digits" test
 * set as Debian's python3-sklearn ships it (digits.csv.gz, uncompressed):
 * 1,797 rows of 64 pixels (0..16, row by row) and the label 0..9, no header.
 * A seeded shuffle puts 80% of the rows in the training set and 20% in the
 * test set; pixels are divided by 16. The model (examples/cnn_digits.expr)
 * declares x[N, 1, 8, 8], y[N, 10] (one-hot), the dropout keep probability
 * `keep`, an output `scores` and `grad loss wrt` its params, which Adam
 * updates in place after every minibatch of 32. Each epoch prints the mean
 * training loss and the test accuracy (with keep = 1: no dropout).
 *
 * It uses nothing but include/exprc.h and the C library: the model is
 * compiled when the program runs, the batch size N is bound afresh by every
 * exprc_set, and the dropout masks are drawn inside the model from its own
 * seeded generator (--seed seeds both it and the initial params).
 */
#include <exprc.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PIX = 64, CLASSES = 10, BATCH = 32, MAX_ROWS = 4096, MAX_PARAMS = 16 };

typedef struct Opts {
  int epochs, threads;
  uint64_t seed;
  double keep, lr;
} Opts;

typedef struct Data {
  int n;
  double *x;  /* n * 64, scaled to [0, 1] */
  int *label; /* n */
} Data;

static int load(const char *path, Data *d) {
  FILE *f = fopen(path, "r");
  if (!f)
    return fprintf(stderr, "train_cnn: cannot open %s\n", path), -1;
  d->x = malloc(MAX_ROWS * PIX * sizeof *d->x);
  d->label = malloc(MAX_ROWS * sizeof *d->label);
  d->n = 0;
  double v[PIX + 1];
  for (;;) {
    int k = 0;
    while (k <= PIX && fscanf(f, " %lf ,", &v[k]) == 1)
      k++;
    if (k == 0)
      break;
    if (k != PIX + 1 || d->n == MAX_ROWS || v[PIX] < 0 || v[PIX] > 9)
      return fclose(f), fprintf(stderr, "train_cnn: %s: row %d is not 64 "
                                "pixels and a label\n", path, d->n + 1), -1;
    for (int j = 0; j < PIX; j++)
      d->x[d->n * PIX + j] = v[j] / 16;
    d->label[d->n++] = (int)v[PIX];
  }
  fclose(f);
  return d->n ? 0 : (fprintf(stderr, "train_cnn: %s is empty\n", path), -1);
}

/* splitmix64: the same order on every machine. */
static uint64_t next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void shuffle(int *a, int n, uint64_t *s) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(next(s) % (uint64_t)(i + 1)), t = a[i];
    a[i] = a[j], a[j] = t;
  }
}

/* Set x, y (rows idx[0..n-1]) and keep: binds N to n. */
static int set_batch(exprc_model *m, const Data *d, const int *idx, int n,
                     double keep, double *xb, double *yb) {
  memset(yb, 0, (size_t)n * CLASSES * sizeof *yb);
  for (int i = 0; i < n; i++) {
    memcpy(xb + i * PIX, d->x + idx[i] * PIX, PIX * sizeof *xb);
    yb[i * CLASSES + d->label[idx[i]]] = 1;
  }
  int64_t xs[4] = {n, 1, 8, 8}, ys[2] = {n, CLASSES};
  if (exprc_set(m, "x", xb, 4, xs) || exprc_set(m, "y", yb, 2, ys) ||
      exprc_set(m, "keep", &keep, 0, NULL))
    return fprintf(stderr, "train_cnn: %s\n", exprc_errmsg(m)), -1;
  return 0;
}

typedef struct Adam {
  int n;
  const char *name[MAX_PARAMS];
  double *m[MAX_PARAMS], *v[MAX_PARAMS];
  long step;
} Adam;

static void adam_step(exprc_model *model, Adam *a, double lr) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  a->step++;
  double c1 = 1 - pow(b1, (double)a->step), c2 = 1 - pow(b2, (double)a->step);
  for (int i = 0; i < a->n; i++) {
    exprc_tensor p, g;
    exprc_find(model, a->name[i], &p);
    exprc_find_grad(model, "loss", a->name[i], &g);
    for (int64_t k = 0; k < p.size; k++) {
      a->m[i][k] = b1 * a->m[i][k] + (1 - b1) * g.data[k];
      a->v[i][k] = b2 * a->v[i][k] + (1 - b2) * g.data[k] * g.data[k];
      p.data[k] -= lr * (a->m[i][k] / c1) / (sqrt(a->v[i][k] / c2) + eps);
    }
  }
}

static int adam_init(exprc_model *m, Adam *a) {
  memset(a, 0, sizeof *a);
  for (int i = 0; i < exprc_count(m, EXPRC_GRADIENT); i++) {
    exprc_tensor g, p;
    exprc_get(m, EXPRC_GRADIENT, i, &g);
    if (strcmp(g.loss, "loss") || a->n == MAX_PARAMS ||
        exprc_find(m, g.name, &p) != EXPRC_OK)
      continue;
    a->name[a->n] = g.name;
    a->m[a->n] = calloc((size_t)p.size, sizeof(double));
    a->v[a->n] = calloc((size_t)p.size, sizeof(double));
    a->n++;
  }
  return a->n ? 0 : (fprintf(stderr, "train_cnn: no 'grad loss wrt'\n"), -1);
}

/* The fraction of rows idx whose largest score is their label. */
static double accuracy(exprc_model *m, const Data *d, const int *idx, int n,
                       double *xb, double *yb) {
  int right = 0;
  for (int b = 0; b < n; b += BATCH) {
    int nb = n - b < BATCH ? n - b : BATCH;
    if (set_batch(m, d, idx + b, nb, 1.0, xb, yb) || exprc_forward(m))
      return -1;
    exprc_tensor s;
    exprc_find(m, "scores", &s);
    for (int i = 0; i < nb; i++) {
      int best = 0;
      for (int j = 1; j < CLASSES; j++)
        if (s.data[i * CLASSES + j] > s.data[i * CLASSES + best])
          best = j;
      right += best == d->label[idx[b + i]];
    }
  }
  return (double)right / n;
}

/* One epoch of minibatches in a fresh order; returns the mean loss. */
static double epoch(exprc_model *m, Adam *a, const Data *d, int *train,
                    int ntrain, const Opts *o, uint64_t *rng, double *xb,
                    double *yb) {
  double sum = 0;
  int batches = 0;
  shuffle(train, ntrain, rng);
  for (int b = 0; b + BATCH <= ntrain; b += BATCH, batches++) {
    if (set_batch(m, d, train + b, BATCH, o->keep, xb, yb) ||
        exprc_gradient(m, "loss"))
      return NAN;
    exprc_tensor l;
    exprc_get(m, EXPRC_LOSS, 0, &l);
    sum += l.data[0];
    adam_step(m, a, o->lr);
  }
  return sum / batches;
}

static int parse(int argc, char **argv, Opts *o) {
  *o = (Opts){.epochs = 40, .seed = 1, .keep = 0.75, .lr = 0.003};
  for (int i = 3; i + 1 < argc; i += 2) {
    char *end;
    double v = strtod(argv[i + 1], &end);
    if (*end || !(v > 0))
      return -1;
    if (!strcmp(argv[i], "--epochs")) o->epochs = (int)v;
    else if (!strcmp(argv[i], "--seed")) o->seed = (uint64_t)v;
    else if (!strcmp(argv[i], "--keep") && v <= 1) o->keep = v;
    else if (!strcmp(argv[i], "--threads")) o->threads = (int)v;
    else if (!strcmp(argv[i], "--lr")) o->lr = v;
    else return -1;
  }
  return argc >= 3 && argc % 2 == 1 ? 0 : -1;
}

int main(int argc, char **argv) {
  Opts o;
  Data d;
  if (parse(argc, argv, &o)) {
    fputs("usage: train_cnn MODEL.expr DIGITS.csv [--epochs N] [--seed N] "
          "[--keep X] [--threads N] [--lr X]\n", stderr);
    return 2;
  }
  if (load(argv[2], &d))
    return 1;
  exprc_options opt;
  exprc_options_default(&opt);
  opt.seed = o.seed;
  opt.threads = o.threads;
  exprc_model *m = NULL;
  if (exprc_compile_file(argv[1], &opt, &m) != EXPRC_OK) {
    fprintf(stderr, "%s\n", exprc_errmsg(m));
    exprc_free(m);
    return 1;
  }
  int *rows = malloc((size_t)d.n * sizeof *rows), ntest = d.n / 5;
  for (int i = 0; i < d.n; i++)
    rows[i] = i;
  uint64_t rng = o.seed;
  shuffle(rows, d.n, &rng);
  int *test = rows, *train = rows + ntest, ntrain = d.n - ntest;
  double *xb = malloc(BATCH * PIX * sizeof *xb);
  double *yb = malloc(BATCH * CLASSES * sizeof *yb);
  Adam a;
  int status = adam_init(m, &a);
  printf("%d training rows, %d test rows\n", ntrain, ntest);
  for (int e = 1; status == 0 && e <= o.epochs; e++) {
    double loss = epoch(m, &a, &d, train, ntrain, &o, &rng, xb, yb);
    double acc = accuracy(m, &d, test, ntest, xb, yb);
    if (isnan(loss) || acc < 0)
      status = fprintf(stderr, "train_cnn: %s\n", exprc_errmsg(m)) ? 1 : 1;
    else
      printf("epoch %3d  loss %.4f  test acc %5.1f%%\n", e, loss, 100 * acc);
  }
  if (status == 0)
    printf("test accuracy %.2f%% (%d rows)\n",
           100 * accuracy(m, &d, test, ntest, xb, yb), ntest);
  for (int i = 0; i < a.n; i++)
    free(a.m[i]), free(a.v[i]);
  free(xb), free(yb), free(rows), free(d.x), free(d.label);
  exprc_free(m);
  return status;
}
