/* simplify.h: the simplifier pass. */
#ifndef EXPRC_SIMPLIFY_H
#define EXPRC_SIMPLIFY_H

#include "graph.h"

/* A new graph holding only what the roots need, every node rebuilt through
 * simplify_rule; *roots[i] are updated to their new indices. */
Graph *simplify_graph(Graph *g, uint32_t *const *roots, uint32_t nroots);

/* The local rewrite rules, as a graph rewrite hook for building a model:
 * the same rules as the pass, except that exp and sigmoid of constants stay
 * unfolded, so that the stable rewrites above them still apply. */
uint32_t simplify_rule(Graph *g, const Node *p);

#endif
