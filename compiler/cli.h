/* cli.h: what the files of the `exprc` command share.
 *
 * cli.c reads the arguments and dispatches; cli_inspect.c holds the commands
 * that look inside the compiler (check, graph, emit); cli_run.c and
 * cli_gradcheck.c the ones that only use the public API, as any program
 * would (run, bench, gradcheck).
 */
#ifndef EXPRC_CLI_H
#define EXPRC_CLI_H

#include <stdio.h>

#include "exprc.h"

typedef struct SetArg {
  const char *name;
  const char *text;
} SetArg;

typedef struct Args {
  const char *cmd, *file, *out, *save_params;
  const char *header; /* emit --header OUT.h */
  int dot, no_simplify, no_reuse, no_fuse, json, stats, backend, threads, remat;
  int verbose;        /* print the library's notes (exprc_options.note) */
  int check_finite;   /* --check-finite (exprc_options.check_finite) */
  int dtype;          /* --dtype float32|float64 (exprc_options.dtype) */
  int after;          /* graph --after PASS: a Pass (model.h) */
  struct PassStats *passes; /* filled by the front of the pipeline */
  uint64_t seed;
  double eps, tol;    /* gradcheck --eps, --tol; 0: the defaults */
  SetArg *set;
  int nset;
} Args;

/* Print the usage after the message; returns 2, the usage status. */
int cli_usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* The library's options for the command line's flags. */
void cli_options(const Args *a, exprc_options *o);
/* Compile a->file; NULL with *rc the exit status (the message printed). */
exprc_model *cli_compile(const Args *a, int *rc);
/* Set every --set value; 0 or the exit status (the message printed). */
int cli_apply_sets(exprc_model *m, const Args *a);
/* Run every entry point; 0 or the exit status. */
int cli_run_all(exprc_model *m);

int cmd_check(const Args *a);
int cmd_graph(const Args *a);
int cmd_emit(const Args *a);
int cmd_run(const Args *a);
int cmd_bench(const Args *a);
int cmd_gradcheck(const Args *a);
int cmd_explain(const Args *a);

/* A node's label ("tanh", "input x", "const 2"), for graph and explain
 * (cli_inspect.c). */
struct Module;
void node_label(struct Module *mod, uint32_t i, char *buf, size_t n);

#endif
