/* sparsity.h: the structural sparsity of a Jacobian, and the colouring
 * that compresses its sweeps (Curtis, Powell and Reid; Gebremedhin, Manne
 * and Pothen, "What color is your Jacobian?", SIAM Review 47, 2005). */
#ifndef EXPRC_SPARSITY_H
#define EXPRC_SPARSITY_H

#include "graph.h"

/* Which entries of d y / d v can be non-zero, as compressed rows: row i
 * (element i of y, C order) has columns col[rowstart[i] .. rowstart[i+1])
 * (elements of v), ascending. */
typedef struct Pattern {
  int64_t ny, nv, nnz;
  int64_t *rowstart; /* ny + 1 */
  int64_t *col;      /* nnz */
} Pattern;

/* The pattern of d y / d v, found by following each element's dependences
 * through the graph (an over-estimate: an entry may be zero by value, but
 * an entry left out is zero for every value). 0 if a node on the way has a
 * symbolic size, or the analysis would need more than `budget` bytes. */
int sparsity_pattern(Graph *g, uint32_t y, uint32_t v, int64_t budget,
                     Pattern *p);
void sparsity_free(Ctx *c, Pattern *p);

/* Colour the columns so that no row has two columns of one colour (a
 * distance-2 colouring of the bipartite graph, greedy in column order):
 * then one forward sweep per colour, along the sum of that colour's unit
 * vectors, gives every entry. colour[j] for each column; returns the
 * number of colours. */
int64_t sparsity_colour(Ctx *c, const Pattern *p, int64_t *colour);

#endif
