/* train_mpi.c: data-parallel training of a .expr model over MPI.
 *
 *   mpirun -np P train_mpi MODEL.expr DATA.csv [--adam] [--epochs N]
 *          [--seed N] [--lr X] [--batch N] [--test FRACTION]
 *          [--one-vs-rest C] [--every N] [--checkpoint DIR] [--resume DIR]
 *
 * Every rank compiles the same model (libtcc: milliseconds) and reads the
 * same CSV file, split and shuffled from the same seed, so that every rank
 * knows every global minibatch. Rank r of P takes rows [n*r/P, n*(r+1)/P)
 * of each global batch of n rows, runs the gradient on them, scales it by
 * its share of the rows, and one MPI_Allreduce over the model's gradient
 * block (exprc_grad_block) sums the shares. Every rank then takes the same
 * optimiser step from the same sum, so the params stay identical on every
 * rank without ever being sent, and rank 0 alone evaluates, prints progress
 * and writes checkpoints.
 *
 * Why scale by the share n_r/n: the trainer assumes, like train.c, that the
 * loss is a mean over the batch's rows plus terms that do not depend on the
 * rows (such as weight decay): L = (1/n) sum_i l_i + R. A rank's gradient
 * is g_r = (1/n_r) sum_{i in r} dl_i + dR, and sum_r (n_r/n) g_r is exactly
 * the gradient of the global batch, whatever the shares and even when a
 * rank has no rows (the last batch of an epoch may be smaller than P: that
 * rank contributes zeros). On one rank the share is 1 and nothing is
 * scaled, so one rank reproduces train.c bit for bit.
 *
 * A checkpoint (rank 0, every --every epochs and at the end) is a directory:
 * every param as NAME.npy (exprc_save_params) and state.txt, which holds
 * the epoch, the step, the shuffle generator and Adam's moments as exact
 * hexadecimal floats. It is written to DIR.tmp and then renamed to DIR, so
 * DIR is never half written. --resume DIR reads it on rank 0 alone (only
 * rank 0 needs the directory) and broadcasts it; the run then continues as
 * if it had never stopped, bit for bit.
 */
#include <exprc.h>
#include <mpi.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trainlib.h"

typedef struct MpiOpts {
  TrainOpts t;
  const char *checkpoint, *resume;
  int every;
} MpiOpts;

/* Where the run is: what a checkpoint saves besides the params. */
typedef struct Progress {
  int epoch;          /* epochs done */
  uint64_t rng;       /* the shuffle's generator after them */
} Progress;

/* The generator's state before the first epoch, as train.c seeds it. */
static uint64_t first_rng(uint64_t seed) { return seed ^ 0x5eedULL; }

typedef struct Cluster {
  int rank, size;
  double step_time, reduce_time; /* seconds, rank 0's clock */
  long rows;                      /* rows trained, all ranks together */
} Cluster;

/* ---- options ---- */

static void usage(FILE *f) {
  fputs("usage: mpirun -np P train_mpi MODEL.expr DATA.csv [--adam]\n"
        "         [--epochs N] [--seed N] [--lr X] [--batch N] [--test F]\n"
        "         [--one-vs-rest C] [--every N] [--checkpoint DIR]\n"
        "         [--resume DIR]\n"
        "Trains MODEL on DATA as train does, with each global batch of\n"
        "--batch rows split across the P ranks and the gradients summed\n"
        "by MPI_Allreduce. Every --every epochs (default 1) rank 0 prints\n"
        "progress and writes the checkpoint DIR (params as .npy and\n"
        "state.txt); --resume DIR continues a run from one.\n",
        f);
}

static int g_rank; /* usage errors are said once, by rank 0 */

static int bad_usage(const char *what, const char *arg) {
  if (g_rank != 0)
    return 2;
  complain("%s%s%s", what, arg ? ": " : "", arg ? arg : "");
  usage(stderr);
  return 2;
}

static int parse_flag(MpiOpts *o, const char *flag, const char *val) {
  double v;
  if (!strcmp(flag, "--checkpoint"))
    o->checkpoint = val;
  else if (!strcmp(flag, "--resume"))
    o->resume = val;
  else if (!strcmp(flag, "--every") && parse_number(val, 1, 1e6, &v))
    o->every = (int)v;
  else
    return parse_valued(&o->t, flag, val);
  return 1;
}

/* 0 to run, -1 after --help, else an exit status. */
static int parse_opts(int argc, char **argv, MpiOpts *o) {
  *o = (MpiOpts){.t = {.epochs = 60, .batch = 16, .seed = 2, .test = 0.2,
                       .one_vs_rest = -1},
                 .every = 1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      return -1;
    if (!strcmp(a, "--adam"))
      o->t.adam = 1;
    else if (a[0] == '-' && a[1] == '-') {
      if (i + 1 >= argc)
        return bad_usage("option needs a value", a);
      if (!parse_flag(o, a, argv[++i]))
        return bad_usage("bad option or value", a);
    } else if (!o->t.model)
      o->t.model = a;
    else if (!o->t.data)
      o->t.data = a;
    else
      return bad_usage("too many arguments", a);
  }
  if (!o->t.data)
    return bad_usage("need a model file and a data file", NULL);
  if (o->t.lr == 0)
    o->t.lr = o->t.adam ? 0.01 : 0.1;
  return 0;
}

/* ---- the gradient block ---- */

/* The block must be the same size on every rank, so every gradient of the
 * trained loss must be a param's (an input's would have the batch's
 * shape, different on each rank). Returns the block's size, or -1. */
static int64_t block_size(Net *net) {
  exprc_tensor t, p;
  for (int i = 0; exprc_get(net->m, EXPRC_GRADIENT, i, &t) == EXPRC_OK; i++)
    if (!strcmp(t.loss, net->loss) &&
        (exprc_find(net->m, t.name, &p) != EXPRC_OK || p.kind != EXPRC_PARAM))
      return complain("every 'wrt' of 'grad %s' must be a param: the "
                      "gradient block is summed across ranks", net->loss), -1;
  double *g;
  int64_t count;
  if (exprc_grad_block(net->m, net->loss, &g, &count) != EXPRC_OK)
    return fail_model(net, "no gradient block"), -1;
  if (count > 2147483647)
    return complain("a gradient block of %lld doubles is more than one "
                    "MPI call can sum", (long long)count), -1;
  return count;
}

/* ---- one global batch ---- */

/* This rank's gradient share of the n rows at `rows`, then the sum over
 * every rank: afterwards every rank holds the global batch's gradient.
 * *lsum gets n_r times this rank's loss. Returns 0 on failure. */
static int shared_gradient(Run *r, const int *rows, int n, Cluster *c,
                           double *lsum) {
  Net *net = &r->net;
  int lo = (int)((int64_t)n * c->rank / c->size);
  int hi = (int)((int64_t)n * (c->rank + 1) / c->size);
  double *g;
  int64_t count;
  exprc_tensor loss;
  if (hi > lo && (!set_batch(net, &r->s.all, rows + lo, hi - lo, r->xb, r->yb) ||
                  exprc_gradient(net->m, net->loss) != EXPRC_OK ||
                  exprc_get(net->m, EXPRC_LOSS, 0, &loss) != EXPRC_OK))
    return 0;
  if (exprc_grad_block(net->m, net->loss, &g, &count) != EXPRC_OK)
    return 0;
  if (hi == lo)
    memset(g, 0, (size_t)count * sizeof *g); /* no rows: no share */
  else if (hi - lo != n) {
    double share = (double)(hi - lo) / n;
    for (int64_t i = 0; i < count; i++)
      g[i] *= share;
  }
  *lsum += hi > lo ? (hi - lo) * loss.data[0] : 0;
  double t0 = MPI_Wtime();
  MPI_Allreduce(MPI_IN_PLACE, g, (int)count, MPI_DOUBLE, MPI_SUM,
                MPI_COMM_WORLD);
  c->reduce_time += MPI_Wtime() - t0;
  return 1;
}

/* One epoch in global batches of o->batch rows; *loss gets the mean loss
 * over the training rows (as train.c reports it), on rank 0. A step that
 * fails on one rank stops them all: the others would wait for it in the
 * next allreduce forever. */
static void run_epoch(Run *r, const TrainOpts *o, Progress *p, Cluster *c,
                      double *loss) {
  double lsum = 0, total = 0;
  shuffle(r->s.train, r->s.ntrain, &p->rng);
  double t0 = MPI_Wtime();
  for (int at = 0; at < r->s.ntrain; at += o->batch) {
    int n = r->s.ntrain - at < o->batch ? r->s.ntrain - at : o->batch;
    if (!shared_gradient(r, r->s.train + at, n, c, &lsum)) {
      fail_model(&r->net, "training step failed");
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    net_update(&r->net, o);
  }
  c->step_time += MPI_Wtime() - t0;
  c->rows += r->s.ntrain;
  MPI_Reduce(&lsum, &total, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  *loss = total / r->s.ntrain;
}

/* ---- the same state on every rank ---- */

/* Rank 0's params, Adam's moments and progress to every rank. */
static void broadcast_state(Net *net, Progress *p) {
  exprc_tensor t;
  for (int i = 0; exprc_get(net->m, EXPRC_PARAM, i, &t) == EXPRC_OK; i++)
    MPI_Bcast(t.data, (int)t.size, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  for (int i = 0; i < net->nparam; i++) {
    exprc_find(net->m, net->param[i], &t);
    MPI_Bcast(net->mom[i], (int)t.size, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    MPI_Bcast(net->vel[i], (int)t.size, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  }
  MPI_Bcast(&net->step, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  MPI_Bcast(&p->epoch, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Bcast(&p->rng, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
}

/* Whether every rank's params equal rank 0's, bit for bit: the claim of
 * data parallelism, checked rather than assumed. */
static int params_in_sync(Net *net, int rank) {
  exprc_tensor t;
  int differ = 0, any = 0;
  for (int i = 0; exprc_get(net->m, EXPRC_PARAM, i, &t) == EXPRC_OK; i++) {
    double *mine = malloc((size_t)t.size * sizeof *mine);
    if (!mine)
      differ = 1; /* no memory to check with: report, do not guess */
    else
      memcpy(mine, t.data, (size_t)t.size * sizeof *mine);
    MPI_Bcast(t.data, (int)t.size, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (mine && memcmp(mine, t.data, (size_t)t.size * sizeof *mine) != 0)
      differ = 1;
    if (mine)
      memcpy(t.data, mine, (size_t)t.size * sizeof *mine);
    free(mine);
  }
  MPI_Allreduce(&differ, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any && rank == 0)
    complain("the ranks' params differ: the sum was not the same everywhere");
  return !any;
}

/* ---- checkpoints (rank 0) ---- */

#define PATH_LEN 4096

/* dir/file into buf; 0 (and a message) when it is too long. */
static int path_in(char *buf, const char *dir, const char *file) {
  int n = snprintf(buf, PATH_LEN, "%s/%s", dir, file);
  return n >= 0 && n < PATH_LEN ? 1 : complain("%s/%s: too long", dir, file);
}

static int write_state(const char *dir, const Net *net, const MpiOpts *o,
                       const Progress *p) {
  char path[PATH_LEN];
  if (!path_in(path, dir, "state.txt"))
    return 0;
  FILE *f = fopen(path, "w");
  if (!f)
    return complain("%s: %s", path, strerror(errno));
  fprintf(f, "train_mpi checkpoint\nepoch %d\nstep %ld\nrng %llu\n"
          "seed %llu\nbatch %d\nadam %d\n", p->epoch, net->step,
          (unsigned long long)p->rng, (unsigned long long)o->t.seed,
          o->t.batch, o->t.adam);
  for (int i = 0; i < net->nparam; i++) {
    exprc_tensor t;
    exprc_find(net->m, net->param[i], &t);
    fprintf(f, "moments %s %lld\n", net->param[i], (long long)t.size);
    for (int64_t k = 0; k < t.size; k++)
      fprintf(f, "%a %a\n", net->mom[i][k], net->vel[i][k]);
  }
  if (fclose(f) != 0)
    return complain("%s: %s", path, strerror(errno));
  return 1;
}

/* Remove what a checkpoint directory holds (our files only), then it. */
static void remove_checkpoint(const char *dir, const Net *net) {
  char path[PATH_LEN], file[300];
  exprc_tensor t;
  for (int i = 0; exprc_get(net->m, EXPRC_PARAM, i, &t) == EXPRC_OK; i++) {
    snprintf(file, sizeof file, "%.256s.npy", t.name);
    if (path_in(path, dir, file))
      remove(path);
  }
  if (path_in(path, dir, "state.txt"))
    remove(path);
  remove(dir); /* fails, harmlessly, if someone put other files there */
}

/* Write DIR.tmp completely, then swap it in for DIR. */
static int save_checkpoint(Net *net, const MpiOpts *o, const Progress *p) {
  char tmp[PATH_LEN], old[PATH_LEN];
  if (strlen(o->checkpoint) + 5 > PATH_LEN)
    return complain("%s: too long", o->checkpoint);
  snprintf(tmp, sizeof tmp, "%s.tmp", o->checkpoint);
  snprintf(old, sizeof old, "%s.old", o->checkpoint);
  remove_checkpoint(tmp, net);
  if (mkdir(tmp, 0777) != 0)
    return complain("%s: %s", tmp, strerror(errno));
  if (exprc_save_params(net->m, tmp) != EXPRC_OK)
    return fail_model(net, "cannot save the params");
  if (!write_state(tmp, net, o, p))
    return 0;
  remove_checkpoint(old, net);
  if (rename(o->checkpoint, old) != 0 && errno != ENOENT)
    return complain("%s: %s", o->checkpoint, strerror(errno));
  if (rename(tmp, o->checkpoint) != 0)
    return complain("%s: %s", o->checkpoint, strerror(errno));
  remove_checkpoint(old, net);
  return 1;
}

/* A "key value" line of state.txt, its value in *got. */
static int read_key(FILE *f, const char *key, unsigned long long *got) {
  char k[32];
  return fscanf(f, "%31s %llu", k, got) == 2 && !strcmp(k, key);
}

static int read_moments(FILE *f, Net *net) {
  for (int i = 0; i < net->nparam; i++) {
    char name[256];
    long long n;
    exprc_tensor t;
    exprc_find(net->m, net->param[i], &t);
    if (fscanf(f, " moments %255s %lld", name, &n) != 2 ||
        strcmp(name, net->param[i]) != 0 || n != t.size)
      return 0;
    for (int64_t k = 0; k < n; k++)
      if (fscanf(f, "%la %la", &net->mom[i][k], &net->vel[i][k]) != 2)
        return 0;
  }
  return 1;
}

/* state.txt: progress and moments; the run's seed, batch and optimiser
 * must be the checkpoint's, or the resumed run would not be the same. */
static int read_state(const char *dir, Net *net, const MpiOpts *o,
                      Progress *p) {
  char path[PATH_LEN];
  unsigned long long epoch, step, rng, seed, batch, adam;
  if (!path_in(path, dir, "state.txt"))
    return 0;
  FILE *f = fopen(path, "r");
  if (!f)
    return complain("%s: %s", path, strerror(errno));
  int ok = fscanf(f, "train_mpi checkpoint") == 0 &&
           read_key(f, "epoch", &epoch) && read_key(f, "step", &step) &&
           read_key(f, "rng", &rng) && read_key(f, "seed", &seed) &&
           read_key(f, "batch", &batch) && read_key(f, "adam", &adam) &&
           read_moments(f, net);
  fclose(f);
  if (!ok)
    return complain("%s: not a checkpoint of this model", path);
  if (seed != o->t.seed || batch != (unsigned long long)o->t.batch ||
      adam != (unsigned long long)o->t.adam)
    return complain("%s: written with --seed %llu --batch %llu%s; run with "
                    "the same to resume", path, seed, batch,
                    adam ? " --adam" : "");
  p->epoch = (int)epoch, p->rng = rng, net->step = (long)step;
  return 1;
}

static int load_checkpoint(Net *net, const MpiOpts *o, Progress *p) {
  char path[PATH_LEN], file[300];
  exprc_tensor t;
  if (!read_state(o->resume, net, o, p))
    return 0;
  for (int i = 0; exprc_get(net->m, EXPRC_PARAM, i, &t) == EXPRC_OK; i++) {
    snprintf(file, sizeof file, "%.256s.npy", t.name);
    if (!path_in(path, o->resume, file))
      return 0;
    if (exprc_set_file(net->m, t.name, path) != EXPRC_OK)
      return fail_model(net, "cannot resume");
  }
  return 1;
}

/* ---- progress (rank 0) ---- */

static void describe(const MpiOpts *o, const Run *r, const Cluster *c,
                     int64_t block) {
  const Data *d = &r->s.all;
  printf("%s: %d rows, %d features; %s: %d params trained by %s, lr %g\n",
         o->t.data, d->n, d->f, o->t.model, r->net.nparam,
         o->t.adam ? "Adam" : "SGD", o->t.lr);
  printf("%d ranks, global batch %d (%d to %d rows a rank), %d train / %d "
         "test rows, seed %llu; allreduce of %lld doubles a step\n",
         c->size, o->t.batch, o->t.batch / c->size,
         (o->t.batch + c->size - 1) / c->size, r->s.ntrain, r->s.ntest,
         (unsigned long long)o->t.seed, (long long)block);
  fflush(stdout);
}

static int show_progress(Run *r, const MpiOpts *o, int epoch, double loss,
                         const Cluster *c) {
  Score tr, te;
  Data *d = &r->s.all;
  if (!evaluate(&r->net, d, r->s.train, r->s.ntrain, r->xb, r->yb, &tr) ||
      !evaluate(&r->net, d, r->s.test, r->s.ntest, r->xb, r->yb, &te))
    return 0;
  printf("epoch %4d/%d  loss %.6f", epoch, o->t.epochs, loss);
  print_score(d, "train", &tr);
  print_score(d, "test", &te);
  printf("  %.0f rows/s\n", c->step_time > 0 ? c->rows / c->step_time : 0);
  fflush(stdout);
  if (epoch == o->t.epochs)
    report(r, &tr, &te);
  return 1;
}

/* ---- the run ---- */

/* Rank 0 evaluates, prints and checkpoints; any failure stops every rank
 * (a rank left waiting in an allreduce would hang). */
static int end_of_epoch(Run *r, const MpiOpts *o, Progress *p, double loss,
                        Cluster *c) {
  int ok = 1;
  if (c->rank == 0 && (p->epoch % o->every == 0 || p->epoch == o->t.epochs))
    ok = show_progress(r, o, p->epoch, loss, c) &&
         (!o->checkpoint || save_checkpoint(&r->net, o, p));
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return ok;
}

static int train(Run *r, const MpiOpts *o, Progress *p, Cluster *c) {
  while (p->epoch < o->t.epochs) {
    double loss;
    run_epoch(r, &o->t, p, c, &loss);
    p->epoch++;
    if (!end_of_epoch(r, o, p, loss, c))
      return 0;
  }
  if (!params_in_sync(&r->net, c->rank))
    return 0;
  if (c->rank == 0)
    printf("%d ranks: %ld rows in %.3f s of training steps, %.0f rows/s; "
           "allreduce %.1f%% of it\n", c->size, c->rows, c->step_time,
           c->step_time > 0 ? c->rows / c->step_time : 0,
           c->step_time > 0 ? 100 * c->reduce_time / c->step_time : 0);
  return 1;
}

/* Each epoch shuffles the previous epoch's order, so a resumed run puts
 * the rows in the order they had after p->epoch epochs by shuffling them
 * again from the first state; the generator must come out where the
 * checkpoint says (it is saved to check exactly this). */
static int replay_shuffles(Run *r, const MpiOpts *o, const Progress *p) {
  uint64_t rng = first_rng(o->t.seed);
  for (int e = 0; e < p->epoch; e++)
    shuffle(r->s.train, r->s.ntrain, &rng);
  return rng == p->rng ? 1 : complain("%s: the shuffle does not replay to "
                                      "its saved state", o->resume);
}

/* Every rank sets up alike; they agree on whether all of them could. */
static int start(Run *r, const MpiOpts *o, Progress *p, Cluster *c,
                 int64_t *block) {
  int ok = setup(r, &o->t) && (*block = block_size(&r->net)) >= 0, all = 0;
  if (ok && c->rank == 0 && o->resume)
    ok = load_checkpoint(&r->net, o, p);
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!all)
    return 0;
  broadcast_state(&r->net, p);
  if (p->epoch > 0 && !replay_shuffles(r, o, p))
    return 0;
  if (c->rank == 0)
    describe(o, r, c, *block);
  return 1;
}

int main(int argc, char **argv) {
  static char name[64];
  MpiOpts o;
  Cluster c = {0};
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &c.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &c.size);
  snprintf(name, sizeof name, c.rank ? "train_mpi (rank %d)" : "train_mpi",
           c.rank);
  tl_prog = name;
  g_rank = c.rank;
  int rc = parse_opts(argc, argv, &o);
  if (rc < 0 && c.rank == 0)
    usage(stdout);
  if (rc) {
    MPI_Finalize();
    return rc < 0 ? 0 : rc;
  }
  Run r = {0};
  Progress p = {.rng = first_rng(o.t.seed)};
  int64_t block = 0;
  rc = start(&r, &o, &p, &c, &block) && train(&r, &o, &p, &c) ? 0 : 1;
  teardown(&r);
  MPI_Finalize();
  return rc;
}
