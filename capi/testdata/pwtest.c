/* pwtest - the C tests of libpwstore, run by capi_test.go against the installed library.
 *
 *   pwtest write PATH STEPS DELAY_MS OUTDIR  write the test layout (every rank of the job: size
 *                                            from the environment); rank 0 writes the expected
 *                                            bytes of every dataset to OUTDIR/<name>.bin
 *   pwtest dump PATH OUTDIR                  read every dataset through a reader, write its
 *                                            bytes to OUTDIR/<name>.bin, print a listing
 *   pwtest follow PATH STEPS                 follow a live "write" file, checking every step
 *                                            (one rank; with PWTEST_ENV_RANKS=1 a collective
 *                                            reader of the ranks the environment says)
 *   pwtest bad DIR                           every bad use returns its code
 *   pwtest lock PATH                         create PATH, then say whether another open of
 *                                            it can take an exclusive flock ("locked": no,
 *                                            "unlocked": yes), or "config" and the message
 *                                            if pw_create refuses the configuration
 * Exit 0 on success; failures are printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <pwstore.h>

#include "pwcheck.h"

#define WIDTH 8 /* elements of /field per rank and step */

/* EXPECT: call returns code, with a message. */
#define EXPECT(code, call)                                                                  \
  do {                                                                                    \
    int rc_ = (call);                                                                     \
    if (rc_ != (code) || (rc_ != PW_OK && pw_errmsg()[0] == 0)) {                        \
      fprintf(stderr, "%s:%d: %s = %d, want %s (%d); message \"%s\"\n", __FILE__, __LINE__, \
              #call, rc_, #code, (code), pw_errmsg());                                    \
      failures++;                                                                         \
    } else {                                                                              \
      printf("ok %-4d %s: %s\n", rc_, #call, rc_ != PW_OK ? pw_errmsg() : "");             \
    }                                                                                     \
  } while (0)

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static size_t type_size(int t) {
  switch (t) {
  case PW_INT8: case PW_UINT8: return 1;
  case PW_INT16: case PW_UINT16: return 2;
  case PW_INT32: case PW_UINT32: case PW_FLOAT32: return 4;
  default: return 8;
  }
}

/* field value of step s, global column c */
static double field_value(uint64_t s, uint64_t c) { return (double)s * 1000.0 + (double)c + 0.25; }

/* fill_type fills n elements of type t with a pattern (negative values for signed types). */
static void fill_type(int t, void *buf, size_t n) {
  for (size_t i = 0; i < n; i++) {
    long long v = (long long)(i * 37 + (size_t)t) - 100;
    switch (t) {
    case PW_INT8: ((int8_t *)buf)[i] = (int8_t)v; break;
    case PW_INT16: ((int16_t *)buf)[i] = (int16_t)(v * 300); break;
    case PW_INT32: ((int32_t *)buf)[i] = (int32_t)(v * 100000); break;
    case PW_INT64: ((int64_t *)buf)[i] = (int64_t)v * 10000000000LL; break;
    case PW_UINT8: ((uint8_t *)buf)[i] = (uint8_t)v; break;
    case PW_UINT16: ((uint16_t *)buf)[i] = (uint16_t)(v * 300); break;
    case PW_UINT32: ((uint32_t *)buf)[i] = (uint32_t)(v * 100000); break;
    case PW_UINT64: ((uint64_t *)buf)[i] = (uint64_t)v * 10000000000ULL; break;
    case PW_FLOAT32: ((float *)buf)[i] = (float)v / 3.0f; break;
    case PW_FLOAT64: ((double *)buf)[i] = (double)v / 7.0; break;
    }
  }
}

static void write_bin(const char *dir, const char *name, const void *buf, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.bin", dir, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

/* bin_name: a dataset path as a file name ("/types/t3" -> "types_t3"). */
static void bin_name(const char *path, char *out, size_t n) {
  snprintf(out, n, "%s", path[0] == '/' ? path + 1 : path);
  for (char *p = out; *p; p++)
    if (*p == '/') *p = '_';
}

static int do_write(const char *path, int steps, int delay, const char *outdir) {
  pw_config c;
  pw_config_init(&c); /* size 0: rank and size from the environment */
  c.tick_seconds = 0.05;
  pw_handle f, field, series, types[11];
  CHECK(pw_create(path, &c, &f));
  /* rank and size: what the library found is visible through the layout only, so the test
   * passes them in the environment too */
  const char *rs = getenv("PWTEST_RANK"), *ss = getenv("PWTEST_SIZE");
  if (rs == NULL) rs = getenv("OMPI_COMM_WORLD_RANK");
  if (ss == NULL) ss = getenv("OMPI_COMM_WORLD_SIZE");
  int rank = rs ? atoi(rs) : 0, size = ss ? atoi(ss) : 1;
  uint64_t width = (uint64_t)size * WIDTH;
  uint64_t shape[2] = {0, width}, maxshape[2] = {PW_UNLIMITED, width}, chunk[2] = {4, width};
  CHECK(pw_dataset_create(f, "/field", PW_FLOAT64, 2, shape, maxshape, chunk, &field));
  uint64_t s1 = 0, m1 = PW_UNLIMITED, c1 = 16;
  CHECK(pw_dataset_create(f, "/series", PW_INT32, 1, &s1, &m1, &c1, &series));
  CHECK(pw_attr_set_str(field, "units", "kelvin"));
  CHECK(pw_attr_set_f64(field, "dt", 0.25));
  CHECK(pw_attr_set_i64(field, "offset", -5));
  CHECK(pw_attr_set_u64(field, "big", 0x8000000000000001ULL));
  char name[64];
  for (int t = PW_INT8; t <= PW_FLOAT64; t++) {
    uint64_t sh[2] = {3, 5};
    snprintf(name, sizeof name, "/types/t%02d", t);
    CHECK(pw_dataset_create(f, name, t, 2, sh, NULL, NULL, &types[t]));
    if (rank == 0) {
      char buf[15 * 8];
      uint64_t st[2] = {0, 0};
      fill_type(t, buf, 15);
      CHECK(pw_dataset_write(types[t], st, sh, buf, sizeof buf));
    }
  }
  double row[WIDTH];
  for (int s = 0; s < steps; s++) {
    CHECK(pw_dataset_extend(field, (uint64_t)s + 1));
    for (int i = 0; i < WIDTH; i++) row[i] = field_value((uint64_t)s, (uint64_t)(rank * WIDTH + i));
    uint64_t st[2] = {(uint64_t)s, (uint64_t)rank * WIDTH}, cnt[2] = {1, WIDTH};
    CHECK(pw_dataset_write(field, st, cnt, row, sizeof row));
    /* the series through pw_dataset_append: every rank extends, rank 0 writes */
    int32_t v = s * 3 - 7;
    CHECK(pw_dataset_append(series, 1, rank == 0 ? &v : NULL, sizeof v));
    /* the steps made complete: a reader trusts rows below it */
    CHECK(pw_attr_set_i64(field, "steps", s + 1));
    CHECK(pw_sync(f));
    if (delay > 0) sleep_ms(delay);
  }
  /* read back own data through the writer */
  if (steps > 0) {
    double back[WIDTH];
    uint64_t st[2] = {(uint64_t)steps - 1, (uint64_t)rank * WIDTH}, cnt[2] = {1, WIDTH};
    CHECK(pw_dataset_read(field, st, cnt, back, sizeof back));
    for (int i = 0; i < WIDTH; i++)
      if (back[i] != field_value((uint64_t)steps - 1, (uint64_t)(rank * WIDTH + i))) {
        fprintf(stderr, "read back through the writer: element %d is %g\n", i, back[i]);
        return 1;
      }
  }
  CHECK(pw_close(field));
  CHECK(pw_close(series));
  for (int t = PW_INT8; t <= PW_FLOAT64; t++) CHECK(pw_close(types[t]));
  CHECK(pw_close(f));
  if (rank == 0 && outdir != NULL) {
    double *all = malloc(sizeof(double) * width * (size_t)(steps > 0 ? steps : 1));
    for (int s = 0; s < steps; s++)
      for (uint64_t i = 0; i < width; i++) all[(size_t)s * width + i] = field_value((uint64_t)s, i);
    write_bin(outdir, "field", all, sizeof(double) * width * (size_t)steps);
    free(all);
    int32_t *ser = malloc(sizeof(int32_t) * (size_t)(steps > 0 ? steps : 1));
    for (int s = 0; s < steps; s++) ser[s] = s * 3 - 7;
    write_bin(outdir, "series", ser, sizeof(int32_t) * (size_t)steps);
    free(ser);
    for (int t = PW_INT8; t <= PW_FLOAT64; t++) {
      char buf[15 * 8];
      fill_type(t, buf, 15);
      snprintf(name, sizeof name, "types_t%02d", t);
      write_bin(outdir, name, buf, 15 * type_size(t));
    }
  }
  printf("rank %d of %d wrote %d steps\n", rank, size, steps);
  return 0;
}

static int do_dump(const char *path, const char *outdir) {
  pw_config c;
  pw_config_init(&c);
  c.size = 1;
  pw_handle r;
  CHECK(pw_reader_open(path, &c, &r));
  uint64_t tick;
  CHECK(pw_reader_tick(r, &tick));
  size_t n;
  CHECK(pw_dataset_count(r, &n));
  for (size_t i = 0; i < n; i++) {
    char name[1024], file[1024];
    CHECK(pw_dataset_name(r, i, name, sizeof name));
    pw_handle ds;
    CHECK(pw_dataset_open(r, name, &ds));
    int type, nd;
    uint64_t shape[8], maxshape[8], chunk[8], start[8] = {0};
    CHECK(pw_dataset_info(ds, &type, &nd, shape));
    CHECK(pw_dataset_maxshape(ds, maxshape));
    CHECK(pw_dataset_chunk(ds, chunk));
    size_t bytes = type_size(type);
    printf("%s type %d shape", name, type);
    for (int d = 0; d < nd; d++) {
      bytes *= shape[d];
      printf(" %llu", (unsigned long long)shape[d]);
    }
    printf(" max");
    for (int d = 0; d < nd; d++)
      if (maxshape[d] == PW_UNLIMITED) printf(" unlimited");
      else printf(" %llu", (unsigned long long)maxshape[d]);
    printf(" chunk");
    for (int d = 0; d < nd; d++) printf(" %llu", (unsigned long long)chunk[d]);
    printf("\n");
    void *buf = malloc(bytes ? bytes : 1);
    if (bytes > 0) CHECK(pw_dataset_read(ds, start, shape, buf, bytes));
    bin_name(name, file, sizeof file);
    write_bin(outdir, file, buf, bytes);
    free(buf);
    size_t na;
    if (pw_attr_count(ds, &na) == PW_OK) {
      for (size_t a = 0; a < na; a++) {
        char key[256], s[256];
        int kind;
        int64_t iv;
        uint64_t uv;
        double fv;
        CHECK(pw_attr_name(ds, a, key, sizeof key));
        CHECK(pw_attr_get(ds, key, &kind, &iv, &uv, &fv, s, sizeof s));
        switch (kind) {
        case PW_ATTR_INT: printf("  attr %s int %lld\n", key, (long long)iv); break;
        case PW_ATTR_UINT: printf("  attr %s uint %llu\n", key, (unsigned long long)uv); break;
        case PW_ATTR_FLOAT: printf("  attr %s float %.17g\n", key, fv); break;
        case PW_ATTR_STR: printf("  attr %s str %s\n", key, s); break;
        }
      }
    }
    CHECK(pw_close(ds));
  }
  CHECK(pw_close(r));
  return 0;
}

static int do_follow(const char *path, int steps) {
  pw_config c;
  pw_config_init(&c);
  c.size = getenv("PWTEST_ENV_RANKS") != NULL ? 0 : 1;
  c.open_wait_seconds = 30;
  pw_handle r, field = 0;
  CHECK(pw_reader_open(path, &c, &r));
  int seen = 0, ticks = 0, errors = 0, closed = 0, views = 0;
  double row[4096];
  for (int iter = 0; iter < 20000 && !(closed && seen == steps); iter++) {
    uint64_t tick;
    CHECK(pw_reader_tick(r, &tick));
    ticks++;
    CHECK(pw_reader_writer_closed(r, &closed));
    if (field == 0 && pw_dataset_open(r, "/field", &field) != PW_OK) {
      sleep_ms(10);
      continue;
    }
    int kind;
    int64_t n = 0;
    if (pw_attr_get(field, "steps", &kind, &n, NULL, NULL, NULL, 0) != PW_OK) {
      sleep_ms(10);
      continue;
    }
    int type, nd;
    uint64_t shape[8];
    CHECK(pw_dataset_info(field, &type, &nd, shape));
    if (shape[0] < (uint64_t)n) {
      fprintf(stderr, "tick %llu: steps %lld beyond shape %llu\n", (unsigned long long)tick, (long long)n,
              (unsigned long long)shape[0]);
      errors++;
    }
    if (n > seen) views++;
    for (; seen < n; seen++) {
      uint64_t st[2] = {(uint64_t)seen, 0}, cnt[2] = {1, shape[1]};
      CHECK(pw_dataset_read(field, st, cnt, row, sizeof row));
      for (uint64_t i = 0; i < shape[1]; i++)
        if (row[i] != field_value((uint64_t)seen, i)) {
          fprintf(stderr, "step %d element %llu: %.17g, want %.17g\n", seen, (unsigned long long)i, row[i],
                  field_value((uint64_t)seen, i));
          errors++;
          break;
        }
    }
    sleep_ms(10);
  }
  CHECK(pw_close(field));
  CHECK(pw_close(r));
  printf("followed %d steps in %d ticks (%d with new steps), writer closed %d, errors %d\n", seen, ticks, views,
         closed, errors);
  return errors == 0 && seen == steps && closed ? 0 : 1;
}

/* Threads: each makes failing calls and checks that pw_errmsg is its own. */
struct thread_arg {
  pw_handle reader;
  int id, bad;
};

static void *thread_main(void *p) {
  struct thread_arg *a = p;
  char name[64];
  for (int i = 0; i < 200; i++) {
    snprintf(name, sizeof name, "/missing-%d-%d", a->id, i);
    pw_handle ds;
    if (pw_dataset_open(a->reader, name, &ds) != PW_ERR_NOT_FOUND || strstr(pw_errmsg(), name) == NULL) {
      a->bad++;
    }
    if (pw_close(1000000 + a->id) != PW_ERR_BAD_HANDLE) a->bad++;
    if (pw_dataset_open(a->reader, "/d", &ds) != PW_OK || pw_close(ds) != PW_OK) a->bad++;
  }
  return NULL;
}

/* Threads appending to one dataset: each append gets rows of its own. */
struct append_arg {
  pw_handle ds;
  int32_t id;
  int bad;
};

static void *append_main(void *p) {
  struct append_arg *a = p;
  int32_t two[2] = {a->id, a->id};
  for (int i = 0; i < 100; i++)
    if (pw_dataset_append(a->ds, 2, two, sizeof two) != PW_OK) a->bad++;
  return NULL;
}

static int do_bad(const char *dir) {
  char path[4096], md[4096], junk[4096];
  snprintf(path, sizeof path, "%s/bad.pw", dir);
  snprintf(md, sizeof md, "%s/bad.pw.md", dir);
  snprintf(junk, sizeof junk, "%s/junk.pw", dir);
  pw_config c;
  pw_config_init(&c);
  c.size = 1;
  pw_handle f = 0, ds = 0, r = 0, x = 0;
  uint64_t shape[2] = {4, 4}, start[2] = {0, 0}, tick;
  double buf[16] = {0};
  int type, nd;
  uint64_t shape8[8];

  /* NULL pointers */
  EXPECT(PW_ERR_ARG, pw_create(NULL, &c, &f));
  EXPECT(PW_ERR_ARG, pw_create(path, &c, NULL));
  EXPECT(PW_ERR_ARG, pw_reader_open(NULL, &c, &r));
  EXPECT(PW_ERR_ARG, pw_recover(NULL, &c, &tick));
  EXPECT(PW_ERR_ARG, pw_version(NULL, NULL, NULL));
  /* a config not made by pw_config_init, or with bad values */
  pw_config raw;
  memset(&raw, 0, sizeof raw);
  EXPECT(PW_ERR_CONFIG, pw_create(path, &raw, &f));
  pw_config badc = c;
  badc.tick_seconds = -1;
  EXPECT(PW_ERR_CONFIG, pw_create(path, &badc, &f));
  badc = c;
  badc.rank = 5;
  badc.size = 2;
  EXPECT(PW_ERR_CONFIG, pw_create(path, &badc, &f));
  /* missing files */
  EXPECT(PW_ERR_NOT_FOUND, pw_open(path, &c, &f));
  EXPECT(PW_ERR_NOT_FOUND, pw_reader_open(path, &c, &r));
  /* a file that is not pwstore's */
  FILE *j = fopen(junk, "wb");
  for (int i = 0; i < 8192; i++) fputc(i * 7, j);
  fclose(j);
  EXPECT(PW_ERR_CORRUPT, pw_open(junk, &c, &f));
  EXPECT(PW_ERR_CORRUPT, pw_reader_open(junk, &c, &r));

  CHECK(pw_create(path, &c, &f));
  EXPECT(PW_ERR_EXISTS, pw_create(path, &c, &x));
  /* dataset creation */
  EXPECT(PW_ERR_ARG, pw_dataset_create(f, NULL, PW_FLOAT64, 2, shape, NULL, NULL, &ds));
  EXPECT(PW_ERR_ARG, pw_dataset_create(f, "/d", PW_FLOAT64, 2, NULL, NULL, NULL, &ds));
  EXPECT(PW_ERR_ARG, pw_dataset_create(f, "/d", PW_FLOAT64, 0, shape, NULL, NULL, &ds));
  EXPECT(PW_ERR_ARG, pw_dataset_create(f, "/d", PW_FLOAT64, 9, shape, NULL, NULL, &ds));
  EXPECT(PW_ERR_ARG, pw_dataset_create(f, "/d", PW_FLOAT64, -1, shape, NULL, NULL, &ds));
  EXPECT(PW_ERR_ARG, pw_dataset_create(f, "/d", 0, 2, shape, NULL, NULL, &ds));
  EXPECT(PW_ERR_ARG, pw_dataset_create(f, "/d", 11, 2, shape, NULL, NULL, &ds));
  EXPECT(PW_ERR_ARG, pw_dataset_create(f, "/d", 99, 2, shape, NULL, NULL, &ds));
  CHECK(pw_dataset_create(f, "/d", PW_FLOAT64, 2, shape, NULL, NULL, &ds));
  EXPECT(PW_ERR_EXISTS, pw_dataset_create(f, "/d", PW_FLOAT64, 2, shape, NULL, NULL, &x));
  EXPECT(PW_ERR_NOT_FOUND, pw_dataset_open(f, "/nope", &x));
  /* wrong-kind and unknown handles */
  EXPECT(PW_ERR_BAD_HANDLE, pw_dataset_create(ds, "/e", PW_FLOAT64, 2, shape, NULL, NULL, &x));
  EXPECT(PW_ERR_BAD_HANDLE, pw_sync(ds));
  EXPECT(PW_ERR_BAD_HANDLE, pw_dataset_write(f, start, shape, buf, sizeof buf));
  EXPECT(PW_ERR_BAD_HANDLE, pw_dataset_info(f, &type, &nd, shape8));
  EXPECT(PW_ERR_BAD_HANDLE, pw_reader_tick(f, &tick));
  EXPECT(PW_ERR_BAD_HANDLE, pw_sync(0));
  EXPECT(PW_ERR_BAD_HANDLE, pw_sync(-3));
  EXPECT(PW_ERR_BAD_HANDLE, pw_sync(123456789));
  EXPECT(PW_ERR_BAD_HANDLE, pw_close(0));
  /* short buffers and boxes */
  EXPECT(PW_ERR_ARG, pw_dataset_write(ds, start, shape, buf, sizeof buf - 1));
  EXPECT(PW_ERR_ARG, pw_dataset_read(ds, start, shape, buf, 8));
  EXPECT(PW_ERR_ARG, pw_dataset_write(ds, NULL, shape, buf, sizeof buf));
  EXPECT(PW_ERR_ARG, pw_dataset_write(ds, start, shape, NULL, sizeof buf));
  uint64_t beyond[2] = {3, 0};
  EXPECT(PW_ERR_ARG, pw_dataset_write(ds, beyond, shape, buf, sizeof buf));
  EXPECT(PW_ERR_ARG, pw_dataset_extend(ds, 8)); /* fixed shape */
  EXPECT(PW_ERR_ARG, pw_dataset_append(ds, 1, buf, sizeof buf)); /* fixed shape */
  EXPECT(PW_OK, pw_dataset_write(ds, start, shape, buf, sizeof buf));
  /* pw_dataset_append: rows of 3, checked before anything is extended */
  pw_handle ap;
  uint64_t a0[2] = {0, 3}, am[2] = {PW_UNLIMITED, 3}, ac[2] = {2, 3};
  double rows[6] = {1, 2, 3, 4, 5, 6}, back[9];
  CHECK(pw_dataset_create(f, "/ap", PW_FLOAT64, 2, a0, am, ac, &ap));
  EXPECT(PW_ERR_BAD_HANDLE, pw_dataset_append(f, 1, rows, sizeof rows));
  EXPECT(PW_ERR_BAD_HANDLE, pw_dataset_append(0, 1, rows, sizeof rows));
  EXPECT(PW_ERR_ARG, pw_dataset_append(ap, 2, rows, sizeof rows - 1));
  EXPECT(PW_ERR_ARG, pw_dataset_append(ap, UINT64_MAX, rows, sizeof rows));
  EXPECT(PW_OK, pw_dataset_info(ap, NULL, NULL, shape8));
  if (shape8[0] != 0) {
    fprintf(stderr, "FAIL: a refused append extended /ap to %llu rows\n", (unsigned long long)shape8[0]);
    failures++;
  }
  EXPECT(PW_OK, pw_dataset_append(ap, 1, rows, sizeof rows)); /* buflen may be larger */
  EXPECT(PW_OK, pw_dataset_append(ap, 0, rows, 0));
  EXPECT(PW_OK, pw_dataset_append(ap, 1, NULL, 0));              /* extend only */
  EXPECT(PW_OK, pw_dataset_append(ap, 1, rows + 3, 3 * sizeof(double)));
  uint64_t a3[2] = {3, 3};
  EXPECT(PW_OK, pw_dataset_info(ap, NULL, NULL, shape8));
  EXPECT(PW_OK, pw_dataset_read(ap, start, a3, back, sizeof back));
  if (shape8[0] != 3 || back[0] != 1 || back[2] != 3 || back[6] != 4 || back[8] != 6) {
    fprintf(stderr, "FAIL: after appends /ap has %llu rows, row 0 %g..%g, row 2 %g..%g\n",
            (unsigned long long)shape8[0], back[0], back[2], back[6], back[8]);
    failures++;
  }
  /* 8 threads append 100 x 2 rows each to one dataset: 1,600 rows, each pair one thread's */
  pw_handle shared;
  uint64_t s0 = 0, sm = PW_UNLIMITED, sc = 64;
  CHECK(pw_dataset_create(f, "/shared", PW_INT32, 1, &s0, &sm, &sc, &shared));
  pthread_t ath[8];
  struct append_arg aargs[8];
  for (int i = 0; i < 8; i++) {
    aargs[i] = (struct append_arg){shared, i + 1, 0};
    pthread_create(&ath[i], NULL, append_main, &aargs[i]);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(ath[i], NULL);
    failures += aargs[i].bad;
  }
  int32_t all[1600], per[9] = {0};
  uint64_t z1 = 0, n1 = 1600;
  EXPECT(PW_OK, pw_dataset_info(shared, NULL, NULL, shape8));
  EXPECT(PW_OK, pw_dataset_read(shared, &z1, &n1, all, sizeof all));
  int torn = 0;
  for (int i = 0; i < 1600; i += 2) {
    if (all[i] < 1 || all[i] > 8 || all[i + 1] != all[i]) torn++;
    else per[all[i]] += 2;
  }
  for (int i = 1; i <= 8; i++) torn += per[i] != 200;
  if (shape8[0] != 1600 || torn) {
    fprintf(stderr, "FAIL: 8 threads appending: %llu rows, %d bad pairs or counts\n", (unsigned long long)shape8[0], torn);
    failures++;
  } else {
    printf("ok 8 threads x 100 appends of 2 rows\n");
  }
  CHECK(pw_close(shared));
  char small[4];
  EXPECT(PW_OK, pw_attr_set_str(ds, "name", "a longer text"));
  int kind;
  EXPECT(PW_ERR_ARG, pw_attr_get(ds, "name", &kind, NULL, NULL, NULL, small, sizeof small));
  if (strstr(pw_errmsg(), "need 14") == NULL) {
    fprintf(stderr, "short string buffer: message \"%s\" does not say the needed 14 bytes\n", pw_errmsg());
    failures++;
  }
  EXPECT(PW_ERR_ARG, pw_attr_get(ds, "name", &kind, NULL, NULL, NULL, NULL, 0));
  EXPECT(PW_ERR_NOT_FOUND, pw_attr_get(ds, "nope", &kind, NULL, NULL, NULL, NULL, 0));
  EXPECT(PW_ERR_ARG, pw_attr_set_f64(ds, NULL, 1));
  /* a writer's dataset lists its attributes, sorted by name, like a reader's */
  size_t na = 99;
  char key[16];
  EXPECT(PW_OK, pw_attr_count(ap, &na));
  if (na != 0) {
    fprintf(stderr, "FAIL: /ap has %zu attributes, want 0\n", na);
    failures++;
  }
  EXPECT(PW_OK, pw_attr_set_i64(ds, "alpha", 1));
  EXPECT(PW_OK, pw_attr_count(ds, &na));
  EXPECT(PW_OK, pw_attr_name(ds, 1, key, sizeof key));
  if (na != 2 || strcmp(key, "name") != 0) {
    fprintf(stderr, "FAIL: /d has %zu attributes, the second \"%s\"; want 2, \"name\"\n", na, key);
    failures++;
  }
  EXPECT(PW_ERR_ARG, pw_attr_name(ds, 2, key, sizeof key));
  EXPECT(PW_ERR_ARG, pw_attr_name(ds, 0, small, 3));
  EXPECT(PW_ERR_ARG, pw_attr_count(ds, NULL));
  EXPECT(PW_ERR_BAD_HANDLE, pw_attr_count(f, &na));
  EXPECT(PW_ERR_BAD_HANDLE, pw_attr_name(f, 0, key, sizeof key));
  EXPECT(PW_ERR_ARG, pw_dataset_name(f, 99, small, sizeof small));
  char url[8];
  EXPECT(PW_ERR_ARG, pw_nats_serve("127.0.0.1:0", url, sizeof url));
  /* close, double close, use after close */
  EXPECT(PW_OK, pw_end_tick(f));
  EXPECT(PW_OK, pw_close(f));
  EXPECT(PW_ERR_BAD_HANDLE, pw_close(f));
  EXPECT(PW_ERR_BAD_HANDLE, pw_sync(f));
  EXPECT(PW_ERR_CLOSED, pw_dataset_write(ds, start, shape, buf, sizeof buf));
  EXPECT(PW_ERR_CLOSED, pw_dataset_append(ap, 1, rows, sizeof rows));
  EXPECT(PW_OK, pw_close(ap));
  EXPECT(PW_ERR_BAD_HANDLE, pw_dataset_append(ap, 1, rows, sizeof rows));
  EXPECT(PW_ERR_CLOSED, pw_dataset_info(ds, &type, &nd, shape8));
  EXPECT(PW_ERR_CLOSED, pw_attr_count(ds, &na));
  EXPECT(PW_ERR_CLOSED, pw_attr_name(ds, 0, key, sizeof key));
  EXPECT(PW_OK, pw_close(ds));
  EXPECT(PW_ERR_BAD_HANDLE, pw_close(ds));
  EXPECT(PW_ERR_BAD_HANDLE, pw_dataset_read(ds, start, shape, buf, sizeof buf));

  /* readers */
  CHECK(pw_reader_open(path, &c, &r));
  CHECK(pw_reader_tick(r, &tick));
  EXPECT(PW_ERR_BAD_HANDLE, pw_dataset_extend(r, 3));
  CHECK(pw_dataset_open(r, "/d", &ds));
  EXPECT(PW_ERR_BAD_HANDLE, pw_dataset_extend(ds, 3)); /* a reader's dataset is read-only */
  EXPECT(PW_ERR_BAD_HANDLE, pw_dataset_write(ds, start, shape, buf, sizeof buf));
  EXPECT(PW_ERR_BAD_HANDLE, pw_attr_set_i64(ds, "k", 1));
  EXPECT(PW_ERR_ARG, pw_dataset_read(ds, start, shape, buf, 3));
  EXPECT(PW_ERR_NOT_FOUND, pw_dataset_open(r, "/nope", &x));
  EXPECT(PW_ERR_BAD_HANDLE, pw_sync(r));
  /* several threads at once */
  pthread_t th[8];
  struct thread_arg args[8];
  for (int i = 0; i < 8; i++) {
    args[i] = (struct thread_arg){r, i, 0};
    pthread_create(&th[i], NULL, thread_main, &args[i]);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    if (args[i].bad) {
      fprintf(stderr, "thread %d: %d calls returned the wrong code or another thread's message\n", i, args[i].bad);
      failures++;
    }
  }
  printf("ok 8 threads x 200 rounds\n");
  EXPECT(PW_OK, pw_close(r));
  EXPECT(PW_ERR_BAD_HANDLE, pw_close(r));
  EXPECT(PW_ERR_BAD_HANDLE, pw_reader_tick(r, &tick));
  EXPECT(PW_ERR_CLOSED, pw_dataset_read(ds, start, shape, buf, sizeof buf));
  EXPECT(PW_OK, pw_close(ds));

  /* recovery of a cleanly closed file: nothing to do */
  EXPECT(PW_OK, pw_recover(path, &c, &tick));
  snprintf(md, sizeof md, "%s/none.pw", dir);
  EXPECT(PW_ERR_NOT_FOUND, pw_recover(md, &c, &tick));
  printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}

/* do_lock: does the writer hold the data file's lock (PW_USE_FILE_LOCKING)? */
static int do_lock(const char *path) {
  pw_config c;
  pw_config_init(&c);
  c.manual_ticks = 1;
  pw_handle f;
  int rc = pw_create(path, &c, &f);
  if (rc == PW_ERR_CONFIG) {
    printf("config: %s\n", pw_errmsg());
    return 0;
  }
  if (rc != PW_OK) {
    fprintf(stderr, "pw_create: %d %s\n", rc, pw_errmsg());
    return 1;
  }
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    perror("open");
    return 1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    printf("unlocked\n");
  } else if (errno == EWOULDBLOCK) {
    printf("locked\n");
  } else {
    perror("flock");
    return 1;
  }
  close(fd);
  if (pw_close(f) != PW_OK) {
    fprintf(stderr, "pw_close: %s\n", pw_errmsg());
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 6 && strcmp(argv[1], "write") == 0) return do_write(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5]);
  if (argc >= 4 && strcmp(argv[1], "dump") == 0) return do_dump(argv[2], argv[3]);
  if (argc >= 4 && strcmp(argv[1], "follow") == 0) return do_follow(argv[2], atoi(argv[3]));
  if (argc >= 3 && strcmp(argv[1], "bad") == 0) return do_bad(argv[2]);
  if (argc >= 3 && strcmp(argv[1], "lock") == 0) return do_lock(argv[2]);
  fprintf(stderr, "usage: pwtest write PATH STEPS DELAY_MS OUTDIR | dump PATH OUTDIR | follow PATH STEPS | bad DIR\n");
  return 2;
}
