/* trainlib.h: what the example trainers share (train.c on one process,
 * train_mpi.c on many): see trainlib.c. */
#ifndef EXPRC_TRAINLIB_H
#define EXPRC_TRAINLIB_H

#include <exprc.h>
#include <stdint.h>

/* The program's name in messages ("train" unless the program says). */
extern const char *tl_prog;
/* Print "PROG: message" on stderr; returns 0. */
int complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- options ---- */

typedef struct TrainOpts {
  const char *model, *data;
  int adam, epochs, batch, one_vs_rest;
  uint64_t seed;
  double lr, test;
} TrainOpts;

/* A number in [lo, hi] with nothing after it; 0 if s is not one. */
int parse_number(const char *s, double lo, double hi, double *out);
/* One "--flag VALUE" option of TrainOpts; returns 0 when the flag is not
 * one of them or the value is bad. */
int parse_valued(TrainOpts *o, const char *flag, const char *val);

/* ---- data ---- */

typedef struct Table {
  int rows, cols;
  double *v; /* rows * cols, row-major */
} Table;

/* Read a CSV file: a header row, then rows of numbers. */
int load_csv(const char *path, Table *t);

/* splitmix64, so that a seed gives the same order on every machine. */
uint64_t next_random(uint64_t *s);
void shuffle(int *a, int n, uint64_t *s);

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

int make_data(const Table *t, int k, int ovr, Data *d);
/* A seeded (stratified) train/test split, standardised with the training
 * rows' statistics. */
int make_split(Split *s, double test, uint64_t seed);

/* ---- the model ---- */

typedef struct Net {
  exprc_model *m;
  const char *loss, *pred;
  int f, k, yrank;
  int nparam;            /* params the loss is taken with respect to */
  const char **param;
  double **mom, **vel;   /* Adam's moments per trained param */
  long step;
} Net;

int fail_model(Net *net, const char *what);
int open_net(Net *net, const TrainOpts *o);
void close_net(Net *net);
/* Copy rows `idx` into x and y: this binds N to n. */
int set_batch(Net *net, const Data *d, const int *idx, int n, double *xb,
              double *yb);
/* An optimiser step (SGD, or Adam with o->adam) on every trained param
 * from the gradients now in the model. */
void net_update(Net *net, const TrainOpts *o);

/* ---- scoring ---- */

typedef struct Score {
  double acc;        /* classification: fraction right */
  int right, n;
  double rmse, r2;   /* regression, in the data's units */
} Score;

/* Run the forward entry on rows `idx` and score its first output. */
int evaluate(Net *net, const Data *d, const int *idx, int n, double *xb,
             double *yb, Score *s);

/* ---- a run ---- */

typedef struct Run {
  Net net;
  Split s;
  double *xb, *yb;     /* a batch of up to every row */
} Run;

int setup(Run *r, const TrainOpts *o);
void teardown(Run *r);
void print_score(const Data *d, const char *what, const Score *s);
void report(const Run *r, const Score *tr, const Score *te);

#endif
