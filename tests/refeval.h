/* refeval.h: a reference evaluator for .expr models, the tests' oracle.
 *
 * It computes a model's values straight from the parsed program (the
 * project's parser gives the syntax tree; nothing after it is used): plain
 * loops over dense float64 arrays, NumPy broadcasting written out index by
 * index, reductions and normalisers in their textbook forms (softmax as
 * exp(x - max) / sum, logsumexp with the max shift), and `grad(e, v)` and
 * `hessian(e, v)` by finite differences of the evaluator itself. There is no
 * lowering, graph, hash-consing, simplifier, gradient pass or emitter, so a
 * mistake in any of those cannot be repeated here.
 *
 * It is slow (every grad inside an expression re-evaluates its argument four
 * times per element) and meant for small shapes.
 *
 *   RefModel *r = ref_load(src, err, sizeof err);
 *   ref_set(r, "x", data, 2, (int64_t[]){3, 3});     // binds the dims of x
 *   RefTensor y;
 *   if (ref_eval(r, "y", &y) != 0) puts(ref_errmsg(r));
 */
#ifndef EXPRC_REFEVAL_H
#define EXPRC_REFEVAL_H

#include <stddef.h>
#include <stdint.h>

#define REF_MAX_RANK 8

typedef struct RefModel RefModel;

/* A value computed by ref_eval. `data` belongs to the model and is valid
 * until the next ref_eval, ref_set, ref_bind_dim or ref_free. */
typedef struct RefTensor {
  int rank;
  int64_t shape[REF_MAX_RANK];
  int64_t size;
  const double *data;
} RefTensor;

/* Parse a model. On a syntax or declaration error, returns NULL with the
 * message in err (n bytes). Shapes and names inside expressions are
 * checked when they are evaluated. */
RefModel *ref_load(const char *src, char *err, size_t n);
void ref_free(RefModel *m);

/* The message of the last failed call on m ("" if none). */
const char *ref_errmsg(const RefModel *m);

/* Give an input or param its values (C order); the shape must match the
 * declaration and binds its dims. Returns 0, or -1 with a message. */
int ref_set(RefModel *m, const char *name, const double *v, int rank,
            const int64_t *shape);

/* Bind a dim; inputs whose shape uses it and whose size no longer fits
 * are unset. Returns 0, or -1 with a message. */
int ref_bind_dim(RefModel *m, const char *dim, int64_t size);

/* The values of a set input or param, to change in place (for finite
 * differences); NULL if `name` is not a set input or param. */
double *ref_data(RefModel *m, const char *name, int64_t *size);

/* Evaluate an output (by its name, or by its source text when unnamed), a
 * named value, a const, an input or a param. Returns 0, or -1 with a
 * message. */
int ref_eval(RefModel *m, const char *name, RefTensor *out);

/* The step h of the finite differences behind grad() and hessian() for an
 * element x is h * max(1, |x|) rounded up to a power of two; the default
 * is 2^-10. The five-point stencil (-f(x+2h) + 8f(x+h) - 8f(x-h) +
 * f(x-2h)) / 12h is exact to O(h^4); a smaller step lets a caller tell a
 * kink (relu, abs, where, max) inside the stencil from a real difference. */
void ref_set_step(RefModel *m, double h);

/* A bound on the work of the evaluations to come, for callers that must
 * finish in bounded time (the fuzz target): a unit per syntax node
 * evaluated and per tensor element made, counted over every ref_eval
 * from this call on. Once it is spent, ref_eval fails ("over its work
 * budget") and ref_over_budget says so. 0, the default, sets no bound. */
void ref_set_budget(RefModel *m, uint64_t units);
int ref_over_budget(const RefModel *m);

/* What the model declares, in order: outputs (their result names), and
 * for each `grad L wrt ...` statement L and its variables. */
int ref_output_count(const RefModel *m);
const char *ref_output_name(const RefModel *m, int i);
int ref_grad_count(const RefModel *m);
const char *ref_grad_loss(const RefModel *m, int i);
int ref_grad_nwrt(const RefModel *m, int i);
const char *ref_grad_wrt(const RefModel *m, int i, int k);

#endif
