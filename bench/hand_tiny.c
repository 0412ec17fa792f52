/* hand_tiny.c: the hand-written forward and backward pass of the W2 MLP,
 * 4-16-3 on one example, written out directly for these fixed sizes as a
 * person would for a tiny network. It uses nothing but libm, so that bench
 * can also compile it with libtcc (tcc_hand.c): the same C under both
 * compilers. */
#include "hand.h"

#include <math.h>

static void mlp2_layers(const Mlp2 *m, double h[M2_HID], double z[M2_OUT]) {
  for (int j = 0; j < M2_HID; j++) {
    double s = m->b1[j];
    for (int i = 0; i < M2_IN; i++)
      s += m->W1[j * M2_IN + i] * m->x[i];
    h[j] = tanh(s);
  }
  for (int k = 0; k < M2_OUT; k++) {
    double s = m->b2[k];
    for (int j = 0; j < M2_HID; j++)
      s += m->W2[k * M2_HID + j] * h[j];
    z[k] = s;
  }
}

static double mlp2_lse(const double z[M2_OUT]) {
  double mx = z[0], s = 0;
  for (int k = 1; k < M2_OUT; k++)
    mx = fmax(mx, z[k]);
  for (int k = 0; k < M2_OUT; k++)
    s += exp(z[k] - mx);
  return mx + log(s);
}

void mlp2_forward(void *arg) {
  Mlp2 *m = arg;
  double h[M2_HID], z[M2_OUT], yz = 0;
  mlp2_layers(m, h, z);
  for (int k = 0; k < M2_OUT; k++)
    yz += m->y[k] * z[k];
  m->loss = mlp2_lse(z) - yz;
}

void mlp2_grad(void *arg) {
  Mlp2 *m = arg;
  double h[M2_HID], z[M2_OUT], dz[M2_OUT], yz = 0;
  mlp2_layers(m, h, z);
  double lse = mlp2_lse(z);
  for (int k = 0; k < M2_OUT; k++) {
    yz += m->y[k] * z[k];
    dz[k] = exp(z[k] - lse) - m->y[k];
    m->db2[k] = dz[k];
    for (int j = 0; j < M2_HID; j++)
      m->dW2[k * M2_HID + j] = dz[k] * h[j];
  }
  m->loss = lse - yz;
  for (int j = 0; j < M2_HID; j++) {
    double dh = 0;
    for (int k = 0; k < M2_OUT; k++)
      dh += m->W2[k * M2_HID + j] * dz[k];
    double da = dh * (1 - h[j] * h[j]);
    m->db1[j] = da;
    for (int i = 0; i < M2_IN; i++)
      m->dW1[j * M2_IN + i] = da * m->x[i];
  }
}
