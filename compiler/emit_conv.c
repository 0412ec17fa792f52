/* emit_conv.c: the statements of convolutions, pooling and random draws:
 * each is a call of a runtime kernel (runtime/layers.c) with the sizes of
 * conv.c's geometry, the batch size read from D when it is a dim.
 */
#include "emit.h"

#include "conv.h"

/* CONV, CONV_TX, CONV_TW, POOL_PICK, POOL_PUT: one kernel call. */
void em_conv(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  ConvGeom G = conv_geom(E->g, &nd);
  int64_t v[CONV_GEOM_LEN] = {G.n,  G.c,  G.h,  G.w,  G.o,  G.kh,
                              G.kw, G.oh, G.ow, G.sh, G.sw, G.ph,
                              G.pw, G.dh, G.dw, G.groups};
  char pa[64], pb[64], pc[64], d[32];
  em_pointer(E, nd.in[0], pa, sizeof pa);
  em_pointer(E, nd.in[1], pb, sizeof pb);
  em_pointer(E, x, pc, sizeof pc);
  em_put_str(E, &E->body, "  {\n    const long xc_g[16] = {");
  for (int k = 0; k < CONV_GEOM_LEN; k++) {
    em_dim_expr(v[k], d, sizeof d);
    em_put(E, &E->body, "%s%s", k ? ", " : "", d);
  }
  int pool = nd.op == OP_POOL_PICK || nd.op == OP_POOL_PUT;
  int kind = nd.op == OP_CONV_TX || nd.op == OP_POOL_PUT ? 1
             : nd.op == OP_CONV_TW                       ? 2
                                                         : 0;
  em_put(E, &E->body, "};\n    exprc_rt_%s%s(%d, xc_g, %s, %s, %s);\n  }\n",
         pool ? "pool" : "conv", em_rt(E), kind, pa, pb, pc);
}

/* RANDN, RANDU: the draws, then a + b * z in place. */
void em_random(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  char n[128], out[64], a[320], b[320], t[320];
  em_count_expr(nd.shape, 0, n, sizeof n);
  em_pointer(E, x, out, sizeof out);
  em_value(E, nd.in[0], em_is_scalar(E, nd.in[0]) ? "0" : "i", a, sizeof a);
  em_value(E, nd.in[1], em_is_scalar(E, nd.in[1]) ? "0" : "i", b, sizeof b);
  em_target(E, x, "i", t, sizeof t);
  em_put(E, &E->body, "  exprc_rt_random%s(%d, %s, %s);\n", em_rt(E),
         nd.op == OP_RANDN ? 0 : 1, n, out);
  em_put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s = %s + %s * %s;\n",
         n, t, a, b, t);
  E->used_i = 1;
}
