/* trainlib.c: what the example trainers share (train.c on one process,
 * train_mpi.c on many): options, reading a CSV table, a seeded shuffle and
 * split with standardised features, compiling the model and finding what
 * it trains, setting a batch, the optimisers, and scoring. Like the
 * trainers it uses nothing but include/exprc.h and the C library.
 */
#include "trainlib.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tl_prog = "train";

/* Print "PROG: message" on stderr; returns 0, for `return complain(...)`. */
int complain(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", tl_prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 0;
}

/* ---- options ---- */

int parse_number(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi))
    return 0;
  *out = v;
  return 1;
}

/* One "--flag VALUE" option; returns 0 when the value is bad. */
int parse_valued(TrainOpts *o, const char *flag, const char *val) {
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

/* ---- CSV: a header row, then rows of numbers ---- */

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
int load_csv(const char *path, Table *t) {
  FILE *f = fopen(path, "r");
  if (!f)
    return complain("%s: %s", path, strerror(errno));
  char line[4096];
  double row[256];
  int lineno = 1, cap = 0, ok = 1;
  *t = (Table){0};
  if (!fgets(line, sizeof line, f) || (t->cols = count_fields(line)) < 2 ||
      t->cols > 256) {
    ok = complain("%s:1: expected a header row of 2 to 256 names", path);
  }
  while (ok && fgets(line, sizeof line, f)) {
    lineno++;
    if (blank(line))
      continue;
    if (parse_row(line, row, 256) != t->cols) {
      ok = complain("%s:%d: expected %d numbers", path, lineno, t->cols);
    } else if (!add_row(t, row, &cap)) {
      ok = complain("out of memory");
    }
  }
  fclose(f);
  if (ok && t->rows < 4)
    ok = complain("%s: fewer than 4 rows", path);
  return ok;
}

/* ---- a seeded shuffle (splitmix64), so a seed gives the same split ---- */

uint64_t next_random(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void shuffle(int *a, int n, uint64_t *s) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(next_random(s) % (uint64_t)(i + 1));
    int t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/* ---- the data set, split and standardised ---- */

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

int make_data(const Table *t, int k, int ovr, Data *d) {
  int classes = ovr >= 0 || is_class_column(t, k > 1 ? k : 2);
  *d = (Data){.n = t->rows, .f = t->cols - 1, .k = k, .ystd = 1};
  if (!classes && k != 1)
    return complain("the last column holds no class numbers 0..%d, and a "
                    "regression target needs y[N, 1]", k - 1);
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

int make_split(Split *s, double test, uint64_t seed) {
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

int fail_model(Net *net, const char *what) {
  return complain("%s%s%s", what, net->m ? ": " : "",
                  net->m ? exprc_errmsg(net->m) : "");
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
    return complain("the model must declare dim N, input x[N, F] and input "
                    "y[N, K] (or y[N])");
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
    return complain("the first grad statement takes no param");
  return 1;
}

int open_net(Net *net, const TrainOpts *o) {
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

void close_net(Net *net) {
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
int set_batch(Net *net, const Data *d, const int *idx, int n,
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

/* An optimiser step on every trained param from the gradients now in the
 * model (the step count is Adam's bias correction). */
void net_update(Net *net, const TrainOpts *o) {
  exprc_tensor p, g;
  net->step++;
  for (int i = 0; i < net->nparam; i++) {
    exprc_find(net->m, net->param[i], &p);
    exprc_find_grad(net->m, net->loss, net->param[i], &g);
    if (o->adam)
      adam(p.data, g.data, net->mom[i], net->vel[i], p.size, o->lr, net->step);
    else
      sgd(p.data, g.data, p.size, o->lr);
  }
}

/* ---- evaluation ---- */

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
int evaluate(Net *net, const Data *d, const int *idx, int n, double *xb,
                    double *yb, Score *s) {
  exprc_tensor p;
  if (!set_batch(net, d, idx, n, xb, yb) || exprc_forward(net->m) != EXPRC_OK ||
      exprc_find(net->m, net->pred, &p) != EXPRC_OK)
    return fail_model(net, "evaluation failed");
  if (p.size != (int64_t)n * d->k)
    return complain("output '%s' should be [N, %d]", net->pred, d->k);
  score_rows(d, idx, n, p.data, s);
  return 1;
}

/* ---- reporting ---- */

void print_score(const Data *d, const char *what, const Score *s) {
  if (d->label)
    printf("  %s acc %5.1f%%", what, 100 * s->acc);
  else
    printf("  %s rmse %8.4g  r2 %6.4f", what, s->rmse, s->r2);
}

void report(const Run *r, const Score *tr, const Score *te) {
  if (r->s.all.label)
    printf("test accuracy: %.2f%% (%d of %d right; train %.2f%%)\n",
           100 * te->acc, te->right, te->n, 100 * tr->acc);
  else
    printf("test rmse: %.6g, r2: %.4f (train rmse %.6g, r2 %.4f)\n", te->rmse,
           te->r2, tr->rmse, tr->r2);
}

/* ---- a run: the model, the data and batch buffers ---- */

int setup(Run *r, const TrainOpts *o) {
  Table t;
  if (!open_net(&r->net, o) || !load_csv(o->data, &t))
    return 0;
  int ok = t.cols - 1 == r->net.f;
  if (!ok)
    complain("%s has %d feature columns; the model's x has %d", o->data,
             t.cols - 1, r->net.f);
  ok = ok && make_data(&t, r->net.k, o->one_vs_rest, &r->s.all) &&
       make_split(&r->s, o->test, o->seed);
  free(t.v);
  size_t rows = (size_t)r->s.all.n + 1;
  r->xb = ok ? malloc(rows * (size_t)r->net.f * sizeof(double)) : NULL;
  r->yb = ok ? malloc(rows * (size_t)r->net.k * sizeof(double)) : NULL;
  return ok && r->xb && r->yb;
}

void teardown(Run *r) {
  close_net(&r->net);
  free(r->s.all.x);
  free(r->s.all.y);
  free(r->s.all.label);
  free(r->s.train);
  free(r->xb);
  free(r->yb);
}

