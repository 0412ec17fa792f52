/* emit_check.c: the checks of --check-finite (exprc_options.check_finite).
 *
 * With the option on, the planner stores every value (no fusion, no
 * rematerialization), and after each node that an entry point computes the
 * emitter adds a loop over its values: at the first one that is infinite or
 * NaN, the entry point writes the node's number + 1 and the value itself
 * into the status slot, S[xc_status_slot] (the slot after every other one),
 * and returns. The host clears the slot before each call and, if it is set
 * afterwards, turns the node's place, op and pass into a located message
 * (check.c). Nodes are computed in index order, so the first node reported
 * is the first operation that produced a non-finite value. Inputs and params
 * are checked where the entry point first reads them: a NaN in the data is
 * reported as such, not as the first operation that meets it (node numbers
 * are below 2^20, exact in a float32 model's float slot). With the option
 * off none of this is emitted: the C is byte for byte what it was.
 */
#include "emit.h"

/* v - v is 0 for every finite v, and NaN for inf, -inf and NaN. */
static void check_value(Emitter *E, uint32_t x, const char *v,
                        const char *indent) {
  const char *slot = E->f32 ? "((xc_real *)S[xc_status_slot])" /* floats */
                            : "S[xc_status_slot]";
  em_put(E, &E->body,
         "%sif (%s - %s != 0.0) {\n"
         "%s  %s[0] = %u.0;\n"
         "%s  %s[1] = %s;\n"
         "%s  return;\n%s}\n",
         indent, v, v, indent, slot, x + 1, indent, slot, v, indent, indent);
}

void em_check(Emitter *E, uint32_t x) {
  const Home *h = &E->home[x];
  if (!E->plan->check || h->kind == H_NONE || h->kind == H_INLINE ||
      h->kind == H_FUSED || h->kind == H_STATIC || h->view)
    return; /* constants, and values that another's check covers */
  em_loop_flush(E); /* the value is in its home once its loop has run */
  char n[128], v[320];
  if (em_is_scalar(E, x)) {
    em_value(E, x, "0", v, sizeof v);
    check_value(E, x, v, "  ");
    return;
  }
  em_count_expr(at(E, x)->shape, 0, n, sizeof n);
  em_value(E, x, "i", v, sizeof v);
  em_put(E, &E->body, "  for (i = 0; i < %s; i++)\n", n);
  check_value(E, x, v, "    ");
  E->used_i = 1;
}

void em_check_prelude(Emitter *E) {
  if (E->plan->check)
    em_put(E, &E->out,
           "/* --check-finite: where an entry point reports the first\n"
           "   infinite or NaN value (node + 1, then the value) */\n"
           "#define xc_status_slot %u\n",
           (unsigned)E->m->nslot + E->plan->ntemp);
}
