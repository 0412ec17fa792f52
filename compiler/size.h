/* size.h: symbolic sizes beyond one `dim`.
 *
 * A dimension of a Shape is a constant (>= 0) or symbolic (< 0). Symbolic
 * number k = DIM_INDEX(d) is either dim k itself (k < SIZE_BASE: the
 * existing, fast case) or size term k - SIZE_BASE of the context's table.
 * A term is  max(0, floor((coef * D[a] * D[b] * ... + off) / div))  over
 * dims a, b, ... (sorted, repeats allowed): enough for N*T, 4*N, N - 1 (the
 * rows of x[1:]) and ceil((N - 1) / 2) (the rows of x[1::2]). Terms are
 * kept in a canonical form and deduplicated, so equal sizes are equal
 * numbers and shapes still compare as bytes.
 *
 * At run time term k is D[SIZE_BASE + k], which the API computes from the
 * dims whenever they are bound (size_eval), so that generated code reads
 * every size from D[] as it reads a dim.
 */
#ifndef EXPRC_SIZE_H
#define EXPRC_SIZE_H

#include "base.h"

/* The value of term t with dims D (NULL known: all known); -1 if a dim it
 * uses is not known, INT64_MAX if it overflows. */
int64_t size_eval(const SizeTerm *t, const long *D, const uint8_t *known);

/* Sizes as Shape dimensions. Each returns a constant when it can; p is
 * where an error is reported (a size exprc cannot represent). */
int64_t size_mul(Ctx *c, Pos p, int64_t a, int64_t b);
/* a + k (a constant a is clamped at 0; a term must stay exact) */
int64_t size_add(Ctx *c, Pos p, int64_t a, int64_t k);
/* a + b, two sizes (N + N = 2N; N + 3); an error when not representable */
int64_t size_sum(Ctx *c, Pos p, int64_t a, int64_t b);
/* max(0, floor((a + off) / div)) with div >= 1 and off < div: the length
 * of a slice of an axis of size a */
int64_t size_affine(Ctx *c, Pos p, int64_t a, int64_t off, int64_t div);
/* The smallest value size a can have (every dim is at least 1). */
int64_t size_min(const Ctx *c, int64_t a);
/* 1 if a - b is a constant (written to *diff) for every value of the dims
 * at which both are positive */
int size_diff(const Ctx *c, int64_t a, int64_t b, int64_t *diff);

/* The product of num[0..nn) divided by that of den[0..nd), exactly, once
 * equal factors cancel (dims, constants, and terms such as N-1); 0 if the
 * division is not exact. Unwinds if what is left is no size term. */
int size_ratio(Ctx *c, Pos p, const int64_t *num, int nn, const int64_t *den,
               int nd, int64_t *out);

/* Record dim d's name (lowering calls it once per `dim` statement). */
void size_name_dim(Ctx *c, int d, const char *name);

#endif
