/* tcc_hand.h: a hand-written baseline compiled by libtcc (tcc_hand.c). */
#ifndef EXPRC_BENCH_TCC_HAND_H
#define EXPRC_BENCH_TCC_HAND_H

#include "bench.h"

/* Compile bench/FILE with libtcc in memory and return its function SYMBOL,
 * or NULL (with tcc's message on stderr) if that fails. */
bench_fn tcc_hand(const char *file, const char *symbol);

#endif
