/* lower.h: the program (AST) to a graph and a module (module.h). */
#ifndef EXPRC_LOWER_H
#define EXPRC_LOWER_H

#include "module.h"
#include "parser.h"

Module *lower_program(Ctx *c, Program *p, int simplify);

#endif
