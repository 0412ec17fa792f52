/* lower.h: the program (AST) to a graph and a module description. */
#ifndef EXPRC_LOWER_H
#define EXPRC_LOWER_H

#include "graph.h"
#include "parser.h"

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
} Var;

/* A value an entry point returns, in its own slot. */
typedef struct Result {
  const char *name; /* output name, or L for a loss, or p for dL/dp */
  uint32_t node;
  int slot;
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
} Module;

Module *lower_program(Ctx *c, Program *p, int simplify);

/* How many nodes the n roots need (themselves and all their inputs; NONE
 * roots need none): what a gradient pass differentiates, or an entry point
 * emits. A walk over the nodes below the highest root. */
uint32_t lower_reach(Graph *g, const uint32_t *roots, uint32_t n);

#endif
