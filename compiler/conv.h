/* conv.h: the geometry of the convolution and pooling ops (ops.def's
 * SH_CONV group) and of the random draws (SH_RANDOM): how their attributes
 * are packed into a node, their shape rules, and the sizes the emitter
 * hands to the runtime's kernels. */
#ifndef EXPRC_CONV_H
#define EXPRC_CONV_H

#include "graph.h"

/* Per spatial axis (H, W; a 1-D op has H = 1 and the identity there). For
 * pools, kernel is the window; for convolutions it is taken from w. */
typedef struct ConvAttr {
  int64_t stride[2], pad[2], dil[2], kernel[2];
  int64_t groups;
} ConvAttr;

/* Sizes as the runtime's kernels take them (runtime/layers.c): n may be a
 * symbolic dim (DIM_SYM); the rest are constants. */
typedef struct ConvGeom {
  int64_t n, c, h, w, o, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, groups;
} ConvGeom;

#define CONV_GEOM_LEN 16

/* p->start comes to point at w, which must live until graph_node. */
void conv_pack(Node *p, int32_t w[MAX_RANK], const ConvAttr *a);
ConvAttr conv_unpack(const Node *p);

/* A node of the SH_CONV group with the attributes of a and inputs x, y;
 * target is the result shape of CONV_TX, CONV_TW and POOL_PUT. */
uint32_t conv_node(Graph *g, Op op, uint32_t x, uint32_t y, const ConvAttr *a,
                   const Shape *target);
/* The same op family as n (its attributes), for gradient rules. */
uint32_t conv_like(Graph *g, const Node *n, Op op, uint32_t x, uint32_t y,
                   const Shape *target);
/* A random draw RANDN or RANDU of shape s: a + b * z, z drawn at run time.
 * Every call makes a new node. */
uint32_t conv_random(Graph *g, Op op, uint32_t a, uint32_t b, const Shape *s);

/* The shape rules (shape.c calls them), reporting errors at g->pos. */
Shape conv_shape(Graph *g, const Node *p);
Shape random_shape(Graph *g, const Node *p);

/* The kernel sizes of node p (whose shape is inferred). */
ConvGeom conv_geom(const Graph *g, const Node *p);

#endif
