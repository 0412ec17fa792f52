/* hand.h: the hand-written C that exprc is measured against: the forward and
 * backward passes of the benchmark models, written as a person would for
 * these exact sizes, and compiled with gcc -O2 (bench/meson.build).
 *
 * Every model's loss is the same as in bench/models/: softmax cross-entropy
 * (logsumexp of the logits minus the target's logit, one-hot targets) for
 * the MLPs, and the sum form of the Rosenbrock function.
 */
#ifndef EXPRC_BENCH_HAND_H
#define EXPRC_BENCH_HAND_H

/* W1: MLP 784-128-10, tanh, batch 64, mean loss over the batch; row-major
 * X[64,784] Y[64,10] W1[784,128] b1[128] W2[128,10] b2[10]. */
enum { M1_B = 64, M1_IN = 784, M1_HID = 128, M1_OUT = 10 };

typedef struct Mlp1 {
  const double *X, *Y, *W1, *b1, *W2, *b2;
  double *dW1, *db1, *dW2, *db2;
  double *H, *Z, *dZ, *dH; /* scratch: [B,HID] [B,OUT] [B,OUT] [B,HID] */
  double loss;
} Mlp1;

void mlp1_alloc_scratch(Mlp1 *m);
void mlp1_free_scratch(Mlp1 *m);
/* Loss and the four gradients, matrix products as plain loops. */
void mlp1_grad_loops(void *m);
/* The same with the four big products through OpenBLAS cblas_dgemm. */
void mlp1_grad_blas(void *m);
/* The loss alone, loops. */
void mlp1_forward_loops(void *m);

/* The floor under every W1 gradient that multiplies with OpenBLAS: its five
 * matrix products alone (X @ W1, H @ W2, H^T @ dZ, dZ @ W2^T, X^T @ dH),
 * with the shapes, transpositions and beta = 0 of exprc's gradient, and
 * nothing else. mlp1_products_blas runs them on m's arrays (its scratch
 * set by a gradient first); mlp1_products_f32 on float copies of them. */
void mlp1_products_blas(void *m);

typedef struct Mlp1f {
  float *X, *W1, *W2, *H, *Z, *dZ, *dH, *dW1, *dW2;
} Mlp1f;

void mlp1f_from(Mlp1f *f, const Mlp1 *m); /* copies, rounded */
void mlp1f_free(Mlp1f *f);
void mlp1_products_f32(void *f);

/* W2: MLP 4-16-3, tanh, one example: W1[16,4] @ x[4], as in
 * examples/mlp.expr. */
enum { M2_IN = 4, M2_HID = 16, M2_OUT = 3 };

typedef struct Mlp2 {
  const double *x, *y, *W1, *b1, *W2, *b2;
  double dW1[M2_HID * M2_IN], db1[M2_HID], dW2[M2_OUT * M2_HID], db2[M2_OUT];
  double loss;
} Mlp2;

void mlp2_grad(void *m);
void mlp2_forward(void *m);

/* W3: Rosenbrock, f = sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2. */
typedef struct Rosen {
  const double *x;
  double *g;
  long n;
  double f;
} Rosen;

void rosen_f(void *r);
void rosen_grad(void *r); /* f and its gradient in one pass */

#endif
