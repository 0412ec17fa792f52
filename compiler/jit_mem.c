/* jit_mem.c: libtcc's memory. libtcc takes its memory from malloc: each
 * section (code, data, symbols, relocations) grows by doubling and is
 * cleared as it grows, and tcc_relocate copies the sections into one more
 * block. A big model's sections pass glibc's mmap ceiling (32 MB), so each
 * compile maps them afresh and faults their 4 KB pages in one by one: at
 * 1.2M nodes 130k faults, a fifth of the whole compile on a machine where
 * a fault costs ten microseconds (bench/RESULTS.md, issue 18).
 *
 * So the build links a copy of Debian's libtcc.a whose calls to malloc,
 * calloc, realloc and free are renamed to the four functions here
 * (meson.build, objcopy --redefine-sym). Blocks of mem_big_min() bytes and
 * more are mapped as the compile context's big blocks are: in huge pages,
 * grown by moving their pages. Smaller blocks, and any pointer this file
 * did not map, are malloc's. The mapped blocks are few, a section or two
 * each, so a short table tells them apart; it has a lock of its own
 * because a program may also use libtcc outside exprc's lock. */
#include "jit.h"

#include <errno.h>
#include <malloc.h> /* malloc_usable_size: a small block's length */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Past this many mapped blocks at once, malloc serves the rest. */
#define MAPS_MAX 64

typedef struct Mapping {
  void *p;
  size_t len; /* bytes mapped */
} Mapping;

static Mapping maps[MAPS_MAX];
static int nmaps;
static size_t maps_made; /* ever: jit_mem_stats */
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;

/* The slot of mapping p, or -1 (not one of ours). Lock held. */
static int slot_of(const void *p) {
  for (int i = 0; i < nmaps; i++)
    if (maps[i].p == p)
      return i;
  return -1;
}

/* A new zeroed mapping of n bytes, listed; NULL if n is small, the table
 * is full or the kernel says no (the caller then takes malloc's). Lock
 * held. */
static void *map_new(size_t n) {
  if (n < mem_big_min() || n > SIZE_MAX / 2 || nmaps == MAPS_MAX)
    return NULL;
  size_t len = mem_len(n);
  void *p = mem_map(len);
  if (p) {
    maps[nmaps++] = (Mapping){p, len};
    maps_made++;
  }
  return p;
}

void *jit_mem_malloc(size_t n) {
  pthread_mutex_lock(&maps_lock);
  void *p = map_new(n);
  pthread_mutex_unlock(&maps_lock);
  return p ? p : malloc(n);
}

void *jit_mem_calloc(size_t k, size_t n) {
  if (n && k > SIZE_MAX / n) {
    errno = ENOMEM;
    return NULL;
  }
  pthread_mutex_lock(&maps_lock);
  void *p = map_new(k * n); /* zeroed, as the kernel's pages are */
  pthread_mutex_unlock(&maps_lock);
  return p ? p : calloc(k, n);
}

void jit_mem_free(void *p) {
  if (!p)
    return;
  pthread_mutex_lock(&maps_lock);
  int i = slot_of(p);
  Mapping m = i >= 0 ? maps[i] : (Mapping){NULL, 0};
  if (i >= 0)
    maps[i] = maps[--nmaps];
  pthread_mutex_unlock(&maps_lock);
  mem_free(p, m.len); /* len 0: malloc's */
}

/* Mapping i grown for n bytes: in place if it has room, else its pages
 * moved to a longer mapping; NULL when out of memory, p intact. Lock
 * held. */
static void *map_grow(int i, size_t n) {
  if (n > SIZE_MAX / 2)
    return NULL;
  size_t len = mem_len(n);
  if (len <= maps[i].len)
    return maps[i].p;
  void *q = mem_remap(maps[i].p, maps[i].len, len);
  if (q)
    maps[i] = (Mapping){q, len};
  return q;
}

void *jit_mem_realloc(void *p, size_t n) {
  if (!p)
    return jit_mem_malloc(n);
  pthread_mutex_lock(&maps_lock);
  int i = slot_of(p);
  void *q = i >= 0 ? map_grow(i, n) : map_new(n);
  pthread_mutex_unlock(&maps_lock);
  if (i >= 0)
    return q;
  if (!q)
    return realloc(p, n); /* small, or no mapping to be had */
  size_t old = malloc_usable_size(p); /* malloc's block, now mapped */
  memcpy(q, p, old < n ? old : n);
  free(p);
  return q;
}

JitMemStats jit_mem_stats(void) {
  pthread_mutex_lock(&maps_lock);
  JitMemStats s = {maps_made, 0};
  for (int i = 0; i < nmaps; i++)
    s.bytes_mapped += maps[i].len;
  pthread_mutex_unlock(&maps_lock);
  return s;
}
