/* ops.h: the op enum and its table, both generated from ops.def. */
#ifndef EXPRC_OPS_H
#define EXPRC_OPS_H

typedef enum {
  SH_LEAF,      /* shape given at creation */
  SH_EW,        /* NumPy broadcast of the inputs */
  SH_TARGET,    /* the node's target shape attribute */
  SH_TRANSPOSE, /* axes reversed */
  SH_REDUCE,    /* input shape without the axes in the mask */
  SH_MATMUL,    /* [m,k]@[k,n] -> [m,n] and the vector forms */
  SH_WINDOW,    /* SLICE, PAD: the target shape, checked against the start */
  SH_STEP,      /* STEP: the strided count; UNSTEP: the target, checked */
} ShapeRule;

/* F_FAILS: the op's generated code checks its data and may report a
 * run-time error (exprc_rt_fail), so the compiled model keeps its place. */
enum { F_EW = 1, F_FUNC = 2, F_COMM = 4, F_CMP = 8, F_FAILS = 16 };

typedef enum {
#define OP(name, arity, dsl, shape, cexpr, flags) OP_##name,
#include "ops.def"
#undef OP
  OP_COUNT
} Op;

typedef struct OpInfo {
  const char *name;
  int arity;
  const char *dsl;
  ShapeRule shape;
  const char *cexpr; /* NULL unless elementwise */
  unsigned flags;
} OpInfo;

extern const OpInfo op_info[OP_COUNT];

/* The value of elementwise op `op` at scalars (a, b, c): the same expression
 * that the emitter prints into generated code. */
double op_eval(Op op, double a, double b, double c);

#endif
