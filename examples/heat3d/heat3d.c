/* heat3d - 3-D heat diffusion with MPI that checkpoints through libpwstore.
 *
 *   mpirun -np 4 heat3d [options] FILE
 *   srun -n 4 heat3d [options] FILE
 *
 *   --n N          global grid N x N x N (default 24)
 *   --steps S      run until step S (default 100)
 *   --every K      checkpoint every K steps (default 10), and at step 0
 *   --delay-ms D   sleep D ms after every step (a slower run, for readers to follow)
 *   --restart      continue FILE from its last checkpoint (recovering it first if its writer died)
 *
 * The domain is split over a Cartesian grid of ranks (MPI_Dims_create, MPI_Cart_create); each
 * step exchanges one-cell halos with the six neighbours and applies the explicit 7-point stencil
 * u' = u + alpha (sum of neighbours - 6 u), with u = 0 outside the domain. A checkpoint appends
 * the temperature to /T (n, N, N, N) float64, each rank writing its own block, and the step,
 * simulated time and total heat to /step, /time and /heat; attribute "checkpoints" of /T counts
 * the complete ones; then pw_sync. Rank 0 prints one line per checkpoint:
 *   step S time T heat H        (H with %.17g: the value stored in /heat)
 * The total heat is summed in a fixed order (each rank its block, then rank 0 the ranks' sums in
 * rank order), so a run and its restart agree bit for bit.
 *
 * Ranks and NATS: rank and size come from MPI, the job id is made by rank 0 and broadcast, and
 * the NATS server is $PW_NATS_URL or, if unset, one that rank 0 starts (pw_nats_serve) and whose
 * URL it broadcasts.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pwstore.h>

static int rank;

#define CHECK(call)                                                                        \
  do {                                                                                   \
    int rc_ = (call);                                                                    \
    if (rc_ != PW_OK) {                                                                  \
      fprintf(stderr, "heat3d rank %d: %s: error %d: %s\n", rank, #call, rc_, pw_errmsg()); \
      MPI_Abort(MPI_COMM_WORLD, 1);                                                      \
    }                                                                                    \
  } while (0)

static const double alpha = 0.1, dt = 0.001;

/* the block of a dimension of n cells over p ranks that coordinate c owns */
static void block(int n, int p, int c, int *lo, int *len) {
  *lo = (int)((long)c * n / p);
  *len = (int)((long)(c + 1) * n / p) - *lo;
}

int main(int argc, char **argv) {
  int n = 24, steps = 100, every = 10, delay = 0, restart = 0;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) n = atoi(argv[++i]);
    else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--every") == 0 && i + 1 < argc) every = atoi(argv[++i]);
    else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc) delay = atoi(argv[++i]);
    else if (strcmp(argv[i], "--restart") == 0) restart = 1;
    else if (argv[i][0] != '-' && path == NULL) path = argv[i];
    else {
      fprintf(stderr, "usage: heat3d [--n N] [--steps S] [--every K] [--delay-ms D] [--restart] FILE\n");
      return 2;
    }
  }
  if (path == NULL || n < 2 || steps < 0 || every < 1) {
    fprintf(stderr, "usage: heat3d [--n N] [--steps S] [--every K] [--delay-ms D] [--restart] FILE\n");
    return 2;
  }

  MPI_Init(&argc, &argv);
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int dims[3] = {0, 0, 0}, periods[3] = {0, 0, 0}, coords[3];
  MPI_Dims_create(size, 3, dims);
  MPI_Comm cart;
  MPI_Cart_create(MPI_COMM_WORLD, 3, dims, periods, 0, &cart);
  MPI_Comm_rank(cart, &rank);
  MPI_Cart_coords(cart, rank, 3, coords);
  int lo[3], len[3];
  for (int d = 0; d < 3; d++) block(n, dims[d], coords[d], &lo[d], &len[d]);
  if (len[0] < 1 || len[1] < 1 || len[2] < 1) {
    if (rank == 0) fprintf(stderr, "heat3d: grid %d too small for %d ranks\n", n, size);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }

  /* job id and NATS server: rank 0 decides, everyone gets them */
  char job[64] = "", url[256] = "";
  if (rank == 0) {
    snprintf(job, sizeof job, "heat3d-%ld-%ld", (long)getpid(), (long)time(NULL));
    const char *env = getenv("PW_NATS_URL");
    if (env != NULL && env[0] != 0) snprintf(url, sizeof url, "%s", env);
    else if (size > 1) CHECK(pw_nats_serve(NULL, url, sizeof url));
  }
  MPI_Bcast(job, sizeof job, MPI_CHAR, 0, cart);
  MPI_Bcast(url, sizeof url, MPI_CHAR, 0, cart);

  pw_config cfg;
  pw_config_init(&cfg);
  cfg.rank = rank;
  cfg.size = size;
  cfg.job = job;
  cfg.nats_url = url[0] ? url : NULL;
  cfg.tick_seconds = 0.05;
  cfg.writer_gone_seconds = 1.0;

  /* local field with a one-cell halo: index (i, j, k), i slowest */
  const int sx = len[0] + 2, sy = len[1] + 2, sz = len[2] + 2;
#define IX(i, j, k) (((size_t)(i) * sy + (size_t)(j)) * sz + (size_t)(k))
  double *u = calloc((size_t)sx * sy * sz, sizeof(double));
  double *un = calloc((size_t)sx * sy * sz, sizeof(double));
  double *blk = malloc(sizeof(double) * (size_t)len[0] * len[1] * len[2]);
  size_t face = (size_t)(sx > sy ? sx : sy) * (size_t)(sy > sz ? sy : sz) * (size_t)(sx > sz ? sx : sz);
  double *sendb = malloc(sizeof(double) * face), *recvb = malloc(sizeof(double) * face);

  pw_handle file, dT, dstep, dtime, dheat;
  uint64_t nckpt = 0;
  int step0 = 0;
  uint64_t N = (uint64_t)n;
  if (!restart) {
    CHECK(pw_create(path, &cfg, &file));
    uint64_t shape[4] = {0, N, N, N}, maxs[4] = {PW_UNLIMITED, N, N, N}, chunk[4] = {1, N, N, N};
    CHECK(pw_dataset_create(file, "/T", PW_FLOAT64, 4, shape, maxs, chunk, &dT));
    uint64_t s1 = 0, m1 = PW_UNLIMITED, c1 = 64;
    CHECK(pw_dataset_create(file, "/step", PW_INT64, 1, &s1, &m1, &c1, &dstep));
    CHECK(pw_dataset_create(file, "/time", PW_FLOAT64, 1, &s1, &m1, &c1, &dtime));
    CHECK(pw_dataset_create(file, "/heat", PW_FLOAT64, 1, &s1, &m1, &c1, &dheat));
    CHECK(pw_attr_set_i64(dT, "checkpoints", 0));
    CHECK(pw_attr_set_f64(dT, "alpha", alpha));
    CHECK(pw_attr_set_f64(dT, "dt", dt));
    CHECK(pw_attr_set_str(dT, "units", "kelvin"));
    /* dimension names, first dimension first (xarray's engine="pwstore" uses them) */
    CHECK(pw_attr_set_str(dT, "dims", "checkpoint,x,y,z"));
    CHECK(pw_attr_set_str(dstep, "dims", "checkpoint"));
    CHECK(pw_attr_set_str(dtime, "dims", "checkpoint"));
    CHECK(pw_attr_set_str(dheat, "dims", "checkpoint"));
    /* initial temperature: a product of sines, zero at the boundary */
    for (int i = 1; i <= len[0]; i++)
      for (int j = 1; j <= len[1]; j++)
        for (int k = 1; k <= len[2]; k++) {
          double x = (lo[0] + i) / (double)(n + 1), y = (lo[1] + j) / (double)(n + 1), z = (lo[2] + k) / (double)(n + 1);
          u[IX(i, j, k)] = 100.0 * sin(M_PI * x) * sin(M_PI * y) * sin(M_PI * z) * (1.0 + x);
        }
  } else {
    if (rank == 0) {
      uint64_t tick;
      CHECK(pw_recover(path, &cfg, &tick));
      printf("recovered %s to tick %llu\n", path, (unsigned long long)tick);
    }
    MPI_Barrier(cart);
    CHECK(pw_open(path, &cfg, &file));
    CHECK(pw_dataset_open(file, "/T", &dT));
    CHECK(pw_dataset_open(file, "/step", &dstep));
    CHECK(pw_dataset_open(file, "/time", &dtime));
    CHECK(pw_dataset_open(file, "/heat", &dheat));
    int kind;
    int64_t c;
    CHECK(pw_attr_get(dT, "checkpoints", &kind, &c, NULL, NULL, NULL, 0));
    if (c < 1) {
      if (rank == 0) fprintf(stderr, "heat3d: %s has no complete checkpoint\n", path);
      MPI_Abort(cart, 2);
    }
    nckpt = (uint64_t)c;
    uint64_t last = nckpt - 1, one = 1;
    int64_t s;
    CHECK(pw_dataset_read(dstep, &last, &one, &s, sizeof s));
    step0 = (int)s;
    uint64_t st[4] = {last, (uint64_t)lo[0], (uint64_t)lo[1], (uint64_t)lo[2]};
    uint64_t cnt[4] = {1, (uint64_t)len[0], (uint64_t)len[1], (uint64_t)len[2]};
    CHECK(pw_dataset_read(dT, st, cnt, blk, sizeof(double) * (size_t)len[0] * len[1] * len[2]));
    for (int i = 0; i < len[0]; i++)
      for (int j = 0; j < len[1]; j++)
        for (int k = 0; k < len[2]; k++) u[IX(i + 1, j + 1, k + 1)] = blk[((size_t)i * len[1] + j) * len[2] + k];
    if (rank == 0) printf("restart from step %d (checkpoint %llu)\n", step0, (unsigned long long)nckpt);
  }
  if (rank == 0) {
    printf("heat3d: grid %d^3 on %d ranks (%d x %d x %d), %d steps, checkpoint every %d\n", n, size, dims[0], dims[1],
           dims[2], steps, every);
    fflush(stdout);
  }

  int nb[3][2];
  for (int d = 0; d < 3; d++) MPI_Cart_shift(cart, d, 1, &nb[d][0], &nb[d][1]);

  for (int step = step0;; step++) {
    if (step % every == 0 && !(restart && step == step0)) {
      /* checkpoint */
      double local = 0, heat = 0;
      for (int i = 1; i <= len[0]; i++)
        for (int j = 1; j <= len[1]; j++)
          for (int k = 1; k <= len[2]; k++) {
            double v = u[IX(i, j, k)];
            blk[((size_t)(i - 1) * len[1] + (j - 1)) * len[2] + (k - 1)] = v;
            local += v;
          }
      double *sums = rank == 0 ? malloc(sizeof(double) * (size_t)size) : NULL;
      MPI_Gather(&local, 1, MPI_DOUBLE, sums, 1, MPI_DOUBLE, 0, cart);
      if (rank == 0) {
        for (int r = 0; r < size; r++) heat += sums[r];
        free(sums);
      }
      uint64_t idx = nckpt;
      CHECK(pw_dataset_extend(dT, idx + 1));
      CHECK(pw_dataset_extend(dstep, idx + 1));
      CHECK(pw_dataset_extend(dtime, idx + 1));
      CHECK(pw_dataset_extend(dheat, idx + 1));
      uint64_t st[4] = {idx, (uint64_t)lo[0], (uint64_t)lo[1], (uint64_t)lo[2]};
      uint64_t cnt[4] = {1, (uint64_t)len[0], (uint64_t)len[1], (uint64_t)len[2]};
      CHECK(pw_dataset_write(dT, st, cnt, blk, sizeof(double) * (size_t)len[0] * len[1] * len[2]));
      double t = step * dt;
      if (rank == 0) {
        int64_t s = step;
        uint64_t one = 1;
        CHECK(pw_dataset_write(dstep, &idx, &one, &s, sizeof s));
        CHECK(pw_dataset_write(dtime, &idx, &one, &t, sizeof t));
        CHECK(pw_dataset_write(dheat, &idx, &one, &heat, sizeof heat));
      }
      nckpt = idx + 1;
      CHECK(pw_attr_set_i64(dT, "checkpoints", (int64_t)nckpt));
      CHECK(pw_sync(file));
      if (rank == 0) {
        printf("step %d time %.17g heat %.17g\n", step, t, heat);
        fflush(stdout);
      }
    }
    if (step >= steps) break;

    /* halo exchange, one dimension at a time */
    for (int d = 0; d < 3; d++) {
      int e1 = d == 0 ? 1 : 0, e2 = d == 2 ? 1 : 2; /* the two other dimensions */
      int n1 = len[e1], n2 = len[e2];
      for (int dir = 0; dir < 2; dir++) {
        /* send my face on side dir, receive the neighbour's into the halo on the other side */
        int src = nb[d][1 - dir], dst = nb[d][dir];
        int inner = dir == 0 ? 1 : len[d], halo = dir == 0 ? len[d] + 1 : 0;
        size_t m = 0;
        for (int a = 1; a <= n1; a++)
          for (int b = 1; b <= n2; b++) {
            int c[3];
            c[d] = inner;
            c[e1] = a;
            c[e2] = b;
            sendb[m++] = u[IX(c[0], c[1], c[2])];
          }
        MPI_Sendrecv(sendb, (int)m, MPI_DOUBLE, dst, d * 2 + dir, recvb, (int)m, MPI_DOUBLE, src, d * 2 + dir, cart,
                     MPI_STATUS_IGNORE);
        if (src != MPI_PROC_NULL) {
          m = 0;
          for (int a = 1; a <= n1; a++)
            for (int b = 1; b <= n2; b++) {
              int c[3];
              c[d] = halo;
              c[e1] = a;
              c[e2] = b;
              u[IX(c[0], c[1], c[2])] = recvb[m++];
            }
        }
      }
    }
    for (int i = 1; i <= len[0]; i++)
      for (int j = 1; j <= len[1]; j++)
        for (int k = 1; k <= len[2]; k++) {
          double c = u[IX(i, j, k)];
          double s = u[IX(i - 1, j, k)] + u[IX(i + 1, j, k)] + u[IX(i, j - 1, k)] + u[IX(i, j + 1, k)] +
                     u[IX(i, j, k - 1)] + u[IX(i, j, k + 1)];
          un[IX(i, j, k)] = c + alpha * (s - 6.0 * c);
        }
    double *tmp = u;
    u = un;
    un = tmp;
    if (delay > 0) {
      struct timespec ts = {delay / 1000, (delay % 1000) * 1000000L};
      nanosleep(&ts, NULL);
    }
  }

  CHECK(pw_close(dT));
  CHECK(pw_close(dstep));
  CHECK(pw_close(dtime));
  CHECK(pw_close(dheat));
  CHECK(pw_close(file));
  if (rank == 0) printf("done: %llu checkpoints\n", (unsigned long long)nckpt);
  free(u);
  free(un);
  free(blk);
  free(sendb);
  free(recvb);
  MPI_Comm_free(&cart);
  MPI_Finalize();
  return 0;
}
