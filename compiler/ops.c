/* ops.c: the op table and the constant folder, expanded from ops.def. */
#include "ops.h"

#include <math.h>

#include "runtime.h" /* exprc_rt_tanh, which xc_tanh calls */
#include "scalar.h"

/* Not every helper folds constants here: clang warns of unused static
 * inline ones. */
#define XC_DEFINE(...) static inline __attribute__((unused)) double __VA_ARGS__
XC_SCALAR_FNS(XC_DEFINE)
#undef XC_DEFINE

const OpInfo op_info[OP_COUNT] = {
#define OP(name, arity, dsl, shape, cexpr, flags)                              \
  {#name, arity, dsl, shape, (flags) & F_EW ? #cexpr : 0, flags},
#include "ops.def"
#undef OP
};

double op_eval(Op op, double a, double b, double c) {
  (void)a, (void)b, (void)c;
  switch (op) {
#define OP(name, arity, dsl, shape, cexpr, flags)                              \
  case OP_##name:                                                              \
    return (double)(cexpr);
#include "ops.def"
#undef OP
  case OP_COUNT:
    break;
  }
  return 0;
}
