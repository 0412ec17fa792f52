/* testutil.h: helpers that make Check suites read like documentation.
 *
 * Gradients are checked against central finite differences of the loss,
 * computed from the generated code's forward values: a path independent of
 * the gradient pass that produced the analytic numbers. */
#ifndef EXPRC_TESTUTIL_H
#define EXPRC_TESTUTIL_H

#include <check.h>
#include <exprc.h>

/* Compile a model from text; fails the test with the compiler's message. */
exprc_model *tu_compile(const char *src);
exprc_model *tu_compile_opts(const char *src, const exprc_options *o);

/* Compile text that must fail; returns the message (valid until the next
 * call) and stores the status. */
const char *tu_compile_error(const char *src, exprc_status *st);

/* Set an input or param; shape given as rank then sizes. */
void tu_set(exprc_model *m, const char *name, const double *v, int rank, ...);

/* Fill every input and param of m with values drawn from [lo, hi) by a
 * fixed seed, binding each dim to the size in `dims` (by order). */
void tu_randomize(exprc_model *m, unsigned seed, double lo, double hi,
                  const int64_t *dims, int ndims);

/* The first element of output or loss `name` after running it. */
double tu_scalar(exprc_model *m, const char *name);

/* Compare every gradient of `grad loss wrt ...` with central differences
 * at the current values; fails the test naming the first bad element. */
void tu_gradcheck(exprc_model *m, const char *loss, double rtol);

/* Assert that two arrays agree to a relative tolerance. */
void tu_assert_close(const double *got, const double *want, int64_t n,
                     double rtol, const char *what);

#endif
