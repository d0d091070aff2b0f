/* pwdefer - the C tests of queued calls (pw_dataset_append_deferred, and pw_dataset_append,
 * pw_dataset_extend and pw_dataset_write, which queue too), run by deferred_test.go against
 * the installed library.
 *
 *   pwdefer order PATH OUTDIR   every rank of the job (size from the environment) queues the
 *                               same appends to /a (int32) and /b (float64 rows of 3), of 1 to
 *                               3 rows, rank r writing the appends i with i % size == r, the
 *                               others extending only; /imm gets /a's appends by
 *                               pw_dataset_append, /ew by pw_dataset_extend + pw_dataset_write.
 *                               The queue is executed by pw_perform_appends, a read, an info,
 *                               pw_sync, an attribute and pw_close in turn; with one rank,
 *                               8 threads also add 1,000 rows each to /t<i> and to /shared, by
 *                               all four calls in turn, and execute the queue every 100.
 *                               Rank 0 writes the expected bytes to OUTDIR/<name>.bin.
 *   pwdefer errors DIR          errors found at once and when the queue executes
 *   pwdefer visible PATH        calls queued and followed by no other call reach a reader
 *                               (in this process) by the writer's timer
 * Exit 0 on success; failures are printed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pwstore.h>

#include "pwcheck.h"

/* EXPECT: call returns code, and its message holds text. */
#define EXPECT(code, text, call)                                                            \
  do {                                                                                    \
    int rc_ = (call);                                                                     \
    if (rc_ != (code) || (rc_ != PW_OK && strstr(pw_errmsg(), (text)) == NULL)) {          \
      fprintf(stderr, "%s:%d: %s = %d, want %s (%d) with \"%s\"; message \"%s\"\n", __FILE__, \
              __LINE__, #call, rc_, #code, (code), (text), pw_errmsg());                  \
      failures++;                                                                         \
    } else {                                                                              \
      printf("ok %-4d %s: %s\n", rc_, #call, rc_ != PW_OK ? pw_errmsg() : "");             \
    }                                                                                     \
  } while (0)

#define WANT(cond)                                                                          \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      fprintf(stderr, "%s:%d: not %s\n", __FILE__, __LINE__, #cond);                      \
      failures++;                                                                         \
    }                                                                                     \
  } while (0)

static void write_bin(const char *dir, const char *name, const void *buf, size_t n) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s.bin", dir, name);
  FILE *f = fopen(p, "wb");
  if (f == NULL || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "write %s failed\n", p);
    exit(1);
  }
}

static int32_t a_value(uint64_t row) { return (int32_t)(row * 7 + 3); }
static double b_value(uint64_t row, int col) { return (double)row * 10 + col + 0.5; }

/* The queue's state: rows appended to /a and /b so far, appends made. */
struct state {
  pw_handle a, b, imm, ew;
  int rank, size;
  uint64_t rows, appends;
};

/* queue makes k appends to /a and /b (deferred), /imm (pw_dataset_append) and /ew
 * (pw_dataset_extend + pw_dataset_write), from buffers it scribbles over right after each
 * call. */
static void queue(struct state *s, int k) {
  for (int j = 0; j < k; j++) {
    uint64_t n = 1 + s->appends % 3;
    int mine = s->appends % (uint64_t)s->size == (uint64_t)s->rank;
    int32_t av[3];
    double bv[9];
    for (uint64_t r = 0; r < n; r++) {
      av[r] = a_value(s->rows + r);
      for (int c = 0; c < 3; c++) bv[r * 3 + c] = b_value(s->rows + r, c);
    }
    CHECK(pw_dataset_append_deferred(s->a, n, mine ? av : NULL, sizeof av));
    CHECK(pw_dataset_append_deferred(s->b, n, mine ? bv : NULL, n * 3 * sizeof(double)));
    memset(av, 0xff, sizeof av); /* copied: reusing the buffer changes nothing */
    memset(bv, 0xff, sizeof bv);
    for (uint64_t r = 0; r < n; r++) av[r] = a_value(s->rows + r);
    CHECK(pw_dataset_append(s->imm, n, mine ? av : NULL, sizeof av));
    memset(av, 0xff, sizeof av);
    for (uint64_t r = 0; r < n; r++) av[r] = a_value(s->rows + r);
    CHECK(pw_dataset_extend(s->ew, s->rows + n));
    if (mine) {
      uint64_t st = s->rows, cnt = n;
      CHECK(pw_dataset_write(s->ew, &st, &cnt, av, n * sizeof(int32_t)));
    }
    s->rows += n;
    s->appends++;
  }
}

static uint64_t rows_of(pw_handle ds) {
  uint64_t shape[8];
  CHECK(pw_dataset_info(ds, NULL, NULL, shape));
  return shape[0];
}

struct thread_arg {
  pw_handle file, own, shared;
  int32_t id;
  int bad;
};

static void *thread_main(void *p) {
  struct thread_arg *t = p;
  for (int32_t i = 0; i < 1000; i++) {
    int32_t v = t->id << 16 | i;
    uint64_t at = (uint64_t)i, one = 1;
    switch (i % 3) { /* /t<id> is this thread's alone: it may extend, then write */
    case 0:
      if (pw_dataset_append_deferred(t->own, 1, &v, sizeof v) != PW_OK) t->bad++;
      break;
    case 1:
      if (pw_dataset_append(t->own, 1, &v, sizeof v) != PW_OK) t->bad++;
      break;
    default:
      if (pw_dataset_extend(t->own, at + 1) != PW_OK || pw_dataset_write(t->own, &at, &one, &v, sizeof v) != PW_OK)
        t->bad++;
    }
    if ((i % 2 ? pw_dataset_append(t->shared, 1, &v, sizeof v)
               : pw_dataset_append_deferred(t->shared, 1, &v, sizeof v)) != PW_OK)
      t->bad++;
    if (i % 100 == 99 && pw_perform_appends(t->file) != PW_OK) t->bad++; /* while others queue */
  }
  return NULL;
}

#define THREADS 8

static int do_order(const char *path, const char *outdir) {
  pw_config c;
  pw_config_init(&c); /* size 0: rank and size from the environment */
  c.tick_seconds = 0.05;
  const char *rs = getenv("OMPI_COMM_WORLD_RANK"), *ss = getenv("OMPI_COMM_WORLD_SIZE");
  struct state s = {.rank = rs ? atoi(rs) : 0, .size = ss ? atoi(ss) : 1};
  pw_handle f;
  CHECK(pw_create(path, &c, &f));
  uint64_t zero[2] = {0, 3}, unl[2] = {PW_UNLIMITED, 3}, chunk[2] = {16, 3};
  CHECK(pw_dataset_create(f, "/a", PW_INT32, 1, zero, unl, chunk, &s.a));
  CHECK(pw_dataset_create(f, "/b", PW_FLOAT64, 2, zero, unl, chunk, &s.b));
  CHECK(pw_dataset_create(f, "/imm", PW_INT32, 1, zero, unl, chunk, &s.imm));
  CHECK(pw_dataset_create(f, "/ew", PW_INT32, 1, zero, unl, chunk, &s.ew));

  queue(&s, 10);
  CHECK(pw_perform_appends(f)); /* explicit */
  WANT(rows_of(s.a) == s.rows && rows_of(s.b) == s.rows && rows_of(s.ew) == s.rows);
  CHECK(pw_perform_appends(f)); /* nothing queued */

  queue(&s, 7); /* executed by the read */
  int32_t *back = malloc(sizeof(int32_t) * (s.rows + 100));
  uint64_t st = 0, cnt = s.rows;
  CHECK(pw_dataset_read(s.a, &st, &cnt, back, sizeof(int32_t) * cnt));
  if (s.size == 1)
    for (uint64_t r = 0; r < cnt; r++) WANT(back[r] == a_value(r));
  free(back);

  queue(&s, 5); /* executed by the info of another dataset */
  WANT(rows_of(s.b) == s.rows);
  queue(&s, 6); /* by pw_sync */
  CHECK(pw_sync(f));
  queue(&s, 4); /* by an attribute */
  CHECK(pw_attr_set_i64(s.imm, "rows", (int64_t)s.rows));
  queue(&s, 3); /* by pw_end_tick */
  CHECK(pw_end_tick(f));

  pw_handle own[THREADS], shared = 0;
  if (s.size == 1) {
    CHECK(pw_dataset_create(f, "/shared", PW_INT32, 1, zero, unl, chunk, &shared));
    pthread_t th[THREADS];
    struct thread_arg ta[THREADS];
    for (int i = 0; i < THREADS; i++) {
      char name[32];
      snprintf(name, sizeof name, "/t%d", i);
      CHECK(pw_dataset_create(f, name, PW_INT32, 1, zero, unl, chunk, &own[i]));
      ta[i] = (struct thread_arg){f, own[i], shared, i, 0};
    }
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, thread_main, &ta[i]);
    for (int i = 0; i < THREADS; i++) {
      pthread_join(th[i], NULL);
      WANT(ta[i].bad == 0);
    }
    /* /shared: every thread's rows, each thread's in its order */
    uint64_t n = THREADS * 1000;
    int32_t *sh = malloc(sizeof(int32_t) * n);
    st = 0;
    CHECK(pw_dataset_read(shared, &st, &n, sh, sizeof(int32_t) * n));
    int next[THREADS] = {0};
    for (uint64_t i = 0; i < n; i++) {
      int id = sh[i] >> 16;
      WANT(id >= 0 && id < THREADS && (sh[i] & 0xffff) == next[id]);
      if (id >= 0 && id < THREADS) next[id]++;
    }
    free(sh);
  }

  queue(&s, 9); /* by pw_close of the file */
  CHECK(pw_close(f));
  CHECK(pw_close(s.a));
  CHECK(pw_close(s.b));
  CHECK(pw_close(s.imm));
  CHECK(pw_close(s.ew));
  if (s.size == 1) {
    for (int i = 0; i < THREADS; i++) CHECK(pw_close(own[i]));
    CHECK(pw_close(shared));
  }

  if (s.rank == 0) {
    int32_t *a = malloc(sizeof(int32_t) * s.rows);
    double *b = malloc(sizeof(double) * 3 * s.rows);
    for (uint64_t r = 0; r < s.rows; r++) {
      a[r] = a_value(r);
      for (int c = 0; c < 3; c++) b[r * 3 + c] = b_value(r, c);
    }
    write_bin(outdir, "a", a, sizeof(int32_t) * s.rows);
    write_bin(outdir, "imm", a, sizeof(int32_t) * s.rows);
    write_bin(outdir, "ew", a, sizeof(int32_t) * s.rows);
    write_bin(outdir, "b", b, sizeof(double) * 3 * s.rows);
    if (s.size == 1)
      for (int i = 0; i < THREADS; i++) {
        int32_t t[1000];
        for (int32_t j = 0; j < 1000; j++) t[j] = i << 16 | j;
        char name[32];
        snprintf(name, sizeof name, "t%d", i);
        write_bin(outdir, name, t, sizeof t);
      }
    free(a);
    free(b);
  }
  printf("rank %d of %d: %llu rows in %llu deferred appends, %d failures\n", s.rank, s.size,
         (unsigned long long)s.rows, (unsigned long long)s.appends, failures);
  return failures != 0;
}

static int do_errors(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/e.pw", dir);
  pw_config c;
  pw_config_init(&c);
  c.size = 1;
  pw_handle f, m, ok, gone;
  CHECK(pw_create(path, &c, &f));
  uint64_t zero = 0, five = 5, unl = PW_UNLIMITED, chunk = 16;
  CHECK(pw_dataset_create(f, "/m", PW_INT32, 1, &zero, &five, &five, &m));
  CHECK(pw_dataset_create(f, "/ok", PW_INT32, 1, &zero, &unl, &chunk, &ok));
  CHECK(pw_dataset_create(f, "/gone", PW_INT32, 1, &zero, &unl, &chunk, &gone));
  int32_t two[2];

  /* found at once */
  EXPECT(PW_ERR_ARG, "too small", pw_dataset_append_deferred(m, 2, two, sizeof two - 1));
  EXPECT(PW_ERR_ARG, "too many bytes", pw_dataset_append_deferred(m, UINT64_MAX / 2, two, sizeof two));
  EXPECT(PW_ERR_BAD_HANDLE, "not a handle", pw_dataset_append_deferred(987654, 1, two, sizeof two));
  EXPECT(PW_ERR_BAD_HANDLE, "not a writer's dataset", pw_dataset_append_deferred(f, 1, two, sizeof two));
  CHECK(pw_close(gone));
  EXPECT(PW_ERR_BAD_HANDLE, "was closed", pw_dataset_append_deferred(gone, 1, two, sizeof two));
  EXPECT(PW_OK, "", pw_perform_appends(f)); /* the refused ones were not queued */
  WANT(rows_of(m) == 0);

  /* the immediate calls: checked at the call against the shape the queued calls leave */
  pw_handle e, big;
  uint64_t eight = 8, four = 4, at = 2, one = 1;
  CHECK(pw_dataset_create(f, "/e", PW_INT32, 1, &zero, &eight, &four, &e));
  EXPECT(PW_ERR_ARG, "beyond the shape [0]", pw_dataset_write(e, &at, &one, two, sizeof two));
  CHECK(pw_dataset_extend(e, 3)); /* queued: the write below is checked against 3 rows */
  two[0] = 5;
  CHECK(pw_dataset_write(e, &at, &one, two, sizeof(int32_t)));
  EXPECT(PW_ERR_ARG, "never shrinks", pw_dataset_extend(e, 2));
  EXPECT(PW_ERR_ARG, "beyond the max shape [8]", pw_dataset_extend(e, 9));
  EXPECT(PW_ERR_ARG, "beyond the max shape [8]", pw_dataset_append(e, 6, NULL, 0));
  CHECK(pw_dataset_append(e, 5, NULL, 0)); /* to 8 rows */
  EXPECT(PW_ERR_ARG, "beyond the max shape [8]", pw_dataset_append(e, 1, two, sizeof two));
  EXPECT(PW_ERR_ARG, "too small", pw_dataset_write(e, &at, &one, two, 3));
  EXPECT(PW_ERR_ARG, "NULL start, count or buffer", pw_dataset_write(e, NULL, &one, two, sizeof two));
  EXPECT(PW_ERR_ARG, "NULL start, count or buffer", pw_dataset_write(e, &at, &one, NULL, sizeof two));
  at = 8;
  EXPECT(PW_ERR_ARG, "beyond the shape [8]", pw_dataset_write(e, &at, &one, two, sizeof two));
  at = 7;
  CHECK(pw_dataset_write(e, &at, &one, two, sizeof(int32_t)));
  WANT(rows_of(e) == 8);
  int32_t eback[8];
  uint64_t est = 0, ecnt = 8;
  CHECK(pw_dataset_read(e, &est, &ecnt, eback, sizeof eback));
  WANT(eback[0] == 0 && eback[2] == 5 && eback[7] == 5);
  /* big data goes through Go at once, after the queue */
  uint64_t big_chunk = 1024, n2k = 2048;
  int32_t *bigbuf = calloc(4096, sizeof(int32_t));
  for (int i = 0; i < 4096; i++) bigbuf[i] = i;
  CHECK(pw_dataset_create(f, "/big", PW_INT32, 1, &zero, &unl, &big_chunk, &big));
  CHECK(pw_dataset_extend(big, 2048)); /* queued */
  est = 0;
  CHECK(pw_dataset_write(big, &est, &n2k, bigbuf, 2048 * sizeof(int32_t)));                 /* through Go */
  CHECK(pw_dataset_append(big, 2048, bigbuf + 2048, 2048 * sizeof(int32_t)));               /* through Go */
  est = 4095;
  CHECK(pw_dataset_write(big, &est, &one, bigbuf, sizeof(int32_t)));                         /* queued: 4096 rows */
  est = 2049;
  EXPECT(PW_ERR_ARG, "beyond the shape [4096]", pw_dataset_write(big, &est, &n2k, bigbuf, 2048 * sizeof(int32_t)));
  WANT(rows_of(big) == 4096);
  est = 0, ecnt = 4096;
  int32_t *bigback = calloc(4096, sizeof(int32_t));
  CHECK(pw_dataset_read(big, &est, &ecnt, bigback, 4096 * sizeof(int32_t)));
  WANT(bigback[0] == 0 && bigback[2047] == 2047 && bigback[2048] == 2048 && bigback[4094] == 4094 && bigback[4095] == 0);
  free(bigback);
  free(bigbuf);
  CHECK(pw_close(e));
  CHECK(pw_close(big));

  /* found when executing: the third append passes the max shape of 5 rows */
  for (int i = 0; i < 3; i++) {
    two[0] = 10 * i, two[1] = 10 * i + 1;
    CHECK(pw_dataset_append_deferred(m, 2, two, sizeof two));
  }
  CHECK(pw_dataset_append_deferred(ok, 1, two, sizeof(int32_t)));
  EXPECT(PW_ERR_ARG, "deferred append 3 of 4 queued on file", pw_sync(f));
  WANT(strstr(pw_errmsg(), "the 1 queued after it were dropped") != NULL);
  WANT(rows_of(m) == 4 && rows_of(ok) == 0);
  int32_t back[4];
  uint64_t st = 0, cnt = 4;
  CHECK(pw_dataset_read(m, &st, &cnt, back, sizeof back));
  WANT(back[0] == 0 && back[1] == 1 && back[2] == 10 && back[3] == 11);
  EXPECT(PW_OK, "", pw_sync(f)); /* the queue is empty again */

  /* the calls after a failing one are dropped; the shapes the checks use follow the file */
  CHECK(pw_dataset_append_deferred(m, 2, two, sizeof two)); /* /m has 4 of 5 rows: fails */
  CHECK(pw_dataset_extend(ok, 2));                          /* dropped */
  EXPECT(PW_ERR_ARG, "the 1 queued after it were dropped", pw_perform_appends(f));
  WANT(rows_of(ok) == 0);
  uint64_t z = 0;
  EXPECT(PW_ERR_ARG, "beyond the shape [0]", pw_dataset_write(ok, &z, &one, two, sizeof(int32_t)));

  /* a queue past 1 MiB is executed by the call that filled it, which returns its error */
  CHECK(pw_dataset_append_deferred(m, 2, two, sizeof two)); /* fails when executed */
  int32_t *kib4 = calloc(1024, sizeof(int32_t));
  int calls = 0, rc;
  while ((rc = pw_dataset_append(ok, 1024, kib4, 4096)) == PW_OK && calls < 1000) calls++;
  WANT(rc == PW_ERR_ARG && strstr(pw_errmsg(), "deferred append 1 of") != NULL);
  WANT(calls > 200 && calls < 300); /* about 1 MiB of 4 KiB appends */
  printf("ok the queue was executed by append %d of 4 KiB: %s\n", calls + 1, pw_errmsg());
  free(kib4);
  WANT(rows_of(ok) == 0);

  /* a read executes the queue, fails with its error and reads nothing */
  CHECK(pw_dataset_append_deferred(m, 2, two, sizeof two));
  back[0] = -1;
  cnt = 1;
  EXPECT(PW_ERR_ARG, "deferred append 1 of 1", pw_dataset_read(m, &st, &cnt, back, sizeof back));
  WANT(back[0] == -1);

  /* pw_close of the file returns the queue's error and closes all the same */
  two[0] = 42;
  CHECK(pw_dataset_append_deferred(ok, 1, two, sizeof(int32_t)));
  CHECK(pw_dataset_append_deferred(m, 1, two, sizeof(int32_t)));     /* the 5th row: fits */
  CHECK(pw_dataset_append_deferred(m, 1, two, sizeof(int32_t)));     /* the 6th: fails */
  EXPECT(PW_ERR_ARG, "deferred append 3 of 3", pw_close(f));
  EXPECT(PW_ERR_BAD_HANDLE, "was closed", pw_close(f));
  EXPECT(PW_ERR_CLOSED, "its file was closed", pw_dataset_append_deferred(ok, 1, two, sizeof(int32_t)));
  CHECK(pw_close(m));
  CHECK(pw_close(ok));

  /* what was executed is in the file */
  pw_handle r, rm, rok;
  CHECK(pw_reader_open(path, &c, &r));
  CHECK(pw_dataset_open(r, "/m", &rm));
  CHECK(pw_dataset_open(r, "/ok", &rok));
  WANT(rows_of(rm) == 5 && rows_of(rok) == 1);
  int32_t all[5];
  cnt = 5;
  CHECK(pw_dataset_read(rm, &st, &cnt, all, sizeof all));
  WANT(all[0] == 0 && all[3] == 11 && all[4] == 42);
  CHECK(pw_close(rm));
  CHECK(pw_close(rok));
  CHECK(pw_close(r));
  printf("%d failures\n", failures);
  return failures != 0;
}

/* do_visible: calls queued on a writer with automatic ticks, and no call after them, reach a
 * reader: the writer's timer executes the queue before it ends the tick. */
static int do_visible(const char *path) {
  pw_config c;
  pw_config_init(&c);
  c.size = 1;
  c.tick_seconds = 0.05;
  pw_handle f, a, ew, r, ra, rew;
  CHECK(pw_create(path, &c, &f));
  uint64_t zero = 0, unl = PW_UNLIMITED, chunk = 16, at = 0, one = 1;
  CHECK(pw_dataset_create(f, "/a", PW_INT32, 1, &zero, &unl, &chunk, &a));
  CHECK(pw_dataset_create(f, "/ew", PW_INT32, 1, &zero, &unl, &chunk, &ew));
  CHECK(pw_end_tick(f)); /* the datasets, for the reader to open */
  CHECK(pw_reader_open(path, &c, &r));
  CHECK(pw_dataset_open(r, "/a", &ra));
  CHECK(pw_dataset_open(r, "/ew", &rew));
  int32_t v = 42, w = 43;
  CHECK(pw_dataset_append(a, 1, &v, sizeof v));
  CHECK(pw_dataset_extend(ew, 1));
  CHECK(pw_dataset_write(ew, &at, &one, &w, sizeof w));
  /* no call on the writer from here until the reader saw both */
  int seen = 0;
  uint64_t tick = 0;
  for (int i = 0; i < 4000 && !seen; i++) { /* 20 s: far more than the 0.05 s tick */
    CHECK(pw_reader_tick(r, &tick));
    if (rows_of(ra) == 1 && rows_of(rew) == 1) {
      int32_t x = 0, y = 0;
      CHECK(pw_dataset_read(ra, &at, &one, &x, sizeof x));
      CHECK(pw_dataset_read(rew, &at, &one, &y, sizeof y));
      WANT(x == 42 && y == 43);
      seen = 1;
    } else {
      struct timespec ts = {0, 5000000};
      nanosleep(&ts, NULL);
    }
  }
  WANT(seen);
  printf("reader at tick %llu %s the queued calls\n", (unsigned long long)tick, seen ? "saw" : "never saw");
  CHECK(pw_close(ra));
  CHECK(pw_close(rew));
  CHECK(pw_close(r));
  CHECK(pw_close(a));
  CHECK(pw_close(ew));
  CHECK(pw_close(f));
  printf("%d failures\n", failures);
  return failures != 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "order") == 0) return do_order(argv[2], argv[3]);
  if (argc >= 3 && strcmp(argv[1], "errors") == 0) return do_errors(argv[2]);
  if (argc >= 3 && strcmp(argv[1], "visible") == 0) return do_visible(argv[2]);
  fprintf(stderr, "usage: pwdefer order PATH OUTDIR | errors DIR | visible PATH\n");
  return 2;
}
