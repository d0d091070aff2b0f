/*
 * pwstore.h - the C interface of pwstore, a parallel SWMR checkpoint store.
 *
 * This header is the stable interface of libpwstore (shared: libpwstore.so, static:
 * libpwstore.a). Build and link with
 *
 *     cc app.c $(pkg-config --cflags --libs pwstore)
 *
 * Conventions
 *  - Every object (a file opened for writing, a reader, a dataset) is an opaque handle
 *    (pw_handle, > 0). No pointer into the library ever reaches the caller.
 *  - Every function but pw_config_init and pw_errmsg returns a status: PW_OK (0) or a
 *    negative PW_ERR_* code. On failure pw_errmsg() returns the text of the error on the
 *    calling thread; outputs are left unchanged. The text stays until the thread's next
 *    failing call (a successful call does not clear it).
 *  - Handles are never reused. A handle that was closed gets PW_ERR_BAD_HANDLE (the message
 *    says it was closed), like a number that never was a handle or a handle of the wrong
 *    kind. A dataset handle whose file or reader was closed still exists: its calls return
 *    PW_ERR_CLOSED until it is closed itself.
 *  - Arrays are row-major (C order), elements little-endian; start/count/shape arrays have
 *    one entry per dimension (1 to 8 dimensions; PW_MAX_DIMS).
 *  - Functions returning a string into (buf, buflen) write it NUL-terminated; when buflen is
 *    too small they write nothing and return PW_ERR_ARG, with the needed length (bytes
 *    including the NUL) in the message: "buffer of N bytes too small: need M".
 *  - All functions may be called from several threads. Collective calls (marked below) must
 *    be made by every rank of the job, in the same order, with the same arguments.
 *  - Queued calls. pw_dataset_append, pw_dataset_extend and pw_dataset_write of a box of at
 *    most 4 KiB check every argument at the call and return its error there (handle, NULL
 *    pointers, buflen, a box outside the shape, rows past the max shape, shrinking), the
 *    shape being what the calls made before leave it. Then, instead of entering the library's
 *    runtime (a crossing that costs about as much as the append itself), they copy the call
 *    into a queue of the dataset's file and return; buf may be reused at once. The queue is
 *    executed, in the order of the calls (of all threads), before any other call on the file
 *    or one of its datasets, so no call observes the file without them; by the writer's timer
 *    before it ends a tick (a serial writer with automatic ticks publishes them on time with
 *    no further call); and by the call that fills it past 1 MiB. Bigger data goes through at
 *    once, after the queue.
 *    What only executing can find - an I/O error, a failed or diverged writer - is returned
 *    by the next call that executes the queue, which then does not do its own work (but
 *    pw_close still closes), with the queued call named: "append I of N queued on file F
 *    (dataset handle D, R rows): ...; the M queued after it were dropped". The calls after
 *    it are dropped; the ones before it were made. Nothing a caller could act on at the call
 *    is lost: on a SWMR writer those errors are late anyway, since the data reaches the
 *    files at the end of the tick (a parallel writer's at its sync points), long after the
 *    call that wrote it returned.
 */
#ifndef PWSTORE_H
#define PWSTORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PW_VERSION_MAJOR 0
#define PW_VERSION_MINOR 1
#define PW_VERSION_PATCH 0

typedef int64_t pw_handle; /* > 0 valid */

/* Element types of datasets. */
enum { PW_INT8 = 1, PW_INT16, PW_INT32, PW_INT64, PW_UINT8, PW_UINT16, PW_UINT32,
       PW_UINT64, PW_FLOAT32, PW_FLOAT64 };

/* Status codes. */
enum {
  PW_OK = 0,
  PW_ERR_ARG = -1,           /* a bad argument: NULL pointer, bad type, ndims, short buffer */
  PW_ERR_CONFIG = -2,        /* a bad pw_config, or a rank environment that does not add up */
  PW_ERR_NOT_FOUND = -3,     /* no such file, dataset or attribute */
  PW_ERR_EXISTS = -4,        /* the file or the dataset path exists already */
  PW_ERR_CORRUPT = -5,       /* bad bytes: not a pwstore file, or a damaged one */
  PW_ERR_IO = -6,            /* any other failure (the operating system's, ...) */
  PW_ERR_LAGGING = -7,       /* the reader fell behind what the writer keeps (max_lag ticks and its lag window) */
  PW_ERR_WRITER_GONE = -8,   /* the writer's heartbeat stopped */
  PW_ERR_TIMEOUT = -9,       /* a collective call timed out (a rank died or drifted) */
  PW_ERR_DIVERGED = -10,     /* the ranks made different collective calls */
  PW_ERR_CLOSED = -11,       /* the file or reader behind the handle was closed */
  PW_ERR_BAD_HANDLE = -12,   /* not a handle, a closed one, or one of the wrong kind */
  PW_ERR_NOT_READY = -13,    /* the file exists, but its writer published no first tick in time */
  PW_ERR_WRITER_ALIVE = -14  /* pw_recover: the writer is still publishing */
};

#define PW_UNLIMITED UINT64_MAX /* a first dimension of a max shape that grows without bound */
#define PW_MAX_DIMS 8
#define PW_CONFIG_VERSION 1

/* Attribute kinds of pw_attr_get. */
enum { PW_ATTR_INT = 1, PW_ATTR_UINT, PW_ATTR_FLOAT, PW_ATTR_STR };

/*
 * Configuration of a writer, reader or recovery. Always start from pw_config_init; a NULL
 * config means the defaults. Zero fields take their defaults.
 *
 * Ranks: size 0 takes rank, size and job from the environment: PW_RANK/PW_SIZE/PW_JOB (the
 * pwstore launcher), else SLURM_PROCID/SLURM_NTASKS/SLURM_JOB_ID.SLURM_STEP_ID (srun), else
 * OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE and PMIX_NAMESPACE (mpirun), else one rank.
 * size 1 is a serial writer or reader; size > 1 with rank in 0..size-1 (e.g. from
 * MPI_Comm_rank/MPI_Comm_size) makes the call one rank of a parallel writer or collective
 * reader: the ranks meet through the NATS server nats_url (NULL: $PW_NATS_URL, token
 * $PW_NATS_TOKEN). The job id (NULL: from the environment, $PW_JOB first) tells concurrent
 * jobs on one server apart: letters, digits, '-' and '_'.
 *
 * Lock: every writer process holds a shared flock on the data file, and pw_recover refuses a
 * file a process still holds (a stopped writer). PW_USE_FILE_LOCKING=FALSE in the
 * environment turns that off, for file systems whose locks misbehave (as
 * HDF5_USE_FILE_LOCKING does for HDF5); another value than TRUE, FALSE, 1 or 0 makes every
 * call that takes a pw_config fail with PW_ERR_CONFIG.
 */
typedef struct pw_config {
  int version;            /* PW_CONFIG_VERSION, set by pw_config_init */
  double tick_seconds;    /* 0: default (0.1) */
  int max_lag;            /* 0: default (10) */
  int page_size;          /* 0: default (4096) */
  int durable, manual_ticks, keep_md;
  int rank, size;         /* size 0: from the environment (PW_*, SLURM_*, OMPI_*); 1: serial */
  const char *job;        /* NULL: from the environment */
  const char *nats_url;   /* NULL: PW_NATS_URL */
  const char *log_file;   /* NULL: no log; "%r" is replaced by the rank */
  double coll_timeout_seconds, open_wait_seconds, writer_gone_seconds; /* 0: defaults */
} pw_config;

/* The prototypes below are left out when the library itself includes this header for the
 * types (its Go side declares the same functions without const). */
#ifndef PWSTORE_NO_PROTOTYPES

/* Fills *c with the defaults (all zero, version PW_CONFIG_VERSION). */
void pw_config_init(pw_config *c);

/* The text of the last error of the calling thread ("" if none); never NULL. Valid until the
 * thread's next failing call. */
const char *pw_errmsg(void);

/* The library's version. */
int pw_version(int *major, int *minor, int *patch);

/* Starts an embedded NATS server in this process, listening on listen ("host:port"; NULL or
 * "" = 127.0.0.1 on a free port), and writes its client URL to url. It runs until the process
 * exits. For a one-node mpirun without a NATS server: rank 0 calls it and MPI_Bcast's the URL,
 * which every rank puts into pw_config.nats_url. */
int pw_nats_serve(const char *listen, char *url, size_t urllen);

/* --- Writing --------------------------------------------------------------------------- */

/* Creates the data file path (and its metadata file path.md) and opens it for writing.
 * PW_ERR_EXISTS if either exists. Collective. */
int pw_create(const char *path, const pw_config *c, pw_handle *file);

/* Opens an existing, cleanly closed or recovered file to append. Collective. */
int pw_open(const char *path, const pw_config *c, pw_handle *file);

/* Creates a dataset: ndims dimensions (1..8), element type PW_INT8..PW_FLOAT64, initial shape;
 * maxshape NULL = shape (fixed), maxshape[0] may be PW_UNLIMITED; chunk NULL = one chunk of
 * maxshape (required with an unlimited dimension). Collective. */
int pw_dataset_create(pw_handle file, const char *name, int type, int ndims,
                      const uint64_t *shape, const uint64_t *maxshape, const uint64_t *chunk,
                      pw_handle *ds);

/* Opens a dataset of a file (writer) or of a reader. A reader's dataset handle keeps the
 * reader and the name: every call on it resolves the dataset in the reader's snapshot of the
 * moment, so after pw_reader_tick it reports the new shape and data. */
int pw_dataset_open(pw_handle file_or_reader, const char *name, pw_handle *ds);

/* Sets the first dimension to n0 (never shrinks: PW_ERR_ARG below the current one, or past
 * the max shape). Collective. Queued (see Conventions). */
int pw_dataset_extend(pw_handle ds, uint64_t n0);

/* Writes the box (start, count) from buf, which holds at least the box's bytes (buflen); the
 * box must lie in the shape. Independent: each rank writes the elements it owns. Queued when
 * the box has at most 4 KiB (see Conventions). */
int pw_dataset_write(pw_handle ds, const uint64_t *start, const uint64_t *count,
                     const void *buf, size_t buflen);

/* Appends n rows: extends the first dimension from its current n0 to n0 + n (collective, as
 * pw_dataset_extend) and writes the rows n0 .. n0+n-1, whole in the other dimensions, from buf
 * (buflen >= their bytes), as pw_dataset_write would. buf NULL: extend only (a rank of a job
 * that owns none of the new rows). On a bad argument (rows past the max shape included)
 * nothing is extended. Queued when the rows have at most 4 KiB (see Conventions). */
int pw_dataset_append(pw_handle ds, uint64_t n, const void *buf, size_t buflen);

/* Deferred append (as ADIOS2's deferred Put): pw_dataset_append(ds, n, buf, buflen), queued
 * in the same queue (see Conventions) whatever the size of the rows. buf is copied: it may be
 * reused as soon as the call returns. buf NULL: extend only, as for pw_dataset_append.
 *  - At once it checks: ds must be an open dataset of an open writer file (PW_ERR_BAD_HANDLE,
 *    PW_ERR_CLOSED) and buflen must hold n rows (PW_ERR_ARG).
 *  - Rows past the max shape are found when the queue executes, as the errors of Conventions
 *    (pw_errmsg: "deferred append I of N queued on file F (dataset handle D, R rows): ...";
 *    the calls queued after it, immediate ones included, are dropped).
 *  - Parallel writers: collective, as pw_dataset_append: every rank queues the same appends,
 *    in the same order; executed before the next collective call, they reach it in the
 *    order of the calls. */
int pw_dataset_append_deferred(pw_handle ds, uint64_t n, const void *buf, size_t buflen);

/* Executes the calls queued on file (pw_dataset_append_deferred, and the queued immediate
 * calls); PW_OK at once when there are none. Not collective by itself: on a parallel writer,
 * the calls it executes are, as they would be at any other call. */
int pw_perform_appends(pw_handle file);

/* Reads the box (start, count) into buf (buflen >= the box's bytes). On a writer's dataset it
 * reads what the writer wrote; on a reader's, the reader's adopted snapshot. */
int pw_dataset_read(pw_handle ds, const uint64_t *start, const uint64_t *count,
                    void *buf, size_t buflen);

/* The element type, the number of dimensions and the current shape (ndims entries filled).
 * Any output pointer may be NULL. */
int pw_dataset_info(pw_handle ds, int *type, int *ndims, uint64_t shape[8]);
/* The max shape (PW_UNLIMITED for an unlimited dimension) and the chunk shape. */
int pw_dataset_maxshape(pw_handle ds, uint64_t maxshape[8]);
int pw_dataset_chunk(pw_handle ds, uint64_t chunk[8]);

/* Attributes of a dataset (scalars and text). Setting is collective. */
int pw_attr_set_f64(pw_handle ds, const char *key, double v);
int pw_attr_set_i64(pw_handle ds, const char *key, int64_t v);
int pw_attr_set_u64(pw_handle ds, const char *key, uint64_t v);
int pw_attr_set_str(pw_handle ds, const char *key, const char *v);

/* Reads attribute key: *kind says which output holds it (i, u, f, or the text in s, slen
 * bytes with the NUL). Outputs not of that kind are untouched; any may be NULL, but s must
 * not be NULL when the attribute is text. PW_ERR_NOT_FOUND if there is no such attribute,
 * PW_ERR_ARG if it is not a scalar of these kinds. */
int pw_attr_get(pw_handle ds, const char *key, int *kind, int64_t *i, uint64_t *u, double *f,
                char *s, size_t slen);
/* How many attributes a dataset (a writer's or a reader's) has, and the name of the i-th (sorted
 * by name). */
int pw_attr_count(pw_handle ds, size_t *n);
int pw_attr_name(pw_handle ds, size_t i, char *buf, size_t buflen);

/* Marks the end of an application step (a step is complete): readers see it within about a
 * tick. Collective. */
int pw_sync(pw_handle file);
/* Ends the tick now: the changes so far become visible to readers. Collective. */
int pw_end_tick(pw_handle file);
/* Ends ticks until every metadata page is in the data file, then syncs it. Collective. */
int pw_flush(pw_handle file);

/* --- Reading --------------------------------------------------------------------------- */

/* Opens path for reading while its writer runs (or after it closed), waiting up to
 * open_wait_seconds for it to appear (PW_ERR_NOT_FOUND if it never does, PW_ERR_NOT_READY if
 * it exists but its writer published nothing yet). Collective over the reader's ranks. */
int pw_reader_open(const char *path, const pw_config *c, pw_handle *reader);

/* Adopts the newest snapshot the writer published and returns its tick. Collective.
 * PW_ERR_WRITER_GONE when the writer's heartbeat stopped, PW_ERR_LAGGING when the reader
 * fell too far behind. */
int pw_reader_tick(pw_handle reader, uint64_t *tick);

/* 1 in *closed when the adopted snapshot is the writer's last (it closed cleanly), else 0. */
int pw_reader_writer_closed(pw_handle reader, int *closed);

/* How many datasets the snapshot (reader) or the file (writer) has, and the path of the
 * i-th, sorted by path. */
int pw_dataset_count(pw_handle reader, size_t *n);
int pw_dataset_name(pw_handle reader, size_t i, char *buf, size_t buflen);

/* --- Recovery and closing ---------------------------------------------------------------- */

/* Brings a file whose writer died to its last completed tick (written to *tick, may be NULL).
 * Waits until the writer's heartbeat is writer_gone_seconds old (PW_ERR_WRITER_ALIVE if it
 * moves), and refuses (PW_ERR_WRITER_ALIVE) while a writer process, even a stopped one, still
 * holds the data file's lock. Not collective: call it on one process (e.g. rank 0), then
 * pw_open on all. */
int pw_recover(const char *path, const pw_config *c, uint64_t *tick);

/* Closes a file (publishes the last tick, collective), a reader (collective) or a dataset
 * handle. */
int pw_close(pw_handle h);

#endif /* PWSTORE_NO_PROTOTYPES */

#ifdef __cplusplus
}
#endif
#endif /* PWSTORE_H */
