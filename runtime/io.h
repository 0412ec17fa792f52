/* io.h: tensors in files: NumPy .npy and CSV. */
#ifndef EXPRC_IO_H
#define EXPRC_IO_H

#include <stddef.h>
#include <stdint.h>

/* A tensor read from a file; data is malloc'd. */
typedef struct exprc_rt_array {
  double *data;
  int rank;
  int64_t shape[4];
  int64_t size;
} exprc_rt_array;

/* Read .npy (little-endian float64 or float32, C order, rank <= 4) or, for
 * any other name, CSV (numbers separated by commas, an optional header row
 * of non-numbers, [rows, columns]). 0 on success, else -1 with a message
 * naming the file in err. */
int exprc_rt_read_array(const char *path, exprc_rt_array *a, char *err,
                        size_t errn);
/* Write a float64 .npy file (through a temporary file and a rename). */
int exprc_rt_write_npy(const char *path, const double *data, int rank,
                       const int64_t *shape, char *err, size_t errn);

#endif
