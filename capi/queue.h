// The queue of a writer file's calls, shared by queue.c and the Go side
// (not installed: the library's own).
#ifndef PWC_QUEUE_H
#define PWC_QUEUE_H

#include <stdint.h>
#include <stddef.h>

// PWC_NO_DATA as an entry's len: an append with a NULL buffer (extend only).
#define PWC_NO_DATA UINT64_MAX

// Kinds of entries: coord.OpKind's values, and a deferred append, made as
// an append but named as one in errors (it may pass the max shape).
enum { PWC_APPEND = 0, PWC_EXTEND = 1, PWC_WRITE = 2, PWC_DEFERRED = 3 };

// PWC_SMALL: the most bytes of data an immediate append or write queues;
// larger ones go through Go at once (the copy would cost more than the
// crossing saves).
#define PWC_SMALL 4096
// PWC_BOUND: a queue of this many bytes is executed by the call that
// filled it.
#define PWC_BOUND (1 << 20)

// An entry of a queue: for PWC_WRITE then start and count (n values each),
// then len bytes of data (none for PWC_NO_DATA), padded to 8 bytes.
struct pwc_entry {
  int64_t ds;    // the dataset handle of the call (for errors)
  int32_t id;    // the dataset's pwc_dset id
  int32_t kind;  // PWC_*
  uint64_t n;    // append: rows; extend: the new first dimension; write: ndims
  uint64_t len;  // bytes of data
};

// What the argument checks of a writer's dataset need, shared by all its
// handles: queue.c projects shape over the calls it queues; Go sets it
// from the dataset when a call changed it otherwise (pwc_reset).
// Guarded by queue.c's lock.
struct pwc_dset {
  struct pwc_dset *next; // the file's datasets
  int32_t id;            // index in the Go file object's datasets
  int ndims;
  uint64_t elem, row;    // bytes of an element, of a row (all ones past a uint64)
  uint64_t fast0;        // the largest first dimension a queued call may reach
  uint64_t shape[8], max[8];
  char *path;
};

// The queued calls of a writer file, in order. Guarded by queue.c's lock
// but pending, which Go reads without it to skip the crossing when nothing
// is queued.
struct pwc_queue {
  int64_t file;
  unsigned char *buf;
  size_t len, cap;
  int n;                  // entries in buf
  int refs;               // Go's file object, the file's slot and its datasets' slots
  int closed;             // the file was closed: calls are refused
  int pending;            // 1 while buf holds entries (atomic)
  struct pwc_dset *dsets; // freed with the queue
};

struct pwc_queue *pwc_queue_new(void);
void pwc_release(struct pwc_queue *q);
struct pwc_dset *pwc_dset_new(struct pwc_queue *q, int32_t id, int ndims, uint64_t elem, uint64_t row,
                              uint64_t fast0, const uint64_t *shape, const uint64_t *max, const char *path,
                              size_t pathlen);
int pwc_add(int64_t h, struct pwc_queue *q, struct pwc_dset *d);
void pwc_remove(int64_t h);
// pwc_take hands over q's buffer and returns its entries; wait 0: -1 if
// the lock is not free at once (a short spin).
int pwc_take(struct pwc_queue *q, unsigned char **buf, size_t *len, int wait);
void pwc_reset(struct pwc_queue *q, struct pwc_dset *d, const uint64_t *shape);

#endif
