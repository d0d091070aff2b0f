// Deferred appends (pw_dataset_append_deferred): the rows are copied into a
// queue of the dataset's writer file in C, without entering Go; the Go side
// executes a file's queue, in one crossing, before any other call on the
// file or its datasets (pwc_take hands it the queue's buffer).
//
// One lock, mu, guards the table and every queue: an append holds it for
// a lookup and a copy, tens of nanoseconds.
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pwstore.h"
#include "deferred.h"

void pwc_set_err(const char *msg, size_t n);
int pwc_deferred_refused(pw_handle ds); // Go: the error of a handle the table lacks

// mu is a spin lock that yields the CPU after a short spin: taking and
// leaving it is one atomic exchange and one store, where a pthread mutex
// made two atomic read-modify-writes and two calls (about 9 ns an append
// of the round robin's, against 18). Holders hold it for a lookup and a
// copy (a realloc when a queue grows), so a waiter rarely spins long; the
// yield lets a holder that was preempted run on a node with more threads
// than cores.
static int mu;

// lock_wait takes mu once it was found held.
static __attribute__((noinline)) void lock_wait(void) {
  int spins = 0;
  do {
    while (__atomic_load_n(&mu, __ATOMIC_RELAXED) != 0) {
      if (++spins < 100) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        sched_yield();
      }
    }
  } while (__atomic_exchange_n(&mu, 1, __ATOMIC_ACQUIRE) != 0);
}

static inline void lock(void) {
  if (__atomic_exchange_n(&mu, 1, __ATOMIC_ACQUIRE) != 0) lock_wait();
}

static inline void unlock(void) { __atomic_store_n(&mu, 0, __ATOMIC_RELEASE); }

// A slot of the table: a writer's dataset handle (queue of its file, bytes
// of a row) or a file handle (its own queue, row 0). The table is open
// addressing with linear probing, keyed by handle: 0 empty, -1 removed.
struct slot {
  pw_handle h;
  struct pwc_queue *q;
  uint64_t row;
};
static struct slot *table;
static size_t cap, used; // slots, and slots not empty (removed ones count)

static size_t hash(pw_handle h, size_t n) { return ((uint64_t)h * 0x9E3779B97F4A7C15u) >> 7 & (n - 1); }

// find returns the slot of h, or NULL. mu held.
static struct slot *find(pw_handle h) {
  if (cap == 0) return NULL;
  for (size_t i = hash(h, cap);; i = (i + 1) & (cap - 1)) {
    if (table[i].h == h) return &table[i];
    if (table[i].h == 0) return NULL;
  }
}

// put inserts h, growing (and dropping removed slots) at half full. mu held.
static int put(pw_handle h, struct pwc_queue *q, uint64_t row) {
  if (2 * (used + 1) > cap) {
    size_t live = 0;
    for (size_t i = 0; i < cap; i++) live += table[i].h > 0;
    size_t n = cap < 64 ? 64 : cap;
    while (4 * (live + 1) > n) n *= 2;
    struct slot *t = calloc(n, sizeof *t);
    if (t == NULL) return -1;
    for (size_t i = 0; i < cap; i++) {
      if (table[i].h <= 0) continue;
      size_t j = hash(table[i].h, n);
      while (t[j].h != 0) j = (j + 1) & (n - 1);
      t[j] = table[i];
    }
    free(table);
    table = t, cap = n, used = live;
  }
  size_t i = hash(h, cap);
  while (table[i].h > 0) i = (i + 1) & (cap - 1);
  if (table[i].h == 0) used++;
  table[i] = (struct slot){h, q, row};
  return 0;
}

// unref drops a reference to q, freeing it with the last. mu held.
static void unref(struct pwc_queue *q) {
  if (--q->refs == 0) {
    free(q->buf);
    free(q);
  }
}

struct pwc_queue *pwc_queue_new(void) {
  struct pwc_queue *q = calloc(1, sizeof *q);
  if (q != NULL) q->refs = 1; // Go's, dropped by pwc_release
  return q;
}

void pwc_release(struct pwc_queue *q) {
  lock();
  unref(q);
  unlock();
}

int pwc_add(pw_handle h, struct pwc_queue *q, uint64_t row, int isfile) {
  lock();
  if (isfile) q->file = h;
  int rc = put(h, q, row);
  if (rc == 0) q->refs++;
  unlock();
  return rc;
}

void pwc_remove(pw_handle h) {
  lock();
  struct slot *s = find(h);
  if (s != NULL) {
    if (s->h == s->q->file) s->q->closed = 1;
    unref(s->q);
    s->h = -1, s->q = NULL;
  }
  unlock();
}

int pwc_take(struct pwc_queue *q, unsigned char **buf, size_t *len) {
  lock();
  *buf = q->buf, *len = q->len;
  int n = q->n;
  q->buf = NULL, q->len = q->cap = 0, q->n = 0;
  __atomic_store_n(&q->pending, 0, __ATOMIC_RELEASE);
  unlock();
  return n;
}

// bad_size records the PW_ERR_ARG error of a buffer that does not hold n
// rows of row bytes. Out of line, as grow: the append's own frame stays
// small.
static __attribute__((noinline, cold)) int bad_size(pw_handle ds, uint64_t n, uint64_t row, size_t buflen) {
  char m[200];
  if (row != 0 && n > UINT64_MAX / row)
    snprintf(m, sizeof m, "pw_dataset_append_deferred: dataset %lld: %llu rows of %llu bytes: too many bytes: bad argument",
             (long long)ds, (unsigned long long)n, (unsigned long long)row);
  else
    snprintf(m, sizeof m, "pw_dataset_append_deferred: dataset %lld: buffer of %zu bytes too small: %llu rows need %llu: bad argument",
             (long long)ds, buflen, (unsigned long long)n, (unsigned long long)(n * row));
  pwc_set_err(m, strlen(m));
  return PW_ERR_ARG;
}

// grow makes room for add more bytes in q's buffer, doubling it. mu held.
static __attribute__((noinline)) int grow(struct pwc_queue *q, size_t add) {
  size_t c = q->cap < 4096 ? 4096 : q->cap;
  while (c - q->len < add) c *= 2;
  unsigned char *b = realloc(q->buf, c);
  if (b == NULL) return -1;
  q->buf = b, q->cap = c;
  return 0;
}

int pw_dataset_append_deferred(pw_handle ds, uint64_t n, const void *buf, size_t buflen) {
  lock();
  struct slot *s = find(ds);
  if (s == NULL || s->q->file == ds || s->q->closed) {
    unlock();
    return pwc_deferred_refused(ds); // not a writer's open dataset: Go says which error
  }
  uint64_t row = s->row, need = 0, len = PWC_NO_DATA;
  if (buf != NULL) {
    if ((row != 0 && n > UINT64_MAX / row) || n * row > buflen) {
      unlock();
      return bad_size(ds, n, row, buflen);
    }
    len = need = n * row;
  }
  struct pwc_queue *q = s->q;
  size_t add = sizeof(struct pwc_entry) + ((need + 7) & ~(size_t)7);
  if (q->cap - q->len < add && grow(q, add) != 0) {
    unlock();
    pwc_set_err("pw_dataset_append_deferred: out of memory", 41);
    return PW_ERR_IO;
  }
  // In place, field by field (q->len is a multiple of 8): a struct built
  // on the stack and copied stalled on the copy's load.
  struct pwc_entry *e = (struct pwc_entry *)(q->buf + q->len);
  e->ds = ds, e->n = n, e->len = len;
  if (need > 0) memcpy(q->buf + q->len + sizeof *e, buf, need);
  q->len += add;
  q->n++;
  __atomic_store_n(&q->pending, 1, __ATOMIC_RELEASE);
  unlock();
  return PW_OK;
}
