/* train.c: train a .expr model on a CSV file with minibatch SGD or Adam.
 *
 *   train MODEL.expr DATA.csv [--adam] [--epochs N] [--seed N] [--lr X]
 *         [--batch N] [--test FRACTION] [--one-vs-rest CLASS]
 *
 * It uses nothing but include/exprc.h and the C library, to show what a
 * program embedding exprc looks like: the model is compiled when the program
 * runs, its params are updated in place through the pointers the API hands
 * out, and the batch size is a `dim` bound afresh by every exprc_set.
 *
 * What the model must declare (examples/softmax_mlp.expr is one):
 *   dim N                the batch size
 *   input x[N, F]        F features: every CSV column but the last
 *   input y[N, K]        the target (or y[N] when K = 1)
 *   output PRED, ...     the first output, [N, K]: class scores or values
 *   grad LOSS wrt ...    the first grad statement: what is minimised; every
 *                        param it is taken with respect to is trained
 *
 * The last CSV column is the target. When every target is a whole number
 * in 0..K-1 (in 0..1 when K = 1) the task is classification: K > 1 means
 * one-hot targets and argmax predictions, K = 1 means 0/1 targets and a
 * probability threshold of 0.5. Otherwise it is regression, reported as
 * RMSE in the data's units and R^2. `--one-vs-rest C` makes class C the
 * positive class of a binary classifier. Features (and regression targets)
 * are standardised with the training rows' mean and deviation.
 */
#include <exprc.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- options ---- */

typedef struct Opts {
  const char *model, *data;
  int adam, epochs, batch, one_vs_rest;
  uint64_t seed;
  double lr, test;
} Opts;

static void usage(FILE *f) {
  fputs("usage: train MODEL.expr DATA.csv [--adam] [--epochs N] [--seed N]\n"
        "             [--lr X] [--batch N] [--test FRACTION] [--one-vs-rest C]\n"
        "Trains the params of MODEL on DATA (a CSV file with a header row,\n"
        "the target in the last column) and prints the test-set result.\n"
        "Defaults: SGD with --lr 0.1 (Adam: 0.01), --epochs 60, --batch 16,\n"
        "--test 0.2, --seed 2.\n",
        f);
}

static int bad_usage(const char *what, const char *arg) {
  fprintf(stderr, "train: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
  usage(stderr);
  return 2;
}

static int parse_number(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi))
    return 0;
  *out = v;
  return 1;
}

/* One "--flag VALUE" option; returns 0 when the value is bad. */
static int parse_valued(Opts *o, const char *flag, const char *val) {
  double v;
  if (!strcmp(flag, "--epochs") && parse_number(val, 1, 1e6, &v))
    o->epochs = (int)v;
  else if (!strcmp(flag, "--batch") && parse_number(val, 1, 1e6, &v))
    o->batch = (int)v;
  else if (!strcmp(flag, "--seed") && parse_number(val, 0, 1e18, &v))
    o->seed = (uint64_t)v;
  else if (!strcmp(flag, "--lr") && parse_number(val, 1e-12, 1e3, &v))
    o->lr = v;
  else if (!strcmp(flag, "--test") && parse_number(val, 0.01, 0.9, &v))
    o->test = v;
  else if (!strcmp(flag, "--one-vs-rest") && parse_number(val, 0, 1e6, &v))
    o->one_vs_rest = (int)v;
  else
    return 0;
  return 1;
}

static int parse_opts(int argc, char **argv, Opts *o) {
  *o = (Opts){.epochs = 60, .batch = 16, .seed = 2, .test = 0.2,
              .one_vs_rest = -1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      return usage(stdout), -1;
    if (!strcmp(a, "--adam"))
      o->adam = 1;
    else if (a[0] == '-' && a[1] == '-') {
      if (i + 1 >= argc)
        return bad_usage("option needs a value", a);
      if (!parse_valued(o, a, argv[++i]))
        return bad_usage("bad option or value", a);
    } else if (!o->model)
      o->model = a;
    else if (!o->data)
      o->data = a;
    else
      return bad_usage("too many arguments", a);
  }
  if (!o->data)
    return bad_usage("need a model file and a data file", NULL);
  if (o->lr == 0)
    o->lr = o->adam ? 0.01 : 0.1;
  return 0;
}

/* ---- CSV: a header row, then rows of numbers ---- */

typedef struct Table {
  int rows, cols;
  double *v; /* rows * cols, row-major */
} Table;

/* Split one line into numbers; returns how many, or -1 on bad text. */
static int parse_row(char *line, double *out, int max) {
  int n = 0;
  char *s = line;
  for (;;) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || n == max)
      return -1;
    out[n++] = v;
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
      end++;
    if (*end == 0)
      return n;
    if (*end != ',')
      return -1;
    s = end + 1;
  }
}

static int count_fields(const char *line) {
  int n = 1;
  for (; *line; line++)
    n += *line == ',';
  return n;
}

static int blank(const char *s) {
  return s[strspn(s, " \t\r\n")] == 0;
}

static int add_row(Table *t, const double *row, int *cap) {
  if (t->rows == *cap) {
    *cap = *cap ? *cap * 2 : 256;
    double *nv = realloc(t->v, (size_t)*cap * (size_t)t->cols * sizeof *nv);
    if (!nv)
      return 0;
    t->v = nv;
  }
  memcpy(t->v + (size_t)t->rows * (size_t)t->cols, row,
         (size_t)t->cols * sizeof *row);
  t->rows++;
  return 1;
}

/* Read the whole file; messages name the file and line. */
static int load_csv(const char *path, Table *t) {
  FILE *f = fopen(path, "r");
  if (!f)
    return fprintf(stderr, "train: %s: %s\n", path, strerror(errno)), 0;
  char line[4096];
  double row[256];
  int lineno = 1, cap = 0, ok = 1;
  *t = (Table){0};
  if (!fgets(line, sizeof line, f) || (t->cols = count_fields(line)) < 2 ||
      t->cols > 256) {
    fprintf(stderr, "train: %s:1: expected a header row of 2 to 256 names\n",
            path);
    ok = 0;
  }
  while (ok && fgets(line, sizeof line, f)) {
    lineno++;
    if (blank(line))
      continue;
    if (parse_row(line, row, 256) != t->cols) {
      fprintf(stderr, "train: %s:%d: expected %d numbers\n", path, lineno,
              t->cols);
      ok = 0;
    } else if (!add_row(t, row, &cap)) {
      fprintf(stderr, "train: out of memory\n");
      ok = 0;
    }
  }
  fclose(f);
  if (ok && t->rows < 4)
    ok = (fprintf(stderr, "train: %s: fewer than 4 rows\n", path), 0);
  return ok;
}

/* ---- a seeded shuffle (splitmix64), so a seed gives the same split ---- */

static uint64_t next_random(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void shuffle(int *a, int n, uint64_t *s) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(next_random(s) % (uint64_t)(i + 1));
    int t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/* ---- the data set, split and standardised ---- */

typedef struct Data {
  int n, f, k;         /* rows, features, target width */
  double *x, *y;       /* n*f features, n*k targets (one-hot when classes) */
  int *label;          /* class of each row, or NULL for regression */
  double ymean, ystd;  /* regression: how targets were scaled */
} Data;

typedef struct Split {
  Data all;
  int *train, *test;   /* row numbers */
  int ntrain, ntest;
} Split;

/* Whole numbers in 0..classes-1 everywhere: a classification target. */
static int is_class_column(const Table *t, int classes) {
  for (int r = 0; r < t->rows; r++) {
    double v = t->v[(size_t)r * (size_t)t->cols + (size_t)t->cols - 1];
    if (v != floor(v) || v < 0 || v >= classes)
      return 0;
  }
  return 1;
}

/* Targets: one-hot rows (K > 1), 0/1 (K = 1, classes) or values. */
static void fill_targets(const Table *t, Data *d, int classes, int ovr) {
  for (int r = 0; r < d->n; r++) {
    double v = t->v[(size_t)r * (size_t)t->cols + (size_t)d->f];
    if (ovr >= 0)
      v = v == ovr;
    if (classes) {
      d->label[r] = (int)v;
      if (d->k == 1)
        d->y[r] = v;
      else
        d->y[(size_t)r * (size_t)d->k + (size_t)v] = 1;
    } else {
      d->y[r] = v;
    }
  }
}

static int make_data(const Table *t, int k, int ovr, Data *d) {
  int classes = ovr >= 0 || is_class_column(t, k > 1 ? k : 2);
  *d = (Data){.n = t->rows, .f = t->cols - 1, .k = k, .ystd = 1};
  if (!classes && k != 1)
    return fprintf(stderr, "train: the last column holds no class numbers "
                   "0..%d, and a regression target needs y[N, 1]\n", k - 1), 0;
  d->x = malloc((size_t)d->n * (size_t)d->f * sizeof *d->x);
  d->y = calloc((size_t)d->n * (size_t)k, sizeof *d->y);
  d->label = classes ? malloc((size_t)d->n * sizeof *d->label) : NULL;
  if (!d->x || !d->y || (classes && !d->label))
    return 0;
  for (int r = 0; r < d->n; r++)
    memcpy(d->x + (size_t)r * (size_t)d->f, t->v + (size_t)r * (size_t)t->cols,
           (size_t)d->f * sizeof *d->x);
  fill_targets(t, d, classes, ovr);
  return 1;
}

/* Mean and deviation of column c (stride w) over the training rows. */
static void column_stats(const double *v, int w, int c, const int *rows, int n,
                         double *mean, double *std) {
  double s = 0, ss = 0;
  for (int i = 0; i < n; i++)
    s += v[(size_t)rows[i] * (size_t)w + (size_t)c];
  *mean = s / n;
  for (int i = 0; i < n; i++) {
    double e = v[(size_t)rows[i] * (size_t)w + (size_t)c] - *mean;
    ss += e * e;
  }
  *std = sqrt(ss / n);
  if (!(*std > 0))
    *std = 1; /* a constant column stays as it is, centred */
}

static void scale_column(double *v, int n, int w, int c, double mean,
                         double std) {
  for (int r = 0; r < n; r++)
    v[(size_t)r * (size_t)w + (size_t)c] =
        (v[(size_t)r * (size_t)w + (size_t)c] - mean) / std;
}

/* Standardise with training statistics only: the test rows must not leak. */
static void standardise(Split *s) {
  Data *d = &s->all;
  for (int c = 0; c < d->f; c++) {
    double mean, std;
    column_stats(d->x, d->f, c, s->train, s->ntrain, &mean, &std);
    scale_column(d->x, d->n, d->f, c, mean, std);
  }
  if (!d->label) {
    column_stats(d->y, 1, 0, s->train, s->ntrain, &d->ymean, &d->ystd);
    scale_column(d->y, d->n, 1, 0, d->ymean, d->ystd);
  }
}

/* Put the test rows at the end of perm. For classes the split is
 * stratified: each class gives the same fraction of its rows to the test
 * set, so that a small test set still holds every class in proportion. */
static void stratify(const Data *d, int *perm, double test, int *ntest) {
  int n = d->n, nclass = d->k > 1 ? d->k : 2, at = 0, back = n;
  int *tmp = malloc((size_t)n * sizeof *tmp);
  if (!tmp || !d->label) { /* regression, or no memory: a plain split */
    *ntest = (int)(n * test + 0.5);
    free(tmp);
    return;
  }
  for (int c = 0; c < nclass; c++) {
    int count = 0, taken = 0;
    for (int i = 0; i < n; i++)
      count += d->label[perm[i]] == c;
    int want = (int)(count * test + 0.5);
    for (int i = 0; i < n; i++)
      if (d->label[perm[i]] == c)
        tmp[taken++ < want ? --back : at++] = perm[i];
  }
  memcpy(perm, tmp, (size_t)n * sizeof *perm);
  *ntest = n - back;
  free(tmp);
}

static int make_split(Split *s, double test, uint64_t seed) {
  int n = s->all.n;
  int *perm = malloc((size_t)n * sizeof *perm);
  if (!perm)
    return 0;
  for (int i = 0; i < n; i++)
    perm[i] = i;
  shuffle(perm, n, &seed);
  stratify(&s->all, perm, test, &s->ntest);
  if (s->ntest < 1)
    s->ntest = 1;
  if (s->ntest > n - 1)
    s->ntest = n - 1;
  s->ntrain = n - s->ntest;
  s->train = perm;
  s->test = perm + s->ntrain;
  standardise(s);
  return 1;
}

/* ---- the model's side ---- */

typedef struct Net {
  exprc_model *m;
  const char *loss, *pred;
  int f, k, yrank;
  int nparam;            /* params the loss is taken with respect to */
  const char **param;
  double **mom, **vel;   /* Adam's moments per trained param */
  long step;
} Net;

static int fail_model(Net *net, const char *what) {
  fprintf(stderr, "train: %s%s%s\n", what, net->m ? ": " : "",
          net->m ? exprc_errmsg(net->m) : "");
  return 0;
}

/* x must be [N, F]; y [N, K] or [N]: N a dim, F and K fixed. */
static int check_io(Net *net) {
  exprc_tensor x, y;
  if (exprc_find(net->m, "x", &x) != EXPRC_OK ||
      exprc_find(net->m, "y", &y) != EXPRC_OK)
    return fail_model(net, "the model needs inputs x and y");
  if (x.kind != EXPRC_INPUT || x.rank != 2 || x.shape[0] != -1 ||
      x.shape[1] < 1 || y.kind != EXPRC_INPUT || y.rank < 1 || y.rank > 2 ||
      y.shape[0] != -1 || (y.rank == 2 && y.shape[1] < 1))
    return fprintf(stderr, "train: the model must declare dim N, input "
                   "x[N, F] and input y[N, K] (or y[N])\n"), 0;
  net->f = (int)x.shape[1];
  net->k = y.rank == 2 ? (int)y.shape[1] : 1;
  net->yrank = y.rank;
  return 1;
}

/* The params of the first grad statement, with Adam's moment buffers. */
static int find_params(Net *net) {
  int ng = exprc_count(net->m, EXPRC_GRADIENT);
  net->param = calloc((size_t)ng + 1, sizeof *net->param);
  net->mom = calloc((size_t)ng + 1, sizeof *net->mom);
  net->vel = calloc((size_t)ng + 1, sizeof *net->vel);
  if (!net->param || !net->mom || !net->vel)
    return 0;
  for (int i = 0; i < ng; i++) {
    exprc_tensor g, p;
    exprc_get(net->m, EXPRC_GRADIENT, i, &g);
    if (strcmp(g.loss, net->loss) != 0 ||
        exprc_find(net->m, g.name, &p) != EXPRC_OK || p.kind != EXPRC_PARAM)
      continue;
    net->mom[net->nparam] = calloc((size_t)p.size, sizeof(double));
    net->vel[net->nparam] = calloc((size_t)p.size, sizeof(double));
    net->param[net->nparam++] = g.name;
  }
  if (!net->nparam)
    return fprintf(stderr, "train: the first grad statement takes no param\n"),
           0;
  return 1;
}

static int open_net(Net *net, const Opts *o) {
  exprc_options opt;
  exprc_options_default(&opt);
  opt.seed = o->seed;
  memset(net, 0, sizeof *net);
  if (exprc_compile_file(o->model, &opt, &net->m) != EXPRC_OK) {
    fputs(exprc_errmsg(net->m), stderr);
    return 0;
  }
  exprc_tensor t;
  if (exprc_get(net->m, EXPRC_LOSS, 0, &t) != EXPRC_OK)
    return fail_model(net, "the model has no grad statement");
  net->loss = t.name;
  if (exprc_get(net->m, EXPRC_OUTPUT, 0, &t) != EXPRC_OK)
    return fail_model(net, "the model has no output");
  net->pred = t.name;
  return check_io(net) && find_params(net);
}

static void close_net(Net *net) {
  for (int i = 0; i < net->nparam; i++) {
    free(net->mom[i]);
    free(net->vel[i]);
  }
  free(net->mom);
  free(net->vel);
  free(net->param);
  exprc_free(net->m);
}

/* Copy rows `idx` into x and y: this binds N to n. */
static int set_batch(Net *net, const Data *d, const int *idx, int n,
                     double *xb, double *yb) {
  for (int i = 0; i < n; i++) {
    memcpy(xb + (size_t)i * (size_t)d->f, d->x + (size_t)idx[i] * (size_t)d->f,
           (size_t)d->f * sizeof *xb);
    memcpy(yb + (size_t)i * (size_t)d->k, d->y + (size_t)idx[i] * (size_t)d->k,
           (size_t)d->k * sizeof *yb);
  }
  int64_t xs[2] = {n, d->f}, ys[2] = {n, d->k};
  return exprc_set(net->m, "x", xb, 2, xs) == EXPRC_OK &&
         exprc_set(net->m, "y", yb, net->yrank, ys) == EXPRC_OK;
}

/* ---- optimisers: the params are updated in place ---- */

static void sgd(double *p, const double *g, int64_t n, double lr) {
  for (int64_t i = 0; i < n; i++)
    p[i] -= lr * g[i];
}

/* Adam (Kingma and Ba, 2015) with the usual beta1 0.9, beta2 0.999. */
static void adam(double *p, const double *g, double *m, double *v, int64_t n,
                 double lr, long t) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  double c1 = 1 - pow(b1, (double)t), c2 = 1 - pow(b2, (double)t);
  for (int64_t i = 0; i < n; i++) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    p[i] -= lr * (m[i] / c1) / (sqrt(v[i] / c2) + eps);
  }
}

/* One minibatch: gradient, then an update of every trained param. Returns
 * the batch's loss, NAN on failure. */
static double train_step(Net *net, const Opts *o) {
  exprc_tensor loss, p, g;
  if (exprc_gradient(net->m, net->loss) != EXPRC_OK ||
      exprc_get(net->m, EXPRC_LOSS, 0, &loss) != EXPRC_OK)
    return NAN;
  net->step++;
  for (int i = 0; i < net->nparam; i++) {
    exprc_find(net->m, net->param[i], &p);
    exprc_find_grad(net->m, net->loss, net->param[i], &g);
    if (o->adam)
      adam(p.data, g.data, net->mom[i], net->vel[i], p.size, o->lr, net->step);
    else
      sgd(p.data, g.data, p.size, o->lr);
  }
  return loss.data[0];
}

/* ---- evaluation ---- */

typedef struct Score {
  double acc;        /* classification: fraction right */
  int right, n;
  double rmse, r2;   /* regression, in the data's units */
} Score;

static int argmax(const double *v, int k) {
  int best = 0;
  for (int j = 1; j < k; j++)
    if (v[j] > v[best])
      best = j;
  return best;
}

static void score_rows(const Data *d, const int *idx, int n, const double *p,
                       Score *s) {
  double se = 0, sy = 0, sst = 0;
  *s = (Score){.n = n};
  for (int i = 0; i < n; i++) {
    if (d->label) {
      int guess = d->k == 1 ? p[i] > 0.5 : argmax(p + (size_t)i * (size_t)d->k, d->k);
      s->right += guess == d->label[idx[i]];
    } else {
      double e = (p[i] - d->y[idx[i]]) * d->ystd;
      se += e * e;
      sy += d->y[idx[i]];
    }
  }
  for (int i = 0; !d->label && i < n; i++) {
    double e = (d->y[idx[i]] - sy / n) * d->ystd;
    sst += e * e;
  }
  s->acc = (double)s->right / n;
  s->rmse = sqrt(se / n);
  s->r2 = sst > 0 ? 1 - se / sst : 0;
}

/* Run the forward entry on rows `idx` and score its first output. */
static int evaluate(Net *net, const Data *d, const int *idx, int n, double *xb,
                    double *yb, Score *s) {
  exprc_tensor p;
  if (!set_batch(net, d, idx, n, xb, yb) || exprc_forward(net->m) != EXPRC_OK ||
      exprc_find(net->m, net->pred, &p) != EXPRC_OK)
    return fail_model(net, "evaluation failed");
  if (p.size != (int64_t)n * d->k)
    return fprintf(stderr, "train: output '%s' should be [N, %d]\n", net->pred,
                   d->k), 0;
  score_rows(d, idx, n, p.data, s);
  return 1;
}

/* ---- progress ---- */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void print_score(const Data *d, const char *what, const Score *s) {
  if (d->label)
    printf("  %s acc %5.1f%%", what, 100 * s->acc);
  else
    printf("  %s rmse %8.4g  r2 %6.4f", what, s->rmse, s->r2);
}

/* One line per epoch. On a terminal the line is redrawn in place with a
 * bar, and kept (a newline) every tenth of the run; into a file or a pipe
 * every epoch is a plain line, so the output is a log to plot. */
static void progress(const Opts *o, const Data *d, int epoch, double loss,
                     const Score *tr, const Score *te, double secs, int tty) {
  int keep = epoch == o->epochs || epoch == 1 ||
             epoch % (o->epochs >= 10 ? o->epochs / 10 : 1) == 0;
  if (tty) {
    int fill = (int)(20.0 * epoch / o->epochs);
    printf("\r\033[K[%.*s%.*s] ", fill, "####################", 20 - fill,
           "....................");
  }
  printf("epoch %4d/%d  loss %.4f", epoch, o->epochs, loss);
  print_score(d, "train", tr);
  print_score(d, "test", te);
  printf("  %.2fs", secs);
  if (!tty || keep)
    printf("\n");
  fflush(stdout);
}

/* ---- the training loop ---- */

typedef struct Run {
  Net net;
  Split s;
  double *xb, *yb;
} Run;

static double run_epoch(Run *r, const Opts *o, uint64_t *rng) {
  Data *d = &r->s.all;
  double total = 0;
  shuffle(r->s.train, r->s.ntrain, rng);
  for (int at = 0; at < r->s.ntrain; at += o->batch) {
    int n = r->s.ntrain - at < o->batch ? r->s.ntrain - at : o->batch;
    if (!set_batch(&r->net, d, r->s.train + at, n, r->xb, r->yb))
      return fail_model(&r->net, "cannot set a batch"), NAN;
    double l = train_step(&r->net, o);
    if (l != l)
      return fail_model(&r->net, "training step failed"), NAN;
    total += l * n;
  }
  return total / r->s.ntrain;
}

static int train(Run *r, const Opts *o, Score *tr, Score *te) {
  Data *d = &r->s.all;
  uint64_t rng = o->seed ^ 0x5eedULL;
  int tty = isatty(STDOUT_FILENO);
  double t0 = now();
  for (int e = 1; e <= o->epochs; e++) {
    double loss = run_epoch(r, o, &rng);
    if (loss != loss ||
        !evaluate(&r->net, d, r->s.train, r->s.ntrain, r->xb, r->yb, tr) ||
        !evaluate(&r->net, d, r->s.test, r->s.ntest, r->xb, r->yb, te))
      return 0;
    progress(o, d, e, loss, tr, te, now() - t0, tty);
  }
  return 1;
}

static void describe(const Opts *o, const Run *r) {
  const Data *d = &r->s.all;
  printf("%s: %d rows, %d features -> ", o->data, d->n, d->f);
  if (d->label && d->k > 1)
    printf("%d classes\n", d->k);
  else if (d->label)
    printf("2 classes (0/1)\n");
  else
    printf("a value (regression)\n");
  printf("%s: %d params trained by %s, lr %g, batch %d, %d train / %d test "
         "rows, seed %llu\n",
         o->model, r->net.nparam, o->adam ? "Adam" : "SGD", o->lr, o->batch,
         r->s.ntrain, r->s.ntest, (unsigned long long)o->seed);
}

static void report(const Run *r, const Score *tr, const Score *te) {
  if (r->s.all.label)
    printf("test accuracy: %.2f%% (%d of %d right; train %.2f%%)\n",
           100 * te->acc, te->right, te->n, 100 * tr->acc);
  else
    printf("test rmse: %.6g, r2: %.4f (train rmse %.6g, r2 %.4f)\n", te->rmse,
           te->r2, tr->rmse, tr->r2);
}

static int setup(Run *r, const Opts *o) {
  Table t;
  if (!open_net(&r->net, o) || !load_csv(o->data, &t))
    return 0;
  int ok = t.cols - 1 == r->net.f;
  if (!ok)
    fprintf(stderr, "train: %s has %d feature columns; the model's x has %d\n",
            o->data, t.cols - 1, r->net.f);
  ok = ok && make_data(&t, r->net.k, o->one_vs_rest, &r->s.all) &&
       make_split(&r->s, o->test, o->seed);
  free(t.v);
  size_t rows = (size_t)r->s.all.n + 1;
  r->xb = ok ? malloc(rows * (size_t)r->net.f * sizeof(double)) : NULL;
  r->yb = ok ? malloc(rows * (size_t)r->net.k * sizeof(double)) : NULL;
  return ok && r->xb && r->yb;
}

static void teardown(Run *r) {
  close_net(&r->net);
  free(r->s.all.x);
  free(r->s.all.y);
  free(r->s.all.label);
  free(r->s.train);
  free(r->xb);
  free(r->yb);
}

int main(int argc, char **argv) {
  Opts o;
  int rc = parse_opts(argc, argv, &o);
  if (rc)
    return rc < 0 ? 0 : rc;
  Run r = {0};
  Score tr, te;
  rc = 1;
  if (setup(&r, &o)) {
    describe(&o, &r);
    if (train(&r, &o, &tr, &te)) {
      report(&r, &tr, &te);
      rc = 0;
    }
  }
  teardown(&r);
  return rc;
}
