/* sha256.h: SHA-256 (FIPS 180-4), for the --backend cc cache: the name of a
 * cached shared object is the hash of what built it, and its content is
 * checked against a recorded hash before it is loaded. */
#ifndef EXPRC_SHA256_H
#define EXPRC_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct Sha256 {
  uint32_t h[8];
  uint64_t len;          /* bytes hashed so far */
  unsigned char buf[64]; /* a partial block */
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *p, size_t n);
/* The digest as 64 lowercase hex digits and a NUL. */
void sha256_hex(Sha256 *s, char hex[65]);

#endif
