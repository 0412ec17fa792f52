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
 * exprc_rt_tanh: y = tanh(x) over n elements (kernels.c); y may be x. Every
 * tanh of generated code is this one function, an array at a time where a
 * loop stores tanh's result, else one element at a time (scalar.h).
 *
 * exprc_rt_colsum: out[j] = sum over i of x[i * n + j], in the order of i
 * (kernels.c): a sum over an array's leading axes. out must not overlap x.
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
  X(exprc_rt_fail, (long site, int what, double a, double b))                 \
  X(exprc_rt_chol, (long site, long batch, long n, const double *a,          \
                    double *l))                                               \
  X(exprc_rt_trsolve, (long site, int lower, int trans, long batch, long n,  \
                       long k, const double *a, const double *b, double *x))  \
  X(exprc_rt_lusolve, (long site, int trans, long batch, long n, long k,     \
                       const double *a, const double *b, double *x))          \
  X(exprc_rt_det, (long site, int log_abs, long batch, long n,               \
                   const double *a, double *out))                             \
  X(exprc_rt_argsort, (const double *x, long outer, long n, long inner,      \
                       double *out))                                          \
  X(exprc_rt_conv, (int kind, const long *G, const double *a,                 \
                    const double *b, double *out))                            \
  X(exprc_rt_pool, (int kind, const long *G, const double *x,                 \
                    const double *h, double *out))                            \
  X(exprc_rt_random, (int kind, long n, double *out))                        \
  X(exprc_rt_tanh, (long n, const double *x, double *y))                     \
  X(exprc_rt_colsum, (long m, long n, const double *x, double *out))          \
  EXPRC_RT_FNS_F32(X)

/* The same kernels on float32 buffers, for models compiled with
 * exprc_options.dtype = EXPRC_FLOAT32. The product is OpenBLAS's sgemm
 * (kernels.c's loops, below BLAS sizes, accumulate in double); so are a
 * large convolution's products, on float im2col columns (layers.c), while
 * a small one's direct loops, and pooling's gradient, add in double and
 * round once. The others (f32.c) widen their operands to double, run the
 * kernel above and round the results to float once. */
#define EXPRC_RT_FNS_F32(X)                                                   \
  X(exprc_rt_gemm_f32, (int ta, int tb, long m, long n, long k,               \
                        const float *a, const float *b, float *c))            \
  X(exprc_rt_chol_f32, (long site, long batch, long n, const float *a,        \
                        float *l))                                            \
  X(exprc_rt_trsolve_f32, (long site, int lower, int trans, long batch,       \
                           long n, long k, const float *a, const float *b,    \
                           float *x))                                         \
  X(exprc_rt_lusolve_f32, (long site, int trans, long batch, long n, long k,  \
                           const float *a, const float *b, float *x))         \
  X(exprc_rt_det_f32, (long site, int log_abs, long batch, long n,            \
                       const float *a, float *out))                           \
  X(exprc_rt_argsort_f32, (const float *x, long outer, long n, long inner,    \
                           float *out))                                       \
  X(exprc_rt_conv_f32, (int kind, const long *G, const float *a,              \
                        const float *b, float *out))                          \
  X(exprc_rt_pool_f32, (int kind, const long *G, const float *x,              \
                        const float *h, float *out))                          \
  X(exprc_rt_random_f32, (int kind, long n, float *out))                     \
  X(exprc_rt_tanh_f32, (long n, const double *x, float *y))                  \
  X(exprc_rt_colsum_f32, (long m, long n, const float *x, float *out))

/* exprc_rt_tanh_f32: y = float(tanh(x)) over n elements, exprc_rt_tanh's
 * double rounded, so that the bits are those of a float32 model's tanh of
 * one element (xc_tanh) rounded where it is stored. x is double: the
 * argument a float32 statement computed in double, not yet rounded. The generated code hands
 * it blocks of EXPRC_RT_TANH_BLOCK arguments kept in a local array.
 * exprc_rt_colsum_f32: exprc_rt_colsum's sum in double, in the same order,
 * each result rounded to float once, as a float32 model's loops add. */
#define EXPRC_RT_TANH_BLOCK 256

/* For the tests that the builds of the vectorised kernels (kernels.c)
 * agree: from now on, run those of level 0 (plain x86-64), 1 (AVX2 and FMA)
 * or 2 (AVX-512), or, for -1, the processor's own. Returns -1, and changes
 * nothing, where this processor or compiler has not that level. */
int exprc_rt_vec_level_set(int level);

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
#define EXPRC_RT_IMPL_exprc_rt_chol exprc_rt_chol
#define EXPRC_RT_IMPL_exprc_rt_trsolve exprc_rt_trsolve
#define EXPRC_RT_IMPL_exprc_rt_lusolve exprc_rt_lusolve
#define EXPRC_RT_IMPL_exprc_rt_det exprc_rt_det
#define EXPRC_RT_IMPL_exprc_rt_argsort exprc_rt_argsort
#define EXPRC_RT_IMPL_exprc_rt_conv exprc_rt_conv
#define EXPRC_RT_IMPL_exprc_rt_pool exprc_rt_pool
#define EXPRC_RT_IMPL_exprc_rt_random exprc_rt_random
#define EXPRC_RT_IMPL_exprc_rt_tanh exprc_rt_tanh
#define EXPRC_RT_IMPL_exprc_rt_colsum exprc_rt_colsum
#define EXPRC_RT_IMPL_exprc_rt_gemm_f32 exprc_rt_gemm_pooled_f32
#define EXPRC_RT_IMPL_exprc_rt_chol_f32 exprc_rt_chol_f32
#define EXPRC_RT_IMPL_exprc_rt_trsolve_f32 exprc_rt_trsolve_f32
#define EXPRC_RT_IMPL_exprc_rt_lusolve_f32 exprc_rt_lusolve_f32
#define EXPRC_RT_IMPL_exprc_rt_det_f32 exprc_rt_det_f32
#define EXPRC_RT_IMPL_exprc_rt_argsort_f32 exprc_rt_argsort_f32
#define EXPRC_RT_IMPL_exprc_rt_conv_f32 exprc_rt_conv_f32
#define EXPRC_RT_IMPL_exprc_rt_pool_f32 exprc_rt_pool_f32
#define EXPRC_RT_IMPL_exprc_rt_random_f32 exprc_rt_random_f32
#define EXPRC_RT_IMPL_exprc_rt_tanh_f32 exprc_rt_tanh_f32
#define EXPRC_RT_IMPL_exprc_rt_colsum_f32 exprc_rt_colsum_f32

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
  X(EXPRC_RTE_NONFINITE, EXPRC_ERR_NUMERIC, "produced %g")                   \
  X(EXPRC_RTE_NOMEM, EXPRC_ERR_NOMEM, "out of memory")

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
void exprc_rt_gemm_pooled_f32(int ta, int tb, long m, long n, long k,
                              const float *a, const float *b, float *c);

/* OpenBLAS, loaded by kernels.c on first need rather than linked (its
 * start-up costs every process 3-4 ms). exprc_rt_blas_dgemm: c = op(a) @
 * op(b) with leading dimensions, row-major; returns 0, having done nothing,
 * when no BLAS can be loaded. exprc_rt_blas_single_threaded: load it, set
 * it to one thread and return the count it had (0 without BLAS).
 * exprc_rt_blas_loaded: whether it has been loaded (tests). */
int exprc_rt_blas_dgemm(int ta, int tb, long m, long n, long k,
                        const double *a, long lda, const double *b, long ldb,
                        double *c, long ldc);
int exprc_rt_blas_sgemm(int ta, int tb, long m, long n, long k,
                        const float *a, long lda, const float *b, long ldb,
                        float *c, long ldc);
int exprc_rt_blas_single_threaded(void);
int exprc_rt_blas_loaded(void);

/* Place k (0 .. 2) of the calling thread's scratch memory for float
 * kernels that work in double, at least n doubles, kept from call to call
 * (f32.c); NULL when memory ran out. A kernel must not hold a place across
 * a call to another kernel that uses it. */
double *exprc_rt_f32_scratch(int k, long n);

/* Make OpenBLAS single-threaded, once, before any call into it (LAPACK
 * included): see parallel.c. */
void exprc_rt_blas_once(void);

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
 * model's threads; exprc_rt_conv_f32's through exprc_rt_gemm_pooled_f32),
 * small ones direct loops; so a program compiled ahead of time that
 * convolves links layers.c and parallel.c beside kernels.c (and f32.c for
 * float32).
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
