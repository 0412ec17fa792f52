/* runtime.h: what generated code and the API call at run time: the matrix
 * product kernel, the seeded random numbers of param initializers. */
#ifndef EXPRC_RUNTIME_H
#define EXPRC_RUNTIME_H

#include <stdint.h>

/* c = op(a) @ op(b), row-major; op(a) is m x k (a is k x m when ta), op(b)
 * is k x n (b is n x k when tb). c must not alias a or b. */
void exprc_rt_gemm(int ta, int tb, long m, long n, long k, const double *a,
                   const double *b, double *c);

/* The same product for models that exprc compiles (the JIT binds
 * generated code's exprc_rt_gemm to it): with OpenBLAS, a large one is
 * split into blocks, one per thread of the running model, each a
 * single-threaded BLAS call (see parallel.c). */
void exprc_rt_gemm_pooled(int ta, int tb, long m, long n, long k,
                          const double *a, const double *b, double *c);

/* Where BLAS beats the loops: below, a call costs more than the work. */
#define EXPRC_RT_BLAS_SIZED(m, n, k) ((m) * (n) * (k) >= 4096 && (m) > 1)

/* The calling thread's count of threads for matrix products and parallel
 * loops, set by the API around each run of a model to the model's own
 * `threads`; 0 means the default. Returns the count it replaces. */
int exprc_rt_use_threads(int n);

/* The body of a parallel loop: iterations lo .. hi-1, reading the scalars
 * R, leaving its partial reductions in A (one per accumulator). */
typedef void (*exprc_rt_body)(long lo, long hi, const long *D,
                              double *const *S, const double *R, double *A);

#define EXPRC_RT_MAX_ACC 32

/* Run body over 0 .. n-1 split into equal chunks, one per thread, and fold
 * each chunk's partial reductions into A in chunk order: kinds[k] is '+'
 * (sum), '>' (max) or '<' (min) for accumulator k. Small n runs on the
 * calling thread alone. Results depend on the thread count only through
 * the order of the partial sums, and on nothing else (not on other models
 * running at the same time). */
void exprc_rt_parallel(exprc_rt_body body, long n, const long *D,
                       double *const *S, const double *R, const char *kinds,
                       double *A);

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
