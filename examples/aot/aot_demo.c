/* aot_demo.c: a model compiled ahead of time, with no exprc at run time.
 *
 * The build runs `exprc emit examples/softmax_mlp.expr -o softmax_mlp.c
 * --header softmax_mlp.h`, compiles softmax_mlp.c with the system compiler
 * and links it with this file and runtime/kernels.c (the one runtime
 * function the generated code calls, exprc_rt_gemm). No libtcc, no parser:
 * the program below sees only the header's slot numbers, xc_slot_size()
 * and the entry points xc_forward and xc_grad_1.
 *
 * It fills the model's params and a batch of N = 5 rows with a fixed
 * formula (value k of each tensor is sin(0.7 k + 0.3 + tensor number)),
 * runs the forward entry and the gradient entry, checks the gradient
 * against central differences of the forward entry's loss, and takes a few
 * steps of gradient descent. It exits with status 1 if a check fails.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "softmax_mlp.h"

enum { N = 5 };

/* The params with their gradient slots, for the checks below. */
static const struct {
  const char *name;
  int param, grad;
} trained[] = {{"W1", XC_PARAM_W1, XC_GRAD_loss_W1},
               {"b1", XC_PARAM_b1, XC_GRAD_loss_b1},
               {"W2", XC_PARAM_W2, XC_GRAD_loss_W2},
               {"b2", XC_PARAM_b2, XC_GRAD_loss_b2}};

static void fill(double *v, long n, int which) {
  for (long k = 0; k < n; k++)
    v[k] = sin(0.7 * (double)k + 0.3 + which);
}

/* One buffer per slot, of the size the header gives for these dims. */
static int allocate(double **S, const long *D) {
  for (int s = 0; s < XC_NSLOTS; s++) {
    long n = xc_slot_size(s, D);
    S[s] = calloc((size_t)(n ? n : 1), sizeof(double));
    if (!S[s])
      return 0;
  }
  return 1;
}

/* x from the formula; y one-hot, row i of class i mod 3. */
static void set_values(double **S, const long *D) {
  fill(S[XC_INPUT_x], xc_slot_size(XC_INPUT_x, D), 0);
  for (long i = 0; i < D[XC_DIM_N]; i++)
    for (int c = 0; c < 3; c++)
      S[XC_INPUT_y][i * 3 + c] = c == i % 3;
  for (size_t t = 0; t < sizeof trained / sizeof trained[0]; t++)
    fill(S[trained[t].param], xc_slot_size(trained[t].param, D), 1 + (int)t);
}

static double loss_now(double **S, const long *D) {
  xc_forward(D, S);
  return S[XC_OUTPUT_loss][0];
}

/* Every row of softmax(z) is a probability distribution. */
static int check_rows(double **S, const long *D) {
  const double *p = S[XC_OUTPUT_p];
  for (long i = 0; i < D[XC_DIM_N]; i++) {
    double sum = p[i * 3] + p[i * 3 + 1] + p[i * 3 + 2];
    printf("p[%ld] = [%.6f, %.6f, %.6f]\n", i, p[i * 3], p[i * 3 + 1],
           p[i * 3 + 2]);
    if (fabs(sum - 1) > 1e-12)
      return printf("row %ld of p sums to %.17g\n", i, sum), 0;
  }
  return 1;
}

/* xc_grad_1's gradients against central differences of xc_forward's loss:
 * two entry points that share no code for the derivative. */
static double check_gradients(double **S, const long *D) {
  double worst = 0;
  xc_grad_1(D, S);
  for (size_t t = 0; t < sizeof trained / sizeof trained[0]; t++) {
    double *p = S[trained[t].param], *g = S[trained[t].grad];
    for (long k = 0; k < xc_slot_size(trained[t].param, D); k++) {
      double keep = p[k], h = 1e-6;
      p[k] = keep + h;
      double up = loss_now(S, D);
      p[k] = keep - h;
      double down = loss_now(S, D);
      p[k] = keep;
      double fd = (up - down) / (2 * h);
      worst = fmax(worst, fabs(fd - g[k]) / fmax(1e-3, fabs(fd)));
    }
  }
  return worst;
}

/* Plain gradient descent on the fixed batch: the loss must go down. */
static int descend(double **S, const long *D) {
  double first = loss_now(S, D), last = first;
  for (int step = 1; step <= 50; step++) {
    xc_grad_1(D, S);
    for (size_t t = 0; t < sizeof trained / sizeof trained[0]; t++)
      for (long k = 0; k < xc_slot_size(trained[t].param, D); k++)
        S[trained[t].param][k] -= 0.5 * S[trained[t].grad][k];
    last = loss_now(S, D);
    if (step % 10 == 0)
      printf("step %2d: loss %.6f\n", step, last);
  }
  return last < first;
}

int main(void) {
  long D[XC_NSIZES];
  double *S[XC_NSLOTS];
  D[XC_DIM_N] = N;
  xc_sizes(D); /* the sizes made from dims, if the model has any */
  if (!allocate(S, D))
    return fprintf(stderr, "aot_demo: out of memory\n"), 1;
  set_values(S, D);
  printf("loss = %.17g\n", loss_now(S, D));
  int ok = check_rows(S, D);
  double err = check_gradients(S, D);
  printf("gradients vs central differences: max relative error %.2e\n", err);
  ok = ok && err < 1e-6;
  ok = descend(S, D) && ok;
  for (int s = 0; s < XC_NSLOTS; s++)
    free(S[s]);
  printf("%s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
