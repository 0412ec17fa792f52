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
 * are standardised with the training rows' mean and deviation. What it
 * shares with train_mpi.c (data, model, optimisers) is in trainlib.c.
 */
#include <exprc.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trainlib.h"

/* ---- options ---- */

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

static int parse_opts(int argc, char **argv, TrainOpts *o) {
  *o = (TrainOpts){.epochs = 60, .batch = 16, .seed = 2, .test = 0.2,
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

/* ---- the training loop ---- */

/* One minibatch: gradient, then an update of every trained param. Returns
 * the batch's loss, NAN on failure. */
static double train_step(Net *net, const TrainOpts *o) {
  exprc_tensor loss;
  if (exprc_gradient(net->m, net->loss) != EXPRC_OK ||
      exprc_get(net->m, EXPRC_LOSS, 0, &loss) != EXPRC_OK)
    return NAN;
  net_update(net, o);
  return loss.data[0];
}

/* ---- progress ---- */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One line per epoch. On a terminal the line is redrawn in place with a
 * bar, and kept (a newline) every tenth of the run; into a file or a pipe
 * every epoch is a plain line, so the output is a log to plot. */
static void progress(const TrainOpts *o, const Data *d, int epoch, double loss,
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

static double run_epoch(Run *r, const TrainOpts *o, uint64_t *rng) {
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

static int train(Run *r, const TrainOpts *o, Score *tr, Score *te) {
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

static void describe(const TrainOpts *o, const Run *r) {
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

int main(int argc, char **argv) {
  TrainOpts o;
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
