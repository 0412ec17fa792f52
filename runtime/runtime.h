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
  X(exprc_rt_conv, (int kind, const long *G, const double *a,                 \
                    const double *b, double *out))                            \
  X(exprc_rt_pool, (int kind, const long *G, const double *x,                 \
                    const double *h, double *out))                            \
  X(exprc_rt_random, (int kind, long n, double *out))

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
#define EXPRC_RT_IMPL_exprc_rt_conv exprc_rt_conv
#define EXPRC_RT_IMPL_exprc_rt_pool exprc_rt_pool
#define EXPRC_RT_IMPL_exprc_rt_random exprc_rt_random

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

/* Convolutions, pooling and random draws (layers.c).
 *
 * G holds the sizes, in this order: N, C, H, W (input), O, KH, KW (weights
 * or window), OH, OW (output), the strides SH, SW, paddings PH, PW,
 * dilations DH, DW, and the groups; a 1-D op has H = KH = OH = 1.
 * exprc_rt_conv: kind 0 out[N,O,OH,OW] = conv(a = x, b = w); kind 1
 * out[N,C,H,W] = the input gradient from a = gy and b = w; kind 2
 * out[O,C/groups,KH,KW] = the weight gradient from a = x and b = gy.
 * Large ones are im2col products through exprc_rt_gemm_pooled (on the
 * model's threads), small ones direct loops; so a program compiled ahead
 * of time that convolves links layers.c and parallel.c beside kernels.c.
 * exprc_rt_pool: kind 0 out[N,C,OH,OW] = h at the first maximum of x in
 * each window (padding is never the maximum); kind 1 out[N,C,H,W] = h
 * ([N,C,OH,OW]) added at those places.
 * exprc_rt_random: n draws into out from the calling thread's generator
 * (exprc_rt_use_rng): kind 0 normal (mean 0, std 1), kind 1 uniform in
 * [0, 1). */
#define EXPRC_RT_CONV_BIG(m, n, k) ((m) * (n) * (k) >= 32768 && (m) > 1)

/* Make r the calling thread's generator for exprc_rt_random (the API sets
 * it to the model's around each run); returns the one it replaces. With
 * none set, a generator seeded with 0 serves. */
exprc_rng *exprc_rt_use_rng(exprc_rng *r);

#endif
