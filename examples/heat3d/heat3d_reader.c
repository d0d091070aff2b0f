/* heat3d_reader - follows a heat3d checkpoint file while the simulation writes it.
 *
 *   heat3d_reader [--timeout SECONDS] FILE
 *
 * At every new snapshot it reads each new complete checkpoint (below attribute "checkpoints"
 * of /T): the step, time and stored total heat, and the whole temperature field, whose sum it
 * checks against the stored heat (relative 1e-12: its summation order differs from the
 * simulation's). It prints
 *   step S time T heat H        (H with %.17g, as heat3d prints it)
 * per checkpoint and at the end "reader: C checkpoints, E errors"; exit status 1 if E > 0, the
 * writer did not close, or the timeout passed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pwstore.h>

#define CHECK(call)                                                            \
  do {                                                                       \
    int rc_ = (call);                                                        \
    if (rc_ != PW_OK) {                                                      \
      fprintf(stderr, "heat3d_reader: %s: error %d: %s\n", #call, rc_, pw_errmsg()); \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  double timeout = 120;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) timeout = atof(argv[++i]);
    else if (path == NULL) path = argv[i];
  }
  if (path == NULL) {
    fprintf(stderr, "usage: heat3d_reader [--timeout SECONDS] FILE\n");
    return 2;
  }
  pw_config cfg;
  pw_config_init(&cfg);
  cfg.size = 1;
  cfg.open_wait_seconds = 60;
  pw_handle r, dT = 0, dstep = 0, dtime = 0, dheat = 0;
  CHECK(pw_reader_open(path, &cfg, &r));
  double start = now();
  uint64_t seen = 0;
  int errors = 0, closed = 0;
  double *field = NULL;
  size_t cells = 0;
  for (;;) {
    uint64_t tick;
    CHECK(pw_reader_tick(r, &tick));
    CHECK(pw_reader_writer_closed(r, &closed));
    if (dT == 0 && pw_dataset_open(r, "/T", &dT) == PW_OK) {
      CHECK(pw_dataset_open(r, "/step", &dstep));
      CHECK(pw_dataset_open(r, "/time", &dtime));
      CHECK(pw_dataset_open(r, "/heat", &dheat));
    }
    int64_t n = 0;
    int kind;
    if (dT != 0 && pw_attr_get(dT, "checkpoints", &kind, &n, NULL, NULL, NULL, 0) == PW_OK) {
      int type, nd;
      uint64_t shape[8];
      CHECK(pw_dataset_info(dT, &type, &nd, shape));
      if (nd != 4 || type != PW_FLOAT64 || shape[0] < (uint64_t)n) {
        fprintf(stderr, "tick %llu: /T has type %d, %d dims, %llu entries for %lld checkpoints\n",
                (unsigned long long)tick, type, nd, (unsigned long long)shape[0], (long long)n);
        return 1;
      }
      if (field == NULL) {
        cells = (size_t)(shape[1] * shape[2] * shape[3]);
        field = malloc(sizeof(double) * cells);
      }
      for (; seen < (uint64_t)n; seen++) {
        uint64_t one = 1, st[4] = {seen, 0, 0, 0}, cnt[4] = {1, shape[1], shape[2], shape[3]};
        int64_t step;
        double t, heat, sum = 0;
        CHECK(pw_dataset_read(dstep, &seen, &one, &step, sizeof step));
        CHECK(pw_dataset_read(dtime, &seen, &one, &t, sizeof t));
        CHECK(pw_dataset_read(dheat, &seen, &one, &heat, sizeof heat));
        CHECK(pw_dataset_read(dT, st, cnt, field, sizeof(double) * cells));
        for (size_t i = 0; i < cells; i++) sum += field[i];
        if (!(fabs(sum - heat) <= 1e-12 * fabs(heat))) {
          fprintf(stderr, "step %lld: field sums to %.17g, stored heat %.17g\n", (long long)step, sum, heat);
          errors++;
        }
        printf("step %lld time %.17g heat %.17g\n", (long long)step, t, heat);
        fflush(stdout);
      }
    }
    if (closed) break;
    if (now() - start > timeout) {
      fprintf(stderr, "heat3d_reader: timeout after %g s\n", timeout);
      errors++;
      break;
    }
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  printf("reader: %llu checkpoints, %d errors\n", (unsigned long long)seen, errors);
  free(field);
  if (dT != 0) {
    CHECK(pw_close(dT));
    CHECK(pw_close(dstep));
    CHECK(pw_close(dtime));
    CHECK(pw_close(dheat));
  }
  CHECK(pw_close(r));
  return errors == 0 && closed ? 0 : 1;
}
