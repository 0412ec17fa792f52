/* shape.h: shape inference, one rule per ShapeRule. */
#ifndef EXPRC_SHAPE_H
#define EXPRC_SHAPE_H

#include "graph.h"

/* The shape of a node of proto's op and inputs; reports a located error at
 * g->pos when the shapes do not fit. */
Shape shape_infer(Graph *g, const Node *proto);
/* NumPy broadcast of a and b; 0 if they do not broadcast. */
int shape_broadcast(const Shape *a, const Shape *b, Shape *out);

#endif
