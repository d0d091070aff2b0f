/* rr - the round-robin workload through libpwstore's C interface, the peer of capibench's Go
 * worker: D extensible 1-D int32 datasets (chunks of 1,024), P passes of a one-element append
 * (extend + write) to each, pw_sync after each pass.
 *
 *   rr FILE D P [append|deferred]
 *                          prints "appends A seconds S cpu C" for the passes (create and close
 *                          excluded): wall seconds, and the process's CPU seconds (user +
 *                          system, every thread); with "append", each append is one
 *                          pw_dataset_append; with "deferred", one pw_dataset_append_deferred,
 *                          the pass's queue executed by its pw_sync
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <pwstore.h>

#define CHECK(call)                                                            \
  do {                                                                       \
    if ((call) != PW_OK) {                                                   \
      fprintf(stderr, "rr: %s: %s\n", #call, pw_errmsg());                   \
      return 1;                                                              \
    }                                                                        \
  } while (0)

/* cpu returns the process's user + system CPU seconds so far. */
static double cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 4 && !(argc == 5 && (strcmp(argv[4], "append") == 0 || strcmp(argv[4], "deferred") == 0))) {
    fprintf(stderr, "usage: rr FILE D P [append|deferred]\n");
    return 2;
  }
  int batched = argc == 5 && strcmp(argv[4], "append") == 0;
  int deferred = argc == 5 && strcmp(argv[4], "deferred") == 0;
  int d = atoi(argv[2]), p = atoi(argv[3]);
  pw_config c;
  pw_config_init(&c);
  c.size = 1;
  pw_handle f, *ds = malloc(sizeof(pw_handle) * (size_t)d);
  CHECK(pw_create(argv[1], &c, &f));
  char name[64];
  uint64_t zero = 0, unl = PW_UNLIMITED, chunk = 1024;
  for (int i = 0; i < d; i++) {
    snprintf(name, sizeof name, "/rr/d%05d", i);
    CHECK(pw_dataset_create(f, name, PW_INT32, 1, &zero, &unl, &chunk, &ds[i]));
  }
  struct timespec t0, t1;
  double c0 = cpu();
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uint64_t one = 1;
  for (int pass = 0; pass < p; pass++) {
    uint64_t at = (uint64_t)pass;
    for (int i = 0; i < d; i++) {
      int32_t v = pass * 31 + i;
      if (deferred) {
        CHECK(pw_dataset_append_deferred(ds[i], 1, &v, sizeof v));
      } else if (batched) {
        CHECK(pw_dataset_append(ds[i], 1, &v, sizeof v));
      } else {
        CHECK(pw_dataset_extend(ds[i], at + 1));
        CHECK(pw_dataset_write(ds[i], &at, &one, &v, sizeof v));
      }
    }
    CHECK(pw_sync(f));
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double c1 = cpu();
  for (int i = 0; i < d; i++) CHECK(pw_close(ds[i]));
  CHECK(pw_close(f));
  printf("appends %lld seconds %.6f cpu %.6f\n", (long long)d * p,
         (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, c1 - c0);
  free(ds);
  return 0;
}
