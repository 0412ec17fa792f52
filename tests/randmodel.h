/* randmodel.h: random well-typed .expr models that stress axis alignment,
 * for the random tests and the fuzz target.
 *
 * A model is a few inputs and params (with values), a dim or two, named
 * intermediate values, a result `y`, and a scalar `loss` built from all of
 * them, with `grad loss wrt` every input and param. Expressions are built to
 * a known shape, top-down: each form (elementwise, broadcasting, reductions,
 * normalisers, slices, reshapes, transposes, products, grad, hessian, defs)
 * says which operand shapes make the shape asked for. Sizes are drawn from a
 * pool where different axes often have equal sizes ([n,n], [a,a,a],
 * [a,b,b]), dims are bound to sizes that also appear as constants, and size-1
 * axes turn up in every position, so that a rewrite that confuses two axes
 * changes numbers instead of failing on shapes.
 *
 * Functions with a restricted domain get arguments that are safe by
 * construction (log of softplus(e) + 0.5, division by 1 + e^2, ...), and exp
 * only sees bounded arguments, so values stay finite and the textbook forms
 * of the reference evaluator do not overflow.
 *
 * randmodel_check() is the oracle the random tests and the fuzz target
 * share: the reference evaluator for values, finite differences of it for
 * gradients, and the default compile for the other compiles.
 */
#ifndef EXPRC_RANDMODEL_H
#define EXPRC_RANDMODEL_H

#include <stdint.h>
#include <stdio.h>

#include <exprc.h>

#define RM_MAX_VARS 10
#define RM_MAX_RANK 4
#define RM_MAX_OUTPUTS 8

typedef struct RandVar {
  char name[8];
  int is_param;
  int rank;
  int64_t shape[RM_MAX_RANK]; /* sizes, dims already bound */
  int64_t size;
  double *value; /* size values from [-1.5, 1.5] */
  int64_t int_rows; /* > 0: an `input ... : int` of row ids, whole values
                       from [-int_rows, int_rows); never a `wrt` */
} RandVar;

typedef struct RandModel {
  char *text;      /* the model source */
  uint64_t seed;
  int nvar;
  RandVar var[RM_MAX_VARS];
  int ndim;
  char dim_name[2][4];
  int64_t dim_size[2];
  int y_rank; /* the shape y was generated to have */
  int64_t y_shape[RM_MAX_RANK];
  int nout; /* outputs: y, the named values, loss */
  char out_name[RM_MAX_OUTPUTS][16];
  int grads;    /* grad() calls in the model */
  int nested;   /* grad() calls inside another grad() */
  int hessians; /* hessian() calls */
} RandModel;

/* What to emphasise; zero fields take the defaults in brackets. */
typedef struct RandOptions {
  int depth;        /* of the result's expression tree [3 or 4] */
  int max_grads;    /* grad() calls per model [2] */
  int hessian_pct;  /* percent of models that try a hessian [8] */
  int views_pct;    /* extra weight of slices, reshapes, transposes and
                       reductions, in percent of the usual [100] */
  int gather_pct;   /* weight of gathers by integer inputs (`E[ids]`,
                       `take(E, ids, 0)`), in percent of a unary form's; 0
                       (the default) makes none, and the models of every
                       seed are then what they were before gathers */
  int shape_funcs_pct; /* weight of the functions of test_shape_funcs.c
                          (keepdims, axis lists, prod var norm, cumulative,
                          transpose with axes, pad, flip, tril, ...), in
                          percent of a slice's [0: none, and the models of
                          every seed are those made before they existed] */
} RandOptions;

/* The model for `seed` (the same seed gives the same model and values). */
void randmodel_make(RandModel *m, uint64_t seed, const RandOptions *o);
void randmodel_free(RandModel *m);

/* ---- checking a model against the oracle ---- */

/* One way to compile a model. */
typedef struct RandVariant {
  const char *name;
  exprc_options opt;
  int exact; /* 1: the first variant's outputs and gradients, to the bit;
                0: outputs that agree with the reference evaluator, and
                gradients with the first variant's to 1e-9 */
} RandVariant;

/* Compile m each way, set its values, run every output and the gradient
 * of its loss. The first variant's outputs must agree with the reference
 * evaluator (tests/refeval.h) and its gradients with finite differences of
 * the reference's loss; the others as `exact` says. Returns 1 if all of it
 * holds, else 0 with the first disagreement described in why (n bytes). */
int randmodel_check(const RandModel *m, const RandVariant *v, int nv,
                    char *why, size_t n);
/* The same, checking the gradient against differences at per_var elements
 * of each var (spread over it, the first and last among them; 0: all): the
 * reference's loss is the check's cost, and long runs trade elements for
 * models. Where the model holds grad() or hessian(), an element the
 * reference's differences reject is judged again by differences of the
 * compiled loss (see randmodel.c). */
int randmodel_check_sampled(const RandModel *m, const RandVariant *v, int nv,
                            int per_var, char *why, size_t n);

/* The same, with the reference's work bounded by budget units
 * (ref_set_budget; 0: no bound), so that a check ends in bounded time
 * whatever the model: the fuzz target's promise to libFuzzer's per-input
 * timeout. If the reference spends the budget, its comparisons stop where
 * they are (what was compared agreed), the compiles are still held to the
 * first to the bit, and *over (if not NULL) is set to 1. */
int randmodel_check_bounded(const RandModel *m, const RandVariant *v, int nv,
                            int per_var, uint64_t budget, int *over,
                            char *why, size_t n);

/* The model text, `why` and the values of its inputs, for a failure. */
void randmodel_print(const RandModel *m, const char *why, FILE *f);

#endif
