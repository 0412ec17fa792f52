/* lapack.h: the LAPACK and triangular-BLAS routines that linalg.c calls,
 * taken from the OpenBLAS that kernels.c loads on first need (it is not
 * linked: see kernels.c). Internal to the runtime; both files are built
 * with the same EXPRC_HAVE_CBLAS. */
#ifndef EXPRC_LAPACK_H
#define EXPRC_LAPACK_H

#ifdef EXPRC_HAVE_CBLAS
#include <cblas.h>

/* The Fortran interface of LAPACK (column-major, arguments by pointer). */
typedef void (*exprc_dpotrf_fn)(const char *uplo, const int *n, double *a,
                                const int *lda, int *info);
typedef void (*exprc_dgetrf_fn)(const int *m, const int *n, double *a,
                                const int *lda, int *ipiv, int *info);
typedef void (*exprc_dgetrs_fn)(const char *trans, const int *n,
                                const int *nrhs, const double *a,
                                const int *lda, const int *ipiv, double *b,
                                const int *ldb, int *info);
typedef __typeof__(&cblas_dtrsm) exprc_dtrsm_fn;

typedef struct exprc_rt_lapack {
  exprc_dpotrf_fn dpotrf;
  exprc_dgetrf_fn dgetrf;
  exprc_dgetrs_fn dgetrs;
  exprc_dtrsm_fn dtrsm;
} exprc_rt_lapack;

/* The routines, OpenBLAS loaded first (the caller makes it single-threaded
 * first, with parallel.c's exprc_rt_blas_once); NULL, or NULL members, when
 * no OpenBLAS can be loaded: the loops then. */
const exprc_rt_lapack *exprc_rt_lapack_get(void);
#endif

#endif
