/* runtime.h: what generated code and the API call at run time: the matrix
 * product kernel, the seeded random numbers of param initializers. */
#ifndef EXPRC_RUNTIME_H
#define EXPRC_RUNTIME_H

#include <stdint.h>

/* The body of a parallel loop: iterations lo .. hi-1, reading the scalars
 * R, leaving its partial reductions in A (one per accumulator). */
#define EXPRC_RT_BODY_PARAMS                                                  \
  (long lo, long hi, const long *D, double *const *S, const double *R,        \
   double *A)
typedef void(*exprc_rt_body) EXPRC_RT_BODY_PARAMS;

#define EXPRC_RT_MAX_ACC 32

/* The functions generated code calls, listed once, as X(name, parameters):
 * this header declares them, the emitter prints the same declarations into
 * every translation unit, and the JIT hands their addresses to the code.
 *
 * exprc_rt_gemm: c = op(a) @ op(b), row-major; op(a) is m x k (a is k x m
 * when ta), op(b) is k x n (b is n x k when tb). c must not alias a or b.
 *
 * exprc_rt_parallel: run body over 0 .. n-1 split into equal chunks, one per
 * thread, and fold each chunk's partial reductions into A in chunk order:
 * kinds[k] is '+' (sum), '>' (max) or '<' (min) for accumulator k. Small n
 * runs on the calling thread alone. Results depend on the thread count only
 * through the order of the partial sums. */
#define EXPRC_RT_FNS(X)                                                       \
  X(exprc_rt_gemm, (int ta, int tb, long m, long n, long k, const double *a,  \
                    const double *b, double *c))                              \
  X(exprc_rt_parallel, (exprc_rt_body body, long n, const long *D,           \
                        double *const *S, const double *R,                    \
                        const char *kinds, double *A))                        \
  X(exprc_rt_fail, (long site, int what, double a, double b))

#define EXPRC_RT_DECLARE(name, params) void name params;
EXPRC_RT_FNS(EXPRC_RT_DECLARE)
#undef EXPRC_RT_DECLARE

/* The function the JIT gives generated code for each name of the list (a
 * name left out here does not compile): models that exprc compiles get
 * products split over their threads (exprc_rt_gemm_pooled), while
 * kernels.c's exprc_rt_gemm, one call on the calling thread, is what a
 * program compiled ahead of time links. */
#define EXPRC_RT_IMPL(name) EXPRC_RT_IMPL_##name
#define EXPRC_RT_IMPL_exprc_rt_gemm exprc_rt_gemm_pooled
#define EXPRC_RT_IMPL_exprc_rt_parallel exprc_rt_parallel
#define EXPRC_RT_IMPL_exprc_rt_fail exprc_rt_fail

/* Run-time errors: what only the data can reveal. Generated code that finds
 * one calls exprc_rt_fail(site, what, a, b) and goes on without reading or
 * writing outside a buffer (it skips or clamps the bad access), or returns
 * at once where it can. `site` is the graph node whose code found it (the
 * compiled model keeps each such node's place in the model source), `what`
 * one of the messages below, a and b the numbers the message shows.
 *
 * The first failure of a run is kept in the record that the caller
 * installed for its thread with exprc_rt_catch; parallel loops carry the
 * record to the pool's threads, and among failures on several threads the
 * smallest site wins, so the report does not depend on timing. A failure
 * with no record installed (a program compiled ahead of time that never
 * asked) is ignored; its results are then undefined but memory is safe.
 *
 * X(name, status, message format over a and b) */
#define EXPRC_RT_ERRORS(X)                                                    \
  X(EXPRC_RTE_INDEX, EXPRC_ERR_RANGE,                                         \
    "index %.0f is out of range for an axis of size %.0f")                    \
  X(EXPRC_RTE_NOT_PD, EXPRC_ERR_NUMERIC,                                      \
    "the matrix is not positive definite (pivot %.0f is %.6g)")               \
  X(EXPRC_RTE_SINGULAR, EXPRC_ERR_NUMERIC,                                    \
    "the matrix is singular (pivot %.0f is %.6g)")                            \
  X(EXPRC_RTE_NONFINITE, EXPRC_ERR_NUMERIC, "produced %g")

enum {
#define EXPRC_RT_ERROR_ENUM(name, status, fmt) name,
  EXPRC_RT_ERRORS(EXPRC_RT_ERROR_ENUM)
#undef EXPRC_RT_ERROR_ENUM
  EXPRC_RTE_COUNT
};

typedef struct exprc_rt_error {
  long site; /* -1: no failure */
  int what;
  double a, b;
} exprc_rt_error;

/* Make e the calling thread's record for the runs that follow (the caller
 * sets e->site = -1 first); NULL removes it. Returns the record it replaces,
 * to be put back when the run is over. */
exprc_rt_error *exprc_rt_catch(exprc_rt_error *e);

/* With OpenBLAS, a large product split into blocks, one per thread of the
 * running model, each a single-threaded BLAS call (see parallel.c); else
 * exprc_rt_gemm. */
void exprc_rt_gemm_pooled(int ta, int tb, long m, long n, long k,
                          const double *a, const double *b, double *c);

/* Where BLAS beats the loops: below, a call costs more than the work. */
#define EXPRC_RT_BLAS_SIZED(m, n, k) ((m) * (n) * (k) >= 4096 && (m) > 1)

/* The calling thread's count of threads for matrix products and parallel
 * loops, set by the API around each run of a model to the model's own
 * `threads`; 0 means the default. Returns the count it replaces. Results
 * depend on the count (through the order of partial sums) and on nothing
 * else: not on other models running at the same time. */
int exprc_rt_use_threads(int n);

/* A small, documented, portable generator (xoshiro256** seeded through
 * splitmix64) so that initial params are the same on every machine. */
typedef struct exprc_rng {
  uint64_t s[4];
} exprc_rng;

void exprc_rng_seed(exprc_rng *r, uint64_t seed);
uint64_t exprc_rng_next(exprc_rng *r);
double exprc_rng_uniform(exprc_rng *r);        /* [0, 1) with 53 bits */
double exprc_rng_normal(exprc_rng *r);         /* mean 0, std 1 */

#endif
