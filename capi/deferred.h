// The queue of deferred appends shared by deferred.c and the Go side (not
// installed: the library's own).
#ifndef PWC_DEFERRED_H
#define PWC_DEFERRED_H

#include <stdint.h>
#include <stddef.h>

// PWC_NO_DATA as an entry's len: the append had a NULL buffer (extend only).
#define PWC_NO_DATA UINT64_MAX

// An entry of a queue: then len bytes of rows (none for PWC_NO_DATA), padded
// to 8 bytes.
struct pwc_entry {
  int64_t ds;
  uint64_t n, len;
};

// The deferred appends of a writer file, in order. Guarded by deferred.c's
// mutex but pending, which Go reads without it to skip the crossing when
// nothing is queued.
struct pwc_queue {
  int64_t file;
  unsigned char *buf;
  size_t len, cap;
  int n;              // entries in buf
  int refs;           // Go's file object, the file's slot and its datasets' slots
  int closed;         // the file was closed: appends are refused
  int pending;        // 1 while buf holds entries (atomic)
};

struct pwc_queue *pwc_queue_new(void);
void pwc_release(struct pwc_queue *q);
int pwc_add(int64_t h, struct pwc_queue *q, uint64_t row, int isfile);
void pwc_remove(int64_t h);
int pwc_take(struct pwc_queue *q, unsigned char **buf, size_t *len);

#endif
