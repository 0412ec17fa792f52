/* module.c: what every stage asks of a module as a whole. */
#include "module.h"

void module_live(const Module *m, uint8_t *live) {
  for (uint32_t k = 0; k < m->nentry; k++)
    for (uint32_t r = 0; r < m->entry[k].nres; r++)
      if (m->entry[k].res[r].node != NONE)
        live[m->entry[k].res[r].node] = 1;
  graph_live(m->g, live, NULL);
}
