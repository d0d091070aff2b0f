// The immediate calls that change a writer's dataset (pw_dataset_append,
// pw_dataset_extend, small pw_dataset_write) and deferred appends
// (pw_dataset_append_deferred) check their arguments here, in C, against a
// mirror of the dataset (struct pwc_dset: its shape as the queued calls
// leave it, its max shape, its element and row size), and queue the call
// in its file's queue, in C memory, without entering Go. The Go side
// executes a file's queue, in one crossing, before any other call on the
// file or its datasets (pwc_take hands it the queue's buffer), and when
// the writer's timer is about to end a tick. What C cannot settle (a
// handle it does not know, big data, a shape near what a file can
// address) goes through Go at once.
//
// One lock, mu, guards the table, every queue and every mirror: a call
// holds it for a lookup, its checks and a copy, tens of nanoseconds.
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pwstore.h"
#include "queue.h"

void pwc_set_err(const char *msg, size_t n);
// Go: the error of a handle the table lacks or whose file was closed, for
// the function fn (PWC_APPEND, PWC_EXTEND, PWC_WRITE, PWC_DEFERRED).
int pwc_refused(pw_handle ds, int fn);
// Go: the calls made at once, after the queue (big data, or a shape
// near what a file can address).
int pwc_append_now(pw_handle ds, uint64_t n, void *buf, size_t buflen);
int pwc_extend_now(pw_handle ds, uint64_t n0);
int pwc_write_now(pw_handle ds, uint64_t *start, uint64_t *count, void *buf, size_t buflen);

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

// A slot of the table: a writer's dataset handle (queue of its file, its
// mirror) or a file handle (its own queue, no mirror). The table is open
// addressing with linear probing, keyed by handle: 0 empty, -1 removed.
struct slot {
  pw_handle h;
  struct pwc_queue *q;
  struct pwc_dset *d;
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
static int put(pw_handle h, struct pwc_queue *q, struct pwc_dset *d) {
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
  table[i] = (struct slot){h, q, d};
  return 0;
}

// unref drops a reference to q, freeing it and its mirrors with the last.
// mu held.
static void unref(struct pwc_queue *q) {
  if (--q->refs == 0) {
    for (struct pwc_dset *d = q->dsets, *next; d != NULL; d = next) {
      next = d->next;
      free(d->path);
      free(d);
    }
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

struct pwc_dset *pwc_dset_new(struct pwc_queue *q, int32_t id, int ndims, uint64_t elem, uint64_t row,
                              uint64_t fast0, const uint64_t *shape, const uint64_t *max, const char *path,
                              size_t pathlen) {
  struct pwc_dset *d = calloc(1, sizeof *d);
  char *p = malloc(pathlen + 1);
  if (d == NULL || p == NULL || ndims < 1 || ndims > PW_MAX_DIMS) {
    free(d);
    free(p);
    return NULL;
  }
  memcpy(p, path, pathlen);
  p[pathlen] = 0;
  *d = (struct pwc_dset){.id = id, .ndims = ndims, .elem = elem, .row = row, .fast0 = fast0, .path = p};
  memcpy(d->shape, shape, sizeof(uint64_t) * (size_t)ndims);
  memcpy(d->max, max, sizeof(uint64_t) * (size_t)ndims);
  lock();
  d->next = q->dsets;
  q->dsets = d;
  unlock();
  return d;
}

int pwc_add(pw_handle h, struct pwc_queue *q, struct pwc_dset *d) {
  lock();
  if (d == NULL) q->file = h;
  int rc = put(h, q, d);
  if (rc == 0) q->refs++;
  unlock();
  return rc;
}

void pwc_remove(pw_handle h) {
  lock();
  struct slot *s = find(h);
  if (s != NULL) {
    if (s->d == NULL) s->q->closed = 1;
    unref(s->q);
    s->h = -1, s->q = NULL, s->d = NULL;
  }
  unlock();
}

// try_lock takes mu if it is free within a short spin, without yielding:
// for the writer's timer, which must not wait for a thread that keeps
// calling (each of its calls holds mu most of the time it takes, so a
// waiter that yields rarely finds mu free).
static int try_lock(void) {
  for (int i = 0; i < 1000; i++) {
    if (__atomic_load_n(&mu, __ATOMIC_RELAXED) == 0 && __atomic_exchange_n(&mu, 1, __ATOMIC_ACQUIRE) == 0) return 1;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  return 0;
}

int pwc_take(struct pwc_queue *q, unsigned char **buf, size_t *len, int wait) {
  if (wait)
    lock();
  else if (!try_lock())
    return -1;
  *buf = q->buf, *len = q->len;
  int n = q->n;
  q->buf = NULL, q->len = q->cap = 0, q->n = 0;
  __atomic_store_n(&q->pending, 0, __ATOMIC_RELEASE);
  unlock();
  return n;
}

// project applies a queued append or extend of d to its mirror's first
// dimension. A deferred append past the max shape changes nothing: it
// will fail. mu held.
static void project(struct pwc_dset *d, int kind, uint64_t n) {
  uint64_t *s0 = &d->shape[0];
  if (kind == PWC_EXTEND)
    *s0 = n; // checked: never below it
  else if ((kind == PWC_APPEND || kind == PWC_DEFERRED) && n <= d->max[0] && *s0 <= d->max[0] - n)
    *s0 += n;
}

// entry_size is the bytes of an entry with its payload.
static size_t entry_size(const struct pwc_entry *e) {
  size_t sz = sizeof *e;
  if (e->kind == PWC_WRITE) sz += 2 * sizeof(uint64_t) * e->n;
  if (e->len != PWC_NO_DATA) sz += (e->len + 7) & ~(uint64_t)7;
  return sz;
}

void pwc_reset(struct pwc_queue *q, struct pwc_dset *d, const uint64_t *shape) {
  lock();
  memcpy(d->shape, shape, sizeof(uint64_t) * (size_t)d->ndims);
  for (size_t off = 0; off < q->len;) {
    const struct pwc_entry *e = (const struct pwc_entry *)(q->buf + off);
    if (e->id == d->id) project(d, e->kind, e->n);
    off += entry_size(e);
  }
  unlock();
}

// Names of the calls by kind, for messages.
static const char *const fname[] = {
    [PWC_APPEND] = "pw_dataset_append", [PWC_EXTEND] = "pw_dataset_extend",
    [PWC_WRITE] = "pw_dataset_write", [PWC_DEFERRED] = "pw_dataset_append_deferred"};

// dims_str writes n values as Go prints a slice: "[1 2 3]".
static const char *dims_str(char *b, size_t sz, const uint64_t *v, int n) {
  size_t at = (size_t)snprintf(b, sz, "[");
  for (int i = 0; i < n && at < sz; i++)
    at += (size_t)snprintf(b + at, sz - at, i ? " %llu" : "%llu", (unsigned long long)v[i]);
  if (at < sz) snprintf(b + at, sz - at, "]");
  return b;
}

// bad_arg records the PW_ERR_ARG error of call fn on dataset d (handle
// ds): "FN: dataset "PATH" (handle DS): WHY: bad argument", and releases
// mu, held until then: a close racing with the call may free d once it is
// released. Out of line, as grow: a call's own frame stays small.
static __attribute__((noinline, cold, format(printf, 4, 5))) int bad_arg(int fn, pw_handle ds,
                                                                          const struct pwc_dset *d,
                                                                          const char *why, ...) {
  char m[1024];
  int at = snprintf(m, sizeof m, "%s: dataset \"%s\" (handle %lld): ", fname[fn], d->path, (long long)ds);
  if (at < 0 || (size_t)at >= sizeof m) at = 0;
  va_list ap;
  va_start(ap, why);
  vsnprintf(m + at, sizeof m - (size_t)at, why, ap);
  va_end(ap);
  size_t n = strlen(m);
  snprintf(m + n, sizeof m - n, ": bad argument");
  pwc_set_err(m, strlen(m));
  unlock();
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

// out_of_memory is the error of a queue that cannot grow. It releases
// mu.
static __attribute__((noinline, cold)) int out_of_memory(int fn) {
  unlock();
  char m[128];
  snprintf(m, sizeof m, "%s: queue of calls: out of memory", fname[fn]);
  pwc_set_err(m, strlen(m));
  return PW_ERR_IO;
}

// enqueue appends an entry of kind for slot s with extra bytes of start
// and count (writes) and len bytes of data (PWC_NO_DATA: none), and
// returns it, or NULL when out of memory. The caller fills the payload
// and calls queued. mu held.
static inline struct pwc_entry *enqueue(struct slot *s, int kind, uint64_t n, size_t extra, uint64_t len) {
  struct pwc_queue *q = s->q;
  size_t add = sizeof(struct pwc_entry) + extra + (len == PWC_NO_DATA ? 0 : ((len + 7) & ~(size_t)7));
  if (q->cap - q->len < add && grow(q, add) != 0) return NULL;
  // In place, field by field (q->len is a multiple of 8): a struct built
  // on the stack and copied stalled on the copy's load.
  struct pwc_entry *e = (struct pwc_entry *)(q->buf + q->len);
  e->ds = s->h, e->id = s->d->id, e->kind = kind, e->n = n, e->len = len;
  q->len += add;
  q->n++;
  __atomic_store_n(&q->pending, 1, __ATOMIC_RELEASE);
  return e;
}

// done unlocks after a call was queued; a queue past PWC_BOUND is
// executed at once, its error this call's.
static inline int done(struct pwc_queue *q) {
  int full = q->len >= PWC_BOUND;
  pw_handle file = q->file;
  unlock();
  return full ? pw_perform_appends(file) : PW_OK;
}

// writer_slot returns the slot of an open writer's dataset ds, with mu
// held, or NULL (mu released) when there is none.
static inline struct slot *writer_slot(pw_handle ds) {
  lock();
  struct slot *s = find(ds);
  if (s == NULL || s->d == NULL || s->q->closed) {
    unlock();
    return NULL;
  }
  return s;
}

// append is pw_dataset_append (kind PWC_APPEND) and
// pw_dataset_append_deferred (PWC_DEFERRED, which queues any size and
// leaves the max shape to execution).
static inline int append(int kind, pw_handle ds, uint64_t n, const void *buf, size_t buflen) {
  struct slot *s = writer_slot(ds);
  if (s == NULL) return pwc_refused(ds, kind); // Go says which error
  struct pwc_dset *d = s->d;
  uint64_t row = d->row, need = 0, len = PWC_NO_DATA;
  if (buf != NULL) {
    if (row != 0 && n > UINT64_MAX / row) {
      return bad_arg(kind, ds, d, "%llu rows of %llu bytes: too many bytes", (unsigned long long)n,
                     (unsigned long long)row);
    }
    if (n * row > buflen) {
      return bad_arg(kind, ds, d, "buffer of %zu bytes too small: %llu rows of %llu bytes need %llu", buflen,
                     (unsigned long long)n, (unsigned long long)row, (unsigned long long)(n * row));
    }
    len = need = n * row;
  }
  if (kind == PWC_APPEND) {
    uint64_t s0 = d->shape[0], m0 = d->max[0];
    if (n > m0 || s0 > m0 - n) {
      char b[200];
      return bad_arg(kind, ds, d, "append %llu rows to %llu: beyond the max shape %s", (unsigned long long)n,
                     (unsigned long long)s0, dims_str(b, sizeof b, d->max, d->ndims));
    }
    if (s0 + n > d->fast0 || need > PWC_SMALL) {
      unlock();
      return pwc_append_now(ds, n, (void *)buf, buflen);
    }
  }
  struct pwc_entry *e = enqueue(s, kind, n, 0, len);
  if (e == NULL) {
    return out_of_memory(kind);
  }
  if (need > 0) memcpy(e + 1, buf, need);
  project(d, kind, n);
  return done(s->q);
}

int pw_dataset_append(pw_handle ds, uint64_t n, const void *buf, size_t buflen) {
  return append(PWC_APPEND, ds, n, buf, buflen);
}

int pw_dataset_append_deferred(pw_handle ds, uint64_t n, const void *buf, size_t buflen) {
  return append(PWC_DEFERRED, ds, n, buf, buflen);
}

int pw_dataset_extend(pw_handle ds, uint64_t n0) {
  struct slot *s = writer_slot(ds);
  if (s == NULL) return pwc_refused(ds, PWC_EXTEND);
  struct pwc_dset *d = s->d;
  if (n0 < d->shape[0]) {
    return bad_arg(PWC_EXTEND, ds, d, "extend to %llu rows: it has %llu, and never shrinks", (unsigned long long)n0,
                   (unsigned long long)d->shape[0]);
  }
  if (n0 > d->max[0]) {
    char b[200];
    return bad_arg(PWC_EXTEND, ds, d, "extend to %llu rows: beyond the max shape %s", (unsigned long long)n0,
                   dims_str(b, sizeof b, d->max, d->ndims));
  }
  if (n0 > d->fast0) {
    unlock();
    return pwc_extend_now(ds, n0);
  }
  if (enqueue(s, PWC_EXTEND, n0, 0, PWC_NO_DATA) == NULL) {
    return out_of_memory(PWC_EXTEND);
  }
  project(d, PWC_EXTEND, n0);
  return done(s->q);
}

int pw_dataset_write(pw_handle ds, const uint64_t *start, const uint64_t *count, const void *buf, size_t buflen) {
  struct slot *s = writer_slot(ds);
  if (s == NULL) return pwc_refused(ds, PWC_WRITE);
  struct pwc_dset *d = s->d;
  if (start == NULL || count == NULL || buf == NULL) {
    return bad_arg(PWC_WRITE, ds, d, "NULL start, count or buffer");
  }
  int r = d->ndims;
  uint64_t need = d->elem;
  for (int i = 0; i < r; i++) {
    if (count[i] != 0 && need > UINT64_MAX / count[i]) {
      char b[200];
      return bad_arg(PWC_WRITE, ds, d, "count %s too large", dims_str(b, sizeof b, count, r));
    }
    need *= count[i];
  }
  if (need > buflen) {
    char b[200];
    return bad_arg(PWC_WRITE, ds, d, "buffer of %zu bytes too small: count %s needs %llu", buflen,
                   dims_str(b, sizeof b, count, r), (unsigned long long)need);
  }
  for (int i = 0; i < r; i++) {
    if (count[i] > d->shape[i] || start[i] > d->shape[i] - count[i]) {
      char b0[200], b1[200], b2[200];
      return bad_arg(PWC_WRITE, ds, d, "start %s count %s beyond the shape %s", dims_str(b0, sizeof b0, start, r),
                     dims_str(b1, sizeof b1, count, r), dims_str(b2, sizeof b2, d->shape, r));
    }
  }
  if (need == 0) {
    unlock();
    return PW_OK; // nothing to write
  }
  if (need > PWC_SMALL) {
    unlock();
    return pwc_write_now(ds, (uint64_t *)start, (uint64_t *)count, (void *)buf, buflen);
  }
  size_t dimb = sizeof(uint64_t) * (size_t)r;
  struct pwc_entry *e = enqueue(s, PWC_WRITE, (uint64_t)r, 2 * dimb, need);
  if (e == NULL) {
    return out_of_memory(PWC_WRITE);
  }
  unsigned char *p = (unsigned char *)(e + 1);
  memcpy(p, start, dimb);
  memcpy(p + dimb, count, dimb);
  memcpy(p + 2 * dimb, buf, need);
  return done(s->q);
}
