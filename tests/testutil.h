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
 * fixed seed, binding each dim to the size in `dims` (by order). Integer
 * inputs get the draws' floors (0 for draws in [0, 1): an index valid for
 * any axis). */
void tu_randomize(exprc_model *m, unsigned seed, double lo, double hi,
                  const int64_t *dims, int ndims);

/* The first element of output or loss `name` after running it. */
double tu_scalar(exprc_model *m, const char *name);

/* Compare every gradient of `grad loss wrt ...` with central differences
 * at the current values; fails the test naming the first bad element. */
void tu_gradcheck(exprc_model *m, const char *loss, double rtol);

/* Name what tu_gradcheck is checking (a model file, an expression) in its
 * failure messages; NULL or "" for none. */
void tu_set_context(const char *what);

/* Assert that two arrays agree to a relative tolerance. */
void tu_assert_close(const double *got, const double *want, int64_t n,
                     double rtol, const char *what);


/* ---- added for the spine suites ---- */

/* Compile src, which must fail with status `st` and a message whose first
 * line is exactly `first` ("test.expr:LINE:COL: error: ..."). The rest of
 * the message must be the caret display: line LINE of src, then a caret under
 * column COL; and the text of src at LINE:COL must start with `at`, so the
 * test states which token the error points at. */
void tu_expect_error(const char *src, exprc_status st, const char *first,
                     const char *at);

/* Run the forward entry point and return the view of output `name`. */
exprc_tensor tu_output(exprc_model *m, const char *name);

/* Run the gradient entry point of `loss`, return the view of dloss/dwrt. */
exprc_tensor tu_grad(exprc_model *m, const char *loss, const char *wrt);

/* Assert a tensor's rank and sizes: tu_assert_shape(&t, 2, 3, 4). */
void tu_assert_shape(const exprc_tensor *t, int rank, ...);

/* A small deterministic generator for test data: uniform in [lo, hi). */
double tu_uniform(uint64_t *state, double lo, double hi);

/* Memory tests: bytes [from, to) of p filled with seed's pattern (no two
 * neighbours equal, a different pattern per seed), and the first of p's n
 * bytes that is not its pattern (SIZE_MAX: none). */
void tu_fill(unsigned char *p, size_t from, size_t to, unsigned seed);
size_t tu_first_wrong(const unsigned char *p, size_t n, unsigned seed);

/* Run a shell command; its stdout and stderr are returned in malloc'ed
 * strings (either pointer may be NULL to discard). Returns the exit status,
 * or -1 if the command could not run or was killed by a signal. */
int tu_run(const char *cmd, char **out, char **err);

/* Write text to a new temporary file whose name ends in `suffix`; returns
 * its malloc'ed path. The caller removes it. */
char *tu_temp_file(const char *text, const char *suffix);

/* Read a whole file into a malloc'ed string (NULL if it cannot be read). */
char *tu_read_file(const char *path);

/* The command-line suites get the exprc binary and the source root as
 * argv[1] and argv[2] (see tests/meson.build); these remember them. */
void tu_set_paths(int argc, char **argv);
const char *tu_exprc(void);
const char *tu_srcroot(void);

/* A test case with a timeout of `seconds` (Check's default is 4 s, too
 * short for JIT compiles under sanitizers). */
TCase *tu_tcase(const char *name, double seconds);

/* Run a suite; returns the process exit status. */
int tu_run_suite(Suite *s);
#endif
