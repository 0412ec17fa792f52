/* jvp.h: forward mode (jacobian-vector products), built as graph nodes. */
#ifndef EXPRC_JVP_H
#define EXPRC_JVP_H

#include "graph.h"

/* Append to g the nodes of the directional derivative of root (any shape)
 * along u, a tangent of the input or param node v (u has v's shape); the
 * result has root's shape. The new nodes are ordinary graph nodes, so they
 * can be differentiated in turn, in either mode. */
uint32_t jvp_build(Graph *g, uint32_t root, uint32_t v, uint32_t u);

#endif
