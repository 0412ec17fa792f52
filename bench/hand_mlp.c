/* hand_mlp.c: the hand-written forward and backward pass of the W1 MLP
 * (784-128-10 at batch 64), the baseline exprc is measured against (W2's is
 * in hand_tiny.c).
 *
 * W1 is written once over three matrix-product helpers, with two
 * implementations of them: plain loops ordered so that the innermost loop
 * walks contiguous memory (what a careful person writes without a library),
 * and OpenBLAS cblas_dgemm. The elementwise parts are the same loops in both,
 * so the two differ only in the products. The softmax uses the usual
 * max-shift; the targets are one-hot, so dloss/dZ = (softmax - Y) / B.
 */
#include "hand.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- matrix products: out = a @ b, a^T @ b, a @ b^T (row-major) ---- */

typedef void (*Product)(const double *a, const double *b, double *out, int n,
                        int k, int m);

typedef struct Products {
  Product ab;  /* out[n,m] = a[n,k] @ b[k,m] */
  Product atb; /* out[k,m] = a[n,k]^T @ b[n,m] */
  Product abt; /* out[n,k] = a[n,m] @ b[k,m]^T, called as abt(.., n, m, k) */
} Products;

static void ab_loops(const double *a, const double *b, double *out, int n,
                     int k, int m) {
  memset(out, 0, sizeof(double) * (size_t)n * (size_t)m);
  for (int i = 0; i < n; i++)
    for (int p = 0; p < k; p++) {
      double aip = a[i * k + p];
      for (int j = 0; j < m; j++)
        out[i * m + j] += aip * b[p * m + j];
    }
}

static void atb_loops(const double *a, const double *b, double *out, int n,
                      int k, int m) {
  memset(out, 0, sizeof(double) * (size_t)k * (size_t)m);
  for (int i = 0; i < n; i++)
    for (int p = 0; p < k; p++) {
      double aip = a[i * k + p];
      for (int j = 0; j < m; j++)
        out[p * m + j] += aip * b[i * m + j];
    }
}

static void abt_loops(const double *a, const double *b, double *out, int n,
                      int m, int k) {
  for (int i = 0; i < n; i++)
    for (int p = 0; p < k; p++) {
      double s = 0;
      for (int j = 0; j < m; j++)
        s += a[i * m + j] * b[p * m + j];
      out[i * k + p] = s;
    }
}

static void ab_blas(const double *a, const double *b, double *out, int n,
                    int k, int m) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, m, k, 1.0, a, k, b,
              m, 0.0, out, m);
}

static void atb_blas(const double *a, const double *b, double *out, int n,
                     int k, int m) {
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, m, n, 1.0, a, k, b, m,
              0.0, out, m);
}

static void abt_blas(const double *a, const double *b, double *out, int n,
                     int m, int k) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, k, m, 1.0, a, m, b, m,
              0.0, out, k);
}

static const Products LOOPS = {ab_loops, atb_loops, abt_loops};
static const Products BLAS = {ab_blas, atb_blas, abt_blas};

/* ---- W1 ---- */

void mlp1_alloc_scratch(Mlp1 *m) {
  m->H = malloc(sizeof(double) * M1_B * M1_HID);
  m->dH = malloc(sizeof(double) * M1_B * M1_HID);
  m->Z = malloc(sizeof(double) * M1_B * M1_OUT);
  m->dZ = malloc(sizeof(double) * M1_B * M1_OUT);
}

void mlp1_free_scratch(Mlp1 *m) {
  free(m->H);
  free(m->dH);
  free(m->Z);
  free(m->dZ);
}

/* H = tanh(X @ W1 + b1), Z = H @ W2 + b2 */
static void mlp1_layers(Mlp1 *m, const Products *P) {
  P->ab(m->X, m->W1, m->H, M1_B, M1_IN, M1_HID);
  for (int i = 0; i < M1_B; i++)
    for (int j = 0; j < M1_HID; j++)
      m->H[i * M1_HID + j] = tanh(m->H[i * M1_HID + j] + m->b1[j]);
  P->ab(m->H, m->W2, m->Z, M1_B, M1_HID, M1_OUT);
  for (int i = 0; i < M1_B; i++)
    for (int j = 0; j < M1_OUT; j++)
      m->Z[i * M1_OUT + j] += m->b2[j];
}

/* The mean cross-entropy; with dZ set, also dloss/dZ. */
static void mlp1_loss(Mlp1 *m, double *dZ) {
  double total = 0;
  for (int i = 0; i < M1_B; i++) {
    const double *z = m->Z + i * M1_OUT, *y = m->Y + i * M1_OUT;
    double mx = z[0], s = 0, yz = 0;
    for (int j = 1; j < M1_OUT; j++)
      mx = fmax(mx, z[j]);
    for (int j = 0; j < M1_OUT; j++) {
      s += exp(z[j] - mx);
      yz += y[j] * z[j];
    }
    double lse = mx + log(s);
    total += lse - yz;
    if (dZ)
      for (int j = 0; j < M1_OUT; j++)
        dZ[i * M1_OUT + j] = (exp(z[j] - lse) - y[j]) / M1_B;
  }
  m->loss = total / M1_B;
}

static void column_sums(const double *a, double *out, int n, int m) {
  memset(out, 0, sizeof(double) * (size_t)m);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < m; j++)
      out[j] += a[i * m + j];
}

static void mlp1_grad(Mlp1 *m, const Products *P) {
  mlp1_layers(m, P);
  mlp1_loss(m, m->dZ);
  P->atb(m->H, m->dZ, m->dW2, M1_B, M1_HID, M1_OUT);
  column_sums(m->dZ, m->db2, M1_B, M1_OUT);
  P->abt(m->dZ, m->W2, m->dH, M1_B, M1_OUT, M1_HID);
  for (int i = 0; i < M1_B * M1_HID; i++) /* through tanh: 1 - h^2 */
    m->dH[i] *= 1 - m->H[i] * m->H[i];
  column_sums(m->dH, m->db1, M1_B, M1_HID);
  P->atb(m->X, m->dH, m->dW1, M1_B, M1_IN, M1_HID);
}

void mlp1_grad_loops(void *m) { mlp1_grad(m, &LOOPS); }
void mlp1_grad_blas(void *m) { mlp1_grad(m, &BLAS); }

void mlp1_forward_loops(void *arg) {
  Mlp1 *m = arg;
  mlp1_layers(m, &LOOPS);
  mlp1_loss(m, NULL);
}

/* ---- the floor: W1's products alone ---- */

void mlp1_products_blas(void *arg) {
  Mlp1 *m = arg;
  ab_blas(m->X, m->W1, m->H, M1_B, M1_IN, M1_HID);
  ab_blas(m->H, m->W2, m->Z, M1_B, M1_HID, M1_OUT);
  atb_blas(m->H, m->dZ, m->dW2, M1_B, M1_HID, M1_OUT);
  abt_blas(m->dZ, m->W2, m->dH, M1_B, M1_OUT, M1_HID);
  atb_blas(m->X, m->dH, m->dW1, M1_B, M1_IN, M1_HID);
}

static float *rounded(const double *x, long n) {
  float *y = malloc(sizeof(float) * (size_t)n);
  for (long i = 0; y && i < n; i++)
    y[i] = (float)x[i];
  return y;
}

void mlp1f_from(Mlp1f *f, const Mlp1 *m) {
  f->X = rounded(m->X, M1_B * M1_IN);
  f->W1 = rounded(m->W1, M1_IN * M1_HID);
  f->W2 = rounded(m->W2, M1_HID * M1_OUT);
  f->H = rounded(m->H, M1_B * M1_HID);
  f->Z = rounded(m->Z, M1_B * M1_OUT);
  f->dZ = rounded(m->dZ, M1_B * M1_OUT);
  f->dH = rounded(m->dH, M1_B * M1_HID);
  f->dW1 = rounded(m->dW1, M1_IN * M1_HID);
  f->dW2 = rounded(m->dW2, M1_HID * M1_OUT);
}

void mlp1f_free(Mlp1f *f) {
  float *all[] = {f->X, f->W1, f->W2, f->H, f->Z, f->dZ, f->dH, f->dW1, f->dW2};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++)
    free(all[i]);
}

/* The same five calls as mlp1_products_blas, in sgemm. */
void mlp1_products_f32(void *arg) {
  Mlp1f *m = arg;
  const CBLAS_ORDER R = CblasRowMajor;
  const CBLAS_TRANSPOSE N = CblasNoTrans, T = CblasTrans;
  cblas_sgemm(R, N, N, M1_B, M1_HID, M1_IN, 1, m->X, M1_IN, m->W1, M1_HID, 0,
              m->H, M1_HID);
  cblas_sgemm(R, N, N, M1_B, M1_OUT, M1_HID, 1, m->H, M1_HID, m->W2, M1_OUT, 0,
              m->Z, M1_OUT);
  cblas_sgemm(R, T, N, M1_HID, M1_OUT, M1_B, 1, m->H, M1_HID, m->dZ, M1_OUT, 0,
              m->dW2, M1_OUT);
  cblas_sgemm(R, N, T, M1_B, M1_HID, M1_OUT, 1, m->dZ, M1_OUT, m->W2, M1_OUT, 0,
              m->dH, M1_HID);
  cblas_sgemm(R, T, N, M1_IN, M1_HID, M1_B, 1, m->X, M1_IN, m->dH, M1_HID, 0,
              m->dW1, M1_HID);
}
