/* model.h: the compile driver, shared by the public API and the CLI. */
#ifndef EXPRC_MODEL_H
#define EXPRC_MODEL_H

#include "lower.h"

/* Limits with defaults filled in. */
exprc_limits model_limits(const exprc_options *o);

/* The front of the pipeline, for inspection (`exprc check`, `exprc graph`):
 * parse, lower, back-propagate and (unless o->no_simplify) simplify. */
Module *model_front(Ctx *c, const exprc_options *o);

/* Read a whole file; NULL with errno set on failure. */
char *model_read_file(const char *path, size_t *len, int64_t limit);

#endif
