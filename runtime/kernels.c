/* kernels.c: the run-time kernels that generated code calls.
 *
 * Matrix products go to OpenBLAS when exprc was built with it (they are
 * where a model's time goes, and a tuned BLAS is ten times faster than
 * loops); small products, where a BLAS call costs more than the work, and
 * builds without BLAS use the loops below, ordered so that the innermost
 * loop runs along contiguous memory.
 *
 * OpenBLAS is loaded (dlopen) on the first product that is large enough to
 * need it, not linked: loading it starts its threads and allocates its
 * buffers, 3-4 ms that every process paid at start-up, and most runs of
 * `exprc` (check, graph, emit, small models) multiply nothing that large.
 * If the library cannot be loaded, products use the loops: slower, same
 * results up to rounding.
 *
 * This file stands alone (a program compiled ahead of time links only it):
 * exprc_rt_gemm is one call, on the calling thread, with OpenBLAS as the
 * program has set it (a program that links OpenBLAS itself gets that same
 * library from dlopen). Models that exprc compiles call parallel.c's
 * exprc_rt_gemm_pooled instead, which splits large products over the
 * model's threads.
 */
#include "runtime.h"
#include "lapack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef EXPRC_HAVE_CBLAS
#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#endif

#ifndef EXPRC_BLAS_SONAME
#define EXPRC_BLAS_SONAME "libopenblas.so.0"
#endif

/* ---- OpenBLAS, loaded on first need ---- */

#ifdef EXPRC_HAVE_CBLAS
typedef void (*dgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE,
                         enum CBLAS_TRANSPOSE, blasint, blasint, blasint,
                         double, const double *, blasint, const double *,
                         blasint, double, double *, blasint);
typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE,
                         enum CBLAS_TRANSPOSE, blasint, blasint, blasint,
                         float, const float *, blasint, const float *,
                         blasint, float, float *, blasint);

static struct {
  pthread_once_t once;
  dgemm_fn dgemm;
  sgemm_fn sgemm; /* float32 models (exprc_options.dtype) */
  int (*get_threads)(void);
  void (*set_threads)(int);
  exprc_rt_lapack lapack; /* for linalg.c */
} blas = {.once = PTHREAD_ONCE_INIT};

/* cblas.h's prototype and ours agree (checked, not called: not linked) */
_Static_assert(__builtin_types_compatible_p(__typeof__(&cblas_dgemm), dgemm_fn),
               "cblas_dgemm's type");
_Static_assert(__builtin_types_compatible_p(__typeof__(&cblas_sgemm), sgemm_fn),
               "cblas_sgemm's type");

/* A symbol of the library as a function pointer (POSIX's way to convert). */
static void lookup(void *lib, const char *name, void *fn, size_t size) {
  void *p = dlsym(lib, name);
  memcpy(fn, &p, size);
}

static void blas_load(void) {
  void *lib = dlopen(EXPRC_BLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    lib = dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    return; /* the loops, then */
  lookup(lib, "cblas_dgemm", &blas.dgemm, sizeof blas.dgemm);
  lookup(lib, "cblas_sgemm", &blas.sgemm, sizeof blas.sgemm);
  lookup(lib, "openblas_get_num_threads", &blas.get_threads,
         sizeof blas.get_threads);
  lookup(lib, "openblas_set_num_threads", &blas.set_threads,
         sizeof blas.set_threads);
  lookup(lib, "dpotrf_", &blas.lapack.dpotrf, sizeof blas.lapack.dpotrf);
  lookup(lib, "dgetrf_", &blas.lapack.dgetrf, sizeof blas.lapack.dgetrf);
  lookup(lib, "dgetrs_", &blas.lapack.dgetrs, sizeof blas.lapack.dgetrs);
  lookup(lib, "cblas_dtrsm", &blas.lapack.dtrsm, sizeof blas.lapack.dtrsm);
  if (!blas.get_threads || !blas.set_threads) { /* not OpenBLAS: its thread */
    blas.dgemm = NULL;                          /* count cannot be kept */
    blas.lapack = (exprc_rt_lapack){0};
  }
  if (!blas.dgemm)
    blas.sgemm = NULL;
}

const exprc_rt_lapack *exprc_rt_lapack_get(void) {
  pthread_once(&blas.once, blas_load);
  return blas.dgemm ? &blas.lapack : NULL;
}
#endif

int exprc_rt_blas_loaded(void) {
#ifdef EXPRC_HAVE_CBLAS
  return blas.dgemm != NULL;
#else
  return 0;
#endif
}

int exprc_rt_blas_single_threaded(void) {
#ifdef EXPRC_HAVE_CBLAS
  pthread_once(&blas.once, blas_load);
  if (blas.dgemm) {
    int was = blas.get_threads();
    blas.set_threads(1);
    return was;
  }
#endif
  return 0;
}

/* exprc_rt_blas_dgemm and exprc_rt_blas_sgemm: C = A B through OpenBLAS
 * (row-major, beta 0), 1 if it ran, 0 if there is no BLAS (the caller's
 * loops then run). One body for both types. */
#ifdef EXPRC_HAVE_CBLAS
#define BLAS_GEMM_CALL(fn, T)                                                 \
  pthread_once(&blas.once, blas_load);                                        \
  if (blas.fn) {                                                              \
    blas.fn(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,                    \
            tb ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n,           \
            (blasint)k, (T)1, a, (blasint)lda, b, (blasint)ldb, (T)0, c,      \
            (blasint)ldc);                                                    \
    return 1;                                                                 \
  }
#else
#define BLAS_GEMM_CALL(fn, T)                                                 \
  (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)a, (void)lda;         \
  (void)b, (void)ldb, (void)c, (void)ldc;
#endif
#define BLAS_GEMM(name, fn, T)                                                \
  int name(int ta, int tb, long m, long n, long k, const T *a, long lda,      \
           const T *b, long ldb, T *c, long ldc) {                            \
    BLAS_GEMM_CALL(fn, T)                                                     \
    return 0;                                                                 \
  }
BLAS_GEMM(exprc_rt_blas_dgemm, dgemm, double)
BLAS_GEMM(exprc_rt_blas_sgemm, sgemm, float)
#undef BLAS_GEMM
#undef BLAS_GEMM_CALL

/* ---- the loops ---- */

/* c[i,j] = sum_p a(i,p) b(p,j) with any of the four transpositions. The
 * matrix-vector product (n = 1) and the outer product (k = 1), which small
 * models' gradients are made of, get loops of their own; they add in the
 * same order as the general loop, so results do not depend on the path. */
static void gemm_loops(int ta, int tb, long m, long n, long k, const double *a,
                       const double *b, double *c) {
  if (n == 1) { /* b is a vector either way */
    for (long i = 0; i < m; i++) {
      double s = 0;
      if (ta)
        for (long p = 0; p < k; p++)
          s += a[p * m + i] * b[p];
      else
        for (long p = 0, o = i * k; p < k; p++)
          s += a[o + p] * b[p];
      c[i] = s;
    }
    return;
  }
  if (k == 1) { /* a and b are vectors either way */
    for (long i = 0; i < m; i++)
      for (long j = 0; j < n; j++)
        c[i * n + j] = a[i] * b[j];
    return;
  }
  memset(c, 0, (size_t)(m * n) * sizeof *c);
  for (long i = 0; i < m; i++) {
    double *ci = c + i * n;
    for (long p = 0; p < k; p++) {
      double aip = ta ? a[p * m + i] : a[i * k + p];
      if (tb)
        for (long j = 0; j < n; j++)
          ci[j] += aip * b[j * k + p];
      else
        for (long j = 0, o = p * n; j < n; j++)
          ci[j] += aip * b[o + j];
    }
  }
}


/* The float32 product without BLAS: each element a dot product summed in
 * double, in the order of p as above, and rounded once (sgemm itself, for
 * the products large enough to go to BLAS, sums in float). */
static void gemm_loops_f32(int ta, int tb, long m, long n, long k,
                           const float *a, const float *b, float *c) {
  for (long i = 0; i < m; i++)
    for (long j = 0; j < n; j++) {
      double s = 0;
      for (long p = 0; p < k; p++)
        s += (double)(ta ? a[p * m + i] : a[i * k + p]) *
             (tb ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = (float)s;
    }
}

void exprc_rt_gemm(int ta, int tb, long m, long n, long k, const double *a,
                   const double *b, double *c) {
  if (EXPRC_RT_BLAS_SIZED(m, n, k) &&
      exprc_rt_blas_dgemm(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, c, n))
    return;
  gemm_loops(ta, tb, m, n, k, a, b, c);
}

/* ---- loops built for the processor's vectors ---- */

/* The kernels below are loops that the compiler vectorises, each compiled
 * three times: for AVX-512 (eight doubles), for AVX2 with FMA (four), and
 * plain x86-64 (two, SSE2), the processor picking at each call.
 * VEC_BUILDS(name, params, body) defines the three from one always-inline
 * body, in which vec_fma says whether the build has the fused multiply-add
 * instruction; VEC_CALL calls the build this processor runs (or the one a
 * test asked for: exprc_rt_vec_level_set). No build reorders an addition or
 * fuses a multiply-add that its code does not ask for (fp-contract=off; for
 * clang, the pragma), so a wider vector runs each element's operations in
 * the same order, and builds that make the same fma() calls give the same
 * bits. Only GCC on x86-64 makes the vector builds; other compilers make
 * the plain one. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
/* vec_fma: whether this build fuses (a body need not read it). */
#define VEC_FMA(yes) const int vec_fma = (yes); (void)vec_fma
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <stdatomic.h>

#define VEC_LOOP __attribute__((optimize("tree-vectorize", "no-trapping-math", \
                                         "vect-cost-model=dynamic",         \
                                         "fp-contract=off")))
#define VEC_BUILDS(name, params, body)                                        \
  __attribute__((target("avx512f", "prefer-vector-width=512"))) VEC_LOOP     \
  static void name##_avx512 params { VEC_FMA(1); body; }                    \
  __attribute__((target("avx2", "fma"))) VEC_LOOP                             \
  static void name##_avx2 params { VEC_FMA(1); body; }                      \
  VEC_LOOP static void name##_base params { VEC_FMA(0); body; }

/* 2 for AVX-512, 1 for AVX2 with FMA, 0 for neither (libgcc has read the
 * processor before main). */
static int vec_cpu_level(void) {
  if (__builtin_cpu_supports("avx512f"))
    return 2;
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static atomic_int vec_forced = -1; /* a test's level, or -1 */

static int vec_level(void) {
  int f = atomic_load_explicit(&vec_forced, memory_order_relaxed);
  return f >= 0 ? f : vec_cpu_level();
}
/* The level is read once a call: xc_tanh calls for every element. */
#define VEC_CALL(name, args)                                                  \
  do {                                                                        \
    int level_ = vec_level();                                                 \
    if (level_ == 2)                                                          \
      name##_avx512 args;                                                     \
    else if (level_ == 1)                                                     \
      name##_avx2 args;                                                       \
    else                                                                      \
      name##_base args;                                                       \
  } while (0)

int exprc_rt_vec_level_set(int level) {
  if (level > vec_cpu_level())
    return -1;
  atomic_store_explicit(&vec_forced, level < 0 ? -1 : level,
                        memory_order_relaxed);
  return 0;
}
#else
#define VEC_LOOP
#define VEC_BUILDS(name, params, body)                                        \
  static void name##_base params { VEC_FMA(0); body; }
#define VEC_CALL(name, args) name##_base args

int exprc_rt_vec_level_set(int level) { return level > 0 ? -1 : 0; }
#endif
#define VEC_INLINE static inline __attribute__((always_inline)) VEC_LOOP

/* ---- column sums ---- */

/* out[j] = x[0][j] + x[1][j] + ... + x[m-1][j] for an m x n row-major x:
 * a sum over leading axes (a bias's gradient), started from 0.0 and added
 * in row order, as generated code's loops add, so every build gives the
 * same numbers (of a column that meets two NaNs, the NaN kept, with its
 * sign and payload, may depend on the build: x86 keeps an addition's first
 * NaN operand, and a vector build may order the two operands the other way);
 * the inner loop runs along a row, so the compiler vectorises it (out and
 * x are different buffers: out is zeroed before x is read). */
VEC_INLINE void colsum_span(long m, long n, const double *restrict x,
                            double *restrict out) {
  for (long j = 0; j < n; j++)
    out[j] = 0.0;
  for (long i = 0; i < m; i++)
    for (long j = 0; j < n; j++)
      out[j] += x[i * n + j];
}
VEC_BUILDS(colsum, (long m, long n, const double *x, double *out),
           colsum_span(m, n, x, out))

void exprc_rt_colsum(long m, long n, const double *x, double *out) {
  VEC_CALL(colsum, (m, n, x, out));
}

/* The same in double for float rows, a block of columns at a time (the
 * accumulators live on the stack): each column's terms are added in row
 * order from 0.0, as the generated loop adds them in its double. */
VEC_INLINE void colsum_f32_span(long m, long n, const float *x, float *out) {
  enum { COLS = 256 };
  double acc[COLS];
  for (long j0 = 0; j0 < n; j0 += COLS) {
    long w = n - j0 < COLS ? n - j0 : COLS;
    for (long j = 0; j < w; j++)
      acc[j] = 0.0;
    for (long i = 0; i < m; i++)
      for (long j = 0; j < w; j++)
        acc[j] += (double)x[i * n + j0 + j];
    for (long j = 0; j < w; j++)
      out[j0 + j] = (float)acc[j];
  }
}
VEC_BUILDS(colsum_f32, (long m, long n, const float *x, float *out),
           colsum_f32_span(m, n, x, out))

void exprc_rt_colsum_f32(long m, long n, const float *x, float *out) {
  VEC_CALL(colsum_f32, (m, n, x, out));
}

/* ---- tanh ---- */

/* a b + c: one rounding where the build has the instruction (fused), two
 * in the plain build, where libm's fma would be a call per operation (30
 * ns an element, and glibc emulates it where the processor lacks it). */
VEC_INLINE double mul_add(int fused, double a, double b, double c) {
  return fused ? fma(a, b, c) : a * b + c;
}

/* tanh(x) = -t / (t + 2) with t = expm1(-2|x|) and the sign of x put back
 * (glibc's formula), where expm1(y) = 2^k (p + 1) - 1 = 2^k p + (2^k - 1)
 * with y = k ln 2 + r, |r| <= ln 2 / 2, and p = expm1(r) by its Taylor
 * series to r^13 / 13! (the next term is below 2^-56 relative): 2^k p and
 * 2^k - 1 are exact. Within 3 ulps of tanh (libm's tanh is within 2);
 * |x| >= 22 gives +-1 exactly, as libm, and a NaN goes through. It has no
 * branch and no call in the vector builds, which fuse its multiply-adds
 * (mul_add), a quarter less time where additions and products share the
 * vector units; so the AVX2 and AVX-512 builds give the same bits in every
 * lane and in the scalar remainder. The plain build adds and multiplies
 * apart: the same bits on every processor without AVX2 and FMA, within 3
 * ulps as well, though not always those of the fused builds. A tanh of one
 * element (xc_tanh) and of an array go through the same build, and both
 * tiers' code calls it, so they cannot differ. Over an array it is five
 * times libm's tanh (AVX2; AVX-512 halves that again on a processor with
 * full-width units), where a tanh layer's forward pass spends its time. */
VEC_INLINE double tanh_one(int fused, double v) {
  const double inv_ln2 = 1.4426950408889634, shift = 0x1.8p52;
  const double ln2_hi = 6.93147180369123816490e-01; /* 32 low bits zero */
  const double ln2_lo = 1.90821492927058770002e-10;
  double a = fabs(v);
  double e = -2.0 * (a > 22.0 ? 22.0 : a);
  double kk = mul_add(fused, e, inv_ln2, shift); /* k = round(e / ln 2) */
  double k = kk - shift;
  double r = mul_add(fused, -k, ln2_lo, mul_add(fused, -k, ln2_hi, e));
  double q = 1.0 / 6227020800.0; /* Horner from 1/13! down to 1/2! */
  q = mul_add(fused, q, r, 1.0 / 479001600.0);
  q = mul_add(fused, q, r, 1.0 / 39916800.0);
  q = mul_add(fused, q, r, 1.0 / 3628800.0);
  q = mul_add(fused, q, r, 1.0 / 362880.0);
  q = mul_add(fused, q, r, 1.0 / 40320.0);
  q = mul_add(fused, q, r, 1.0 / 5040.0);
  q = mul_add(fused, q, r, 1.0 / 720.0);
  q = mul_add(fused, q, r, 1.0 / 120.0);
  q = mul_add(fused, q, r, 1.0 / 24.0);
  q = mul_add(fused, q, r, 1.0 / 6.0);
  q = mul_add(fused, q, r, 0.5);
  double p = mul_add(fused, r * r, q, r);
  uint64_t bits;
  memcpy(&bits, &kk, sizeof bits);
  bits = (bits + 1023) << 52; /* 2^k, k in -64 .. 0 */
  double s;
  memcpy(&s, &bits, sizeof s);
  double t = mul_add(fused, s, p, s - 1.0);
  return copysign(-t / (t + 2.0), v);
}

VEC_INLINE void tanh_span(int fused, long n, const double *x, double *y) {
  for (long i = 0; i < n; i++)
    y[i] = tanh_one(fused, x[i]);
}
VEC_BUILDS(tanh, (long n, const double *x, double *y),
           tanh_span(vec_fma, n, x, y))

void exprc_rt_tanh(long n, const double *x, double *y) {
  VEC_CALL(tanh, (n, x, y));
}

/* Each float the same bits as exprc_rt_tanh's double rounded, written
 * straight from the vector registers. */
VEC_INLINE void tanh_f32_span(int fused, long n, const double *x, float *y) {
  for (long i = 0; i < n; i++)
    y[i] = (float)tanh_one(fused, x[i]);
}
VEC_BUILDS(tanh_f32, (long n, const double *x, float *y),
           tanh_f32_span(vec_fma, n, x, y))

void exprc_rt_tanh_f32(long n, const double *x, float *y) {
  VEC_CALL(tanh_f32, (n, x, y));
}

void exprc_rt_gemm_f32(int ta, int tb, long m, long n, long k, const float *a,
                       const float *b, float *c) {
  if (EXPRC_RT_BLAS_SIZED(m, n, k) &&
      exprc_rt_blas_sgemm(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, c, n))
    return;
  gemm_loops_f32(ta, tb, m, n, k, a, b, c);
}

/* splitmix64, to spread a seed over the generator's state. */
static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void exprc_rng_seed(exprc_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** (Blackman and Vigna). */
uint64_t exprc_rng_next(exprc_rng *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

double exprc_rng_uniform(exprc_rng *r) {
  return (double)(exprc_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Box-Muller with one draw per call: simple and the same everywhere that
 * libm's log, sqrt and cos are correctly rounded to the last bit or so. */
double exprc_rng_normal(exprc_rng *r) {
  double u = 1.0 - exprc_rng_uniform(r); /* (0, 1]: log is finite */
  double v = exprc_rng_uniform(r);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ---- argsort ----
 * A stable merge sort of index arrays, ascending, NaN last (NumPy's order):
 * each lane x[(o*n + j)*inner + i], j = 0..n-1, gives out at the same places
 * the positions j in sorted order, as doubles. Scratch memory that cannot
 * be had makes it an insertion sort: slower, same result. */

static int sorts_before(double a, double b) { /* a strictly before b */
  return a < b || (b != b && a == a);
}

static void merge_lane(const double *x, long s, long *idx, long *tmp, long n) {
  for (long w = 1; w < n; w *= 2) {
    for (long lo = 0; lo < n; lo += 2 * w) {
      long mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      long a = lo, b = mid, k = lo;
      while (a < mid && b < hi) /* equal keys: the left one first */
        tmp[k++] = sorts_before(x[idx[b] * s], x[idx[a] * s]) ? idx[b++]
                                                               : idx[a++];
      while (a < mid)
        tmp[k++] = idx[a++];
      while (b < hi)
        tmp[k++] = idx[b++];
    }
    memcpy(idx, tmp, (size_t)n * sizeof *idx);
  }
}

static void insertion_lane(const double *x, long s, long n, double *out) {
  for (long j = 0; j < n; j++) {
    long k = j;
    for (; k > 0 && sorts_before(x[j * s], x[(long)out[(k - 1) * s] * s]); k--)
      out[k * s] = out[(k - 1) * s];
    out[k * s] = (double)j;
  }
}

void exprc_rt_argsort(const double *x, long outer, long n, long inner,
                      double *out) {
  long *idx = n > 0 ? malloc(2 * (size_t)n * sizeof *idx) : NULL;
  for (long o = 0; o < outer; o++)
    for (long i = 0; i < inner; i++) {
      const double *lane = x + o * n * inner + i;
      double *res = out + o * n * inner + i;
      if (!idx) {
        insertion_lane(lane, inner, n, res);
        continue;
      }
      for (long j = 0; j < n; j++)
        idx[j] = idx[n + j] = j;
      merge_lane(lane, inner, idx, idx + n, n);
      for (long j = 0; j < n; j++)
        res[j * inner] = (double)idx[j];
    }
  free(idx);
}
