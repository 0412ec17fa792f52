/* linalg.h: the linear-algebra nodes of the graph (linalg.c): their
 * constructors, shared by the lowering of the built-ins and by the
 * derivative rules, which are written with the same constructors so that
 * every order of derivative works. Matrices lie on the last two axes. */
#ifndef EXPRC_LINALG_H
#define EXPRC_LINALG_H

#include "graph.h"

/* Node.u.form of TRSOLVE and LUSOLVE, and the patterns of la_mask. */
enum { LA_LOWER = 1, LA_TRANS = 2, LA_UPPER = 4, LA_EYE = 8 };

/* cholesky(a): L lower with L L^T = (a + a^T) / 2 */
uint32_t la_chol(Graph *g, uint32_t a);
/* op(a) x = b, a triangular (LA_LOWER, else upper; LA_TRANS: op(a) = a^T) */
uint32_t la_trsolve(Graph *g, uint32_t a, uint32_t b, int form);
/* op(a) x = b for a general square a (LA_TRANS: op(a) = a^T) */
uint32_t la_solve(Graph *g, uint32_t a, uint32_t b, int form);
/* det(a), or log|det a| when log_abs */
uint32_t la_det(Graph *g, uint32_t a, int log_abs);
/* The [n, n] pattern of ones: LA_EYE, LA_LOWER or LA_UPPER (diagonal
 * included), compared from row and column indices as tril and triu are;
 * n may be a dim. */
uint32_t la_mask(Graph *g, int form, int64_t n);
/* The matrix transpose of a matrix (swaps the last two axes). */
uint32_t la_mt(Graph *g, uint32_t a);

/* The contribution of the gradient G of linear-algebra node y to its input
 * k (grad.c's rule for these ops). */
uint32_t la_rule(Graph *g, uint32_t y, int k, uint32_t G);

#endif
