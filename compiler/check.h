/* check.h: the host's side of --check-finite (exprc_options.check_finite):
 * what a model keeps to name the operation that produced a non-finite value,
 * and the message made from it. emit_check.c writes the generated side. */
#ifndef EXPRC_CHECK_H
#define EXPRC_CHECK_H

#include "handle.h"

/* Where each node of the compiled graph came from, enough to name it. */
typedef struct CheckSite {
  Pos pos;
  uint8_t op;       /* the node's op */
  uint8_t from;     /* a backward node: the forward op it belongs to */
  uint8_t backward;
  int32_t var;      /* an input or param: its slot (its name); else -1 */
} CheckSite;

typedef struct CheckInfo {
  int slot;          /* the status slot: [node + 1 or 0, the value] */
  CheckSite *site;   /* per node of the compiled graph */
  uint32_t nsite;
  char *file, *src;  /* the model's name and text */
  size_t srclen;
} CheckInfo;

/* Keep, in m, the place of every node of mod's graph, the model's file name
 * and text (for the caret line), and the status slot's number. */
void check_keep(Ctx *c, exprc_model *m, const Module *mod, int status_slot);
void check_free(exprc_model *m);
/* Around a call of an entry point: clear the status slot; then, if the
 * generated code set it, make the located message and return
 * EXPRC_ERR_NUMERIC. Both do nothing for a model compiled without checks. */
void check_clear(exprc_model *m);
exprc_status check_report(exprc_model *m);

#endif
