/* module.h: what the front end makes and every later stage reads: the
 * graph, the model's inputs and params (vars), its dims, and its entry points
 * with the nodes of their results. Lowering builds it; the grad and simplify
 * passes replace result nodes; the planner assigns result slots; the emitter,
 * the JIT driver and the CLI read it. */
#ifndef EXPRC_MODULE_H
#define EXPRC_MODULE_H

#include "graph.h"

typedef enum { INIT_ZEROS, INIT_FILL, INIT_NORMAL, INIT_UNIFORM } InitKind;
typedef enum { V_INPUT, V_PARAM } VarKind;

/* An input or param: slot i of the generated code is var i. */
typedef struct Var {
  const char *name;
  VarKind kind;
  Shape shape;
  uint32_t node;
  Pos pos;
  InitKind init;
  double arg[2];
  int is_int;       /* `input x : int`: whole numbers, exact in doubles */
} Var;

/* A value an entry point returns, in its own slot. */
typedef struct Result {
  const char *name; /* output name, or L for a loss, or p for dL/dp */
  uint32_t node;
  int slot;
  int is_int;       /* an integer value (reported as EXPRC_INT64) */
} Result;

/* Entry 0 is the forward function (every `output`); each `grad L wrt ...`
 * adds one whose results are L then dL/dp for each p. */
typedef struct Entry {
  int is_grad;
  const char *loss;
  Pos pos;
  uint32_t loss_node;
  int *wrt;         /* var index of each p */
  Result *res;
  uint32_t nres, cap;
} Entry;

/* A name `exprc check` lists, in declaration order. */
typedef struct Named {
  const char *kind; /* "dim", "input", "param", "const", "value", "def" */
  const char *name;
  int has_shape;    /* dims and defs have none */
  Shape shape;
} Named;

typedef struct Module {
  Graph *g;
  Var *var;
  uint32_t nvar, capvar;
  const char **dim;
  uint32_t ndim, capdim;
  Entry *entry;
  uint32_t nentry, capentry;
  Named *named;
  uint32_t nnamed, capnamed;
  int nslot;        /* vars then results */
  uint64_t may_be_empty; /* bit d: dim d is a loop's length, which may be 0 */
  struct LenCheck {      /* a loop's sequences of lengths a and b (sizes, */
    int64_t a, b;        /* one at least made of dims): a run checks they */
    Pos pos;             /* are equal (lower_scan.c) */
  } *lencheck;
  uint32_t nlencheck, caplencheck;
} Module;

/* Mark in live[] (g->n entries, zeroed by the caller) every node that some
 * entry point's results need. */
void module_live(const Module *m, uint8_t *live);

#endif
