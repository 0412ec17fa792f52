/* lower.h: the program (AST) to a graph and a module (module.h). */
#ifndef EXPRC_LOWER_H
#define EXPRC_LOWER_H

#include "module.h"
#include "parser.h"

Module *lower_program(Ctx *c, Program *p, int simplify);

/* How many nodes the n roots need (themselves and all their inputs; NONE
 * roots need none): what a gradient pass differentiates, or an entry point
 * emits. A walk over the nodes below the highest root. */
uint32_t lower_reach(Graph *g, const uint32_t *roots, uint32_t n);

#endif
