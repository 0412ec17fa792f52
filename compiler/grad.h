/* grad.h: symbolic back-propagation. */
#ifndef EXPRC_GRAD_H
#define EXPRC_GRAD_H

#include "graph.h"

/* Append to g the nodes of d(root)/d(wrt[i]) for each i, written to out[i].
 * root must be a scalar. The new nodes are ordinary graph nodes, so their
 * gradients can be taken in turn. */
void grad_build(Graph *g, uint32_t root, const uint32_t *wrt, int nwrt,
                uint32_t *out);

/* The derivative rules of the special functions (grad_special.c): node n
 * (at index y) passes G to its input k as the returned node, before the
 * broadcast axes are summed; NONE for no gradient (floor, ceil, round,
 * stop_gradient, the order of polygamma). */
uint32_t grad_special(Graph *g, const Node *n, uint32_t y, int k, uint32_t G);

/* The contribution of node y's gradient G to its input k, before summing
 * broadcast axes: the rule of grad.c's table. For an elementwise op this is
 * G times the partial derivative, which forward mode (jvp.c) uses with a
 * tangent for G. */
uint32_t grad_rule(Graph *g, uint32_t y, int k, uint32_t G);

#endif
