/* grad.h: symbolic back-propagation. */
#ifndef EXPRC_GRAD_H
#define EXPRC_GRAD_H

#include "graph.h"

/* Append to g the nodes of d(root)/d(wrt[i]) for each i, written to out[i].
 * root must be a scalar. The new nodes are ordinary graph nodes, so their
 * gradients can be taken in turn. */
void grad_build(Graph *g, uint32_t root, const uint32_t *wrt, int nwrt,
                uint32_t *out);

#endif
