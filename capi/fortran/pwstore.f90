! pwstore.f90 - Fortran module pwstore: the C interface of libpwstore (pwstore.h) for Fortran.
!
!   gfortran app.f90 $(pkg-config --cflags --libs pwstore-fortran)
!
! Every function returns the status of the C call (PW_OK = 0, or a negative PW_ERR_* code);
! pwf_errmsg() returns the text of the calling thread's last error.
!
! Dimensions. A pwstore dataset is row-major (C order): its last dimension varies fastest.
! A Fortran array varies fastest along its first dimension. The wrappers therefore take and
! return shapes, offsets and counts in Fortran order and reverse them for C: a Fortran array
! a(nz, ny, nx) is the dataset of C shape (nx, ny, nz), element a(k, j, i) is the dataset's
! [i-1][j-1][k-1]. The first C dimension (the one that grows: pwf_dataset_extend) is the LAST
! Fortran dimension. Offsets (start) are zero-based, as in the file; counts default to the
! shape of the array passed, padded with 1s up to the dataset's rank.
module pwstore
  use iso_c_binding
  implicit none
  private :: c_str, f_str, put_dims, slab

  integer, parameter :: pw_handle_kind = c_int64_t

  integer(c_int), parameter :: PW_INT8 = 1, PW_INT16 = 2, PW_INT32 = 3, PW_INT64 = 4, &
    PW_UINT8 = 5, PW_UINT16 = 6, PW_UINT32 = 7, PW_UINT64 = 8, PW_FLOAT32 = 9, PW_FLOAT64 = 10
  integer(c_int), parameter :: PW_OK = 0, PW_ERR_ARG = -1, PW_ERR_CONFIG = -2, &
    PW_ERR_NOT_FOUND = -3, PW_ERR_EXISTS = -4, PW_ERR_CORRUPT = -5, PW_ERR_IO = -6, &
    PW_ERR_LAGGING = -7, PW_ERR_WRITER_GONE = -8, PW_ERR_TIMEOUT = -9, PW_ERR_DIVERGED = -10, &
    PW_ERR_CLOSED = -11, PW_ERR_BAD_HANDLE = -12, PW_ERR_NOT_READY = -13, PW_ERR_WRITER_ALIVE = -14
  integer(c_int), parameter :: PW_ATTR_INT = 1, PW_ATTR_UINT = 2, PW_ATTR_FLOAT = 3, PW_ATTR_STR = 4
  ! UINT64_MAX: an unlimited (last, in Fortran order) dimension of a max shape.
  integer(c_int64_t), parameter :: PW_UNLIMITED = -1_c_int64_t
  integer(c_int), parameter :: PW_CONFIG_VERSION = 1

  ! The C struct pw_config (pwstore.h), field for field.
  type, bind(C) :: pw_config
    integer(c_int) :: version = PW_CONFIG_VERSION
    real(c_double) :: tick_seconds = 0
    integer(c_int) :: max_lag = 0, page_size = 0
    integer(c_int) :: durable = 0, manual_ticks = 0, keep_md = 0
    integer(c_int) :: rank = 0, size = 0
    type(c_ptr) :: job = c_null_ptr, nats_url = c_null_ptr, log_file = c_null_ptr
    real(c_double) :: coll_timeout_seconds = 0, open_wait_seconds = 0, writer_gone_seconds = 0
  end type

  ! The configuration for Fortran: the same fields, with Fortran strings (unallocated: NULL,
  ! the environment's). Every field's default is the C default.
  type :: pwf_config
    real(c_double) :: tick_seconds = 0
    integer :: max_lag = 0, page_size = 0
    logical :: durable = .false., manual_ticks = .false., keep_md = .false.
    integer :: rank = 0, size = 0
    character(len=:), allocatable :: job, nats_url, log_file
    real(c_double) :: coll_timeout_seconds = 0, open_wait_seconds = 0, writer_gone_seconds = 0
  end type

  interface
    function pw_errmsg() bind(C, name="pw_errmsg")
      import :: c_ptr
      type(c_ptr) :: pw_errmsg
    end function
    function c_strlen(s) bind(C, name="strlen")
      import :: c_ptr, c_size_t
      type(c_ptr), value :: s
      integer(c_size_t) :: c_strlen
    end function
    function pw_nats_serve(listen, url, urllen) bind(C, name="pw_nats_serve")
      import :: c_char, c_size_t, c_int
      character(kind=c_char), intent(in) :: listen(*)
      character(kind=c_char), intent(out) :: url(*)
      integer(c_size_t), value :: urllen
      integer(c_int) :: pw_nats_serve
    end function
    function pw_create(path, c, file) bind(C, name="pw_create")
      import :: c_char, c_int, c_int64_t, pw_config
      character(kind=c_char), intent(in) :: path(*)
      type(pw_config), intent(in) :: c
      integer(c_int64_t), intent(out) :: file
      integer(c_int) :: pw_create
    end function
    function pw_open(path, c, file) bind(C, name="pw_open")
      import :: c_char, c_int, c_int64_t, pw_config
      character(kind=c_char), intent(in) :: path(*)
      type(pw_config), intent(in) :: c
      integer(c_int64_t), intent(out) :: file
      integer(c_int) :: pw_open
    end function
    function pw_reader_open(path, c, reader) bind(C, name="pw_reader_open")
      import :: c_char, c_int, c_int64_t, pw_config
      character(kind=c_char), intent(in) :: path(*)
      type(pw_config), intent(in) :: c
      integer(c_int64_t), intent(out) :: reader
      integer(c_int) :: pw_reader_open
    end function
    function pw_recover(path, c, tick) bind(C, name="pw_recover")
      import :: c_char, c_int, c_int64_t, pw_config
      character(kind=c_char), intent(in) :: path(*)
      type(pw_config), intent(in) :: c
      integer(c_int64_t), intent(out) :: tick
      integer(c_int) :: pw_recover
    end function
    function pw_dataset_create(file, name, type, ndims, shape, maxshape, chunk, ds) &
        bind(C, name="pw_dataset_create")
      import :: c_char, c_int, c_int64_t, c_ptr
      integer(c_int64_t), value :: file
      character(kind=c_char), intent(in) :: name(*)
      integer(c_int), value :: type, ndims
      integer(c_int64_t), intent(in) :: shape(*)
      type(c_ptr), value :: maxshape, chunk
      integer(c_int64_t), intent(out) :: ds
      integer(c_int) :: pw_dataset_create
    end function
    function pw_dataset_open(parent, name, ds) bind(C, name="pw_dataset_open")
      import :: c_char, c_int, c_int64_t
      integer(c_int64_t), value :: parent
      character(kind=c_char), intent(in) :: name(*)
      integer(c_int64_t), intent(out) :: ds
      integer(c_int) :: pw_dataset_open
    end function
    function pw_dataset_extend(ds, n0) bind(C, name="pw_dataset_extend")
      import :: c_int, c_int64_t
      integer(c_int64_t), value :: ds, n0
      integer(c_int) :: pw_dataset_extend
    end function
    function pw_dataset_write(ds, start, count, buf, buflen) bind(C, name="pw_dataset_write")
      import :: c_int, c_int64_t, c_ptr, c_size_t
      integer(c_int64_t), value :: ds
      integer(c_int64_t), intent(in) :: start(*), count(*)
      type(c_ptr), value :: buf
      integer(c_size_t), value :: buflen
      integer(c_int) :: pw_dataset_write
    end function
    function pw_dataset_append(ds, n, buf, buflen) bind(C, name="pw_dataset_append")
      import :: c_int, c_int64_t, c_ptr, c_size_t
      integer(c_int64_t), value :: ds, n
      type(c_ptr), value :: buf
      integer(c_size_t), value :: buflen
      integer(c_int) :: pw_dataset_append
    end function
    function pw_dataset_append_deferred(ds, n, buf, buflen) bind(C, name="pw_dataset_append_deferred")
      import :: c_int, c_int64_t, c_ptr, c_size_t
      integer(c_int64_t), value :: ds, n
      type(c_ptr), value :: buf
      integer(c_size_t), value :: buflen
      integer(c_int) :: pw_dataset_append_deferred
    end function
    function pw_perform_appends(file) bind(C, name="pw_perform_appends")
      import :: c_int, c_int64_t
      integer(c_int64_t), value :: file
      integer(c_int) :: pw_perform_appends
    end function
    function pw_dataset_read(ds, start, count, buf, buflen) bind(C, name="pw_dataset_read")
      import :: c_int, c_int64_t, c_ptr, c_size_t
      integer(c_int64_t), value :: ds
      integer(c_int64_t), intent(in) :: start(*), count(*)
      type(c_ptr), value :: buf
      integer(c_size_t), value :: buflen
      integer(c_int) :: pw_dataset_read
    end function
    function pw_dataset_info(ds, type, ndims, shape) bind(C, name="pw_dataset_info")
      import :: c_int, c_int64_t
      integer(c_int64_t), value :: ds
      integer(c_int), intent(out) :: type, ndims
      integer(c_int64_t), intent(out) :: shape(8)
      integer(c_int) :: pw_dataset_info
    end function
    function pw_attr_set_f64(ds, key, v) bind(C, name="pw_attr_set_f64")
      import :: c_int, c_int64_t, c_char, c_double
      integer(c_int64_t), value :: ds
      character(kind=c_char), intent(in) :: key(*)
      real(c_double), value :: v
      integer(c_int) :: pw_attr_set_f64
    end function
    function pw_attr_set_i64(ds, key, v) bind(C, name="pw_attr_set_i64")
      import :: c_int, c_int64_t, c_char
      integer(c_int64_t), value :: ds
      character(kind=c_char), intent(in) :: key(*)
      integer(c_int64_t), value :: v
      integer(c_int) :: pw_attr_set_i64
    end function
    function pw_attr_set_str(ds, key, v) bind(C, name="pw_attr_set_str")
      import :: c_int, c_int64_t, c_char
      integer(c_int64_t), value :: ds
      character(kind=c_char), intent(in) :: key(*), v(*)
      integer(c_int) :: pw_attr_set_str
    end function
    function pw_attr_get(ds, key, kind, i, u, f, s, slen) bind(C, name="pw_attr_get")
      import :: c_int, c_int64_t, c_char, c_double, c_size_t
      integer(c_int64_t), value :: ds
      character(kind=c_char), intent(in) :: key(*)
      integer(c_int), intent(out) :: kind
      integer(c_int64_t), intent(out) :: i, u
      real(c_double), intent(out) :: f
      character(kind=c_char), intent(out) :: s(*)
      integer(c_size_t), value :: slen
      integer(c_int) :: pw_attr_get
    end function
    function pw_sync(file) bind(C, name="pw_sync")
      import :: c_int, c_int64_t
      integer(c_int64_t), value :: file
      integer(c_int) :: pw_sync
    end function
    function pw_end_tick(file) bind(C, name="pw_end_tick")
      import :: c_int, c_int64_t
      integer(c_int64_t), value :: file
      integer(c_int) :: pw_end_tick
    end function
    function pw_flush(file) bind(C, name="pw_flush")
      import :: c_int, c_int64_t
      integer(c_int64_t), value :: file
      integer(c_int) :: pw_flush
    end function
    function pw_reader_tick(reader, tick) bind(C, name="pw_reader_tick")
      import :: c_int, c_int64_t
      integer(c_int64_t), value :: reader
      integer(c_int64_t), intent(out) :: tick
      integer(c_int) :: pw_reader_tick
    end function
    function pw_dataset_count(reader, n) bind(C, name="pw_dataset_count")
      import :: c_int, c_int64_t, c_size_t
      integer(c_int64_t), value :: reader
      integer(c_size_t), intent(out) :: n
      integer(c_int) :: pw_dataset_count
    end function
    function pw_dataset_name(reader, i, buf, buflen) bind(C, name="pw_dataset_name")
      import :: c_int, c_int64_t, c_size_t, c_char
      integer(c_int64_t), value :: reader
      integer(c_size_t), value :: i, buflen
      character(kind=c_char), intent(out) :: buf(*)
      integer(c_int) :: pw_dataset_name
    end function
    function pw_close(h) bind(C, name="pw_close")
      import :: c_int, c_int64_t
      integer(c_int64_t), value :: h
      integer(c_int) :: pw_close
    end function
  end interface

  ! Write or read a whole Fortran array (any rank) at a zero-based offset.
  interface pwf_dataset_write
    module procedure write_f64, write_f32, write_i32, write_i64
  end interface
  interface pwf_dataset_read
    module procedure read_f64, read_f32, read_i32, read_i64
  end interface
  ! Append n rows along the growing dimension (the last in Fortran order) from an array that
  ! holds them whole in the other dimensions: buf(nz, ny, n) for a dataset of Fortran shape
  ! (nz, ny, *). Without buf: extend by n only (a rank that owns none of the new rows).
  ! Collective, as pwf_dataset_extend; a buf too small for n rows is PW_ERR_ARG and extends
  ! nothing. Rows of up to 4 KiB are checked at the call, then queued (pwstore.h, "Queued
  ! calls"), as are pwf_dataset_extend and small pwf_dataset_write.
  interface pwf_dataset_append
    module procedure append_f64, append_f32, append_i32, append_i64, append_none
  end interface
  ! Deferred append (pw_dataset_append_deferred): as pwf_dataset_append, but the rows are
  ! copied into a queue of the file and written by pwf_perform_appends or the next other call
  ! on the file or its datasets (pwf_sync, pwf_close, ...), which returns their errors. buf may
  ! be changed as soon as it returns.
  interface pwf_dataset_append_deferred
    module procedure deferred_f64, deferred_f32, deferred_i32, deferred_i64, deferred_none
  end interface
  ! Set a scalar attribute: real(8), integer (stored as int64) or text.
  interface pwf_attr_set
    module procedure attr_set_f64, attr_set_i64, attr_set_i32, attr_set_str
  end interface

contains

  ! c_str: s without trailing blanks, NUL-terminated.
  function c_str(s) result(r)
    character(len=*), intent(in) :: s
    character(kind=c_char, len=:), allocatable :: r
    r = trim(s) // c_null_char
  end function

  ! f_str: the Fortran string of a NUL-terminated C buffer.
  function f_str(buf) result(r)
    character(kind=c_char), intent(in) :: buf(:)
    character(len=:), allocatable :: r
    integer :: i, n
    n = 0
    do i = 1, size(buf)
      if (buf(i) == c_null_char) exit
      n = i
    end do
    allocate(character(len=n) :: r)
    do i = 1, n
      r(i:i) = buf(i)
    end do
  end function

  ! The text of the calling thread's last error.
  function pwf_errmsg() result(r)
    character(len=:), allocatable :: r
    type(c_ptr) :: p
    character(kind=c_char), pointer :: chars(:)
    p = pw_errmsg()
    call c_f_pointer(p, chars, [c_strlen(p)])
    r = f_str([chars, c_null_char])
  end function

  ! Opening and recovery: cfg absent means the defaults (one rank unless the environment
  ! says otherwise).
  function pwf_create(path, file, cfg) result(ierr)
    character(len=*), intent(in) :: path
    integer(pw_handle_kind), intent(out) :: file
    type(pwf_config), intent(in), optional :: cfg
    integer :: ierr
    character(kind=c_char, len=:), allocatable, target :: job, url, log
    type(pw_config) :: c
    call to_c(cfg, c, job, url, log)
    ierr = pw_create(c_str(path), c, file)
  end function

  function pwf_open(path, file, cfg) result(ierr)
    character(len=*), intent(in) :: path
    integer(pw_handle_kind), intent(out) :: file
    type(pwf_config), intent(in), optional :: cfg
    integer :: ierr
    character(kind=c_char, len=:), allocatable, target :: job, url, log
    type(pw_config) :: c
    call to_c(cfg, c, job, url, log)
    ierr = pw_open(c_str(path), c, file)
  end function

  function pwf_reader_open(path, reader, cfg) result(ierr)
    character(len=*), intent(in) :: path
    integer(pw_handle_kind), intent(out) :: reader
    type(pwf_config), intent(in), optional :: cfg
    integer :: ierr
    character(kind=c_char, len=:), allocatable, target :: job, url, log
    type(pw_config) :: c
    call to_c(cfg, c, job, url, log)
    ierr = pw_reader_open(c_str(path), c, reader)
  end function

  function pwf_recover(path, tick, cfg) result(ierr)
    character(len=*), intent(in) :: path
    integer(c_int64_t), intent(out) :: tick
    type(pwf_config), intent(in), optional :: cfg
    integer :: ierr
    character(kind=c_char, len=:), allocatable, target :: job, url, log
    type(pw_config) :: c
    call to_c(cfg, c, job, url, log)
    ierr = pw_recover(c_str(path), c, tick)
  end function

  ! to_c fills the C config c from cfg; job, url and log hold its strings.
  subroutine to_c(cfg, c, job, url, log)
    type(pwf_config), intent(in), optional :: cfg
    type(pw_config), intent(out) :: c
    character(kind=c_char, len=:), allocatable, target, intent(inout) :: job, url, log
    if (.not. present(cfg)) return
    c%tick_seconds = cfg%tick_seconds
    c%max_lag = cfg%max_lag
    c%page_size = cfg%page_size
    c%durable = merge(1, 0, cfg%durable)
    c%manual_ticks = merge(1, 0, cfg%manual_ticks)
    c%keep_md = merge(1, 0, cfg%keep_md)
    c%rank = cfg%rank
    c%size = cfg%size
    c%coll_timeout_seconds = cfg%coll_timeout_seconds
    c%open_wait_seconds = cfg%open_wait_seconds
    c%writer_gone_seconds = cfg%writer_gone_seconds
    if (allocated(cfg%job)) then
      job = c_str(cfg%job)
      c%job = c_loc(job)
    end if
    if (allocated(cfg%nats_url)) then
      url = c_str(cfg%nats_url)
      c%nats_url = c_loc(url)
    end if
    if (allocated(cfg%log_file)) then
      log = c_str(cfg%log_file)
      c%log_file = c_loc(log)
    end if
  end subroutine

  ! Starts an embedded NATS server (listen: "host:port", absent: 127.0.0.1 on a free port).
  function pwf_nats_serve(url, listen) result(ierr)
    character(len=:), allocatable, intent(out) :: url
    character(len=*), intent(in), optional :: listen
    integer :: ierr
    character(kind=c_char) :: buf(1024)
    if (present(listen)) then
      ierr = pw_nats_serve(c_str(listen), buf, size(buf, kind=c_size_t))
    else
      ierr = pw_nats_serve(c_str(''), buf, size(buf, kind=c_size_t))
    end if
    url = ''
    if (ierr == PW_OK) url = f_str(buf)
  end function

  ! put_dims: the C (reversed) order of Fortran-order dims.
  function put_dims(d) result(r)
    integer(c_int64_t), intent(in) :: d(:)
    integer(c_int64_t) :: r(size(d))
    r = d(size(d):1:-1)
  end function

  ! Creates a dataset; shape, maxshape and chunk in Fortran order (the last dimension may be
  ! PW_UNLIMITED in maxshape).
  function pwf_dataset_create(file, name, type, shape, ds, maxshape, chunk) result(ierr)
    integer(pw_handle_kind), intent(in) :: file
    character(len=*), intent(in) :: name
    integer(c_int), intent(in) :: type
    integer(c_int64_t), intent(in) :: shape(:)
    integer(pw_handle_kind), intent(out) :: ds
    integer(c_int64_t), intent(in), optional :: maxshape(:), chunk(:)
    integer :: ierr
    integer(c_int64_t), target :: cmax(size(shape)), cchunk(size(shape))
    type(c_ptr) :: pmax, pchunk
    pmax = c_null_ptr
    pchunk = c_null_ptr
    if (present(maxshape)) then
      if (size(maxshape) /= size(shape)) then
        ierr = PW_ERR_ARG
        return
      end if
      cmax = put_dims(maxshape)
      pmax = c_loc(cmax)
    end if
    if (present(chunk)) then
      if (size(chunk) /= size(shape)) then
        ierr = PW_ERR_ARG
        return
      end if
      cchunk = put_dims(chunk)
      pchunk = c_loc(cchunk)
    end if
    ierr = pw_dataset_create(file, c_str(name), type, int(size(shape), c_int), put_dims(shape), &
      pmax, pchunk, ds)
  end function

  function pwf_dataset_open(parent, name, ds) result(ierr)
    integer(pw_handle_kind), intent(in) :: parent
    character(len=*), intent(in) :: name
    integer(pw_handle_kind), intent(out) :: ds
    integer :: ierr
    ierr = pw_dataset_open(parent, c_str(name), ds)
  end function

  ! Extends the growing dimension (the last in Fortran order) to n.
  function pwf_dataset_extend(ds, n) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: n
    integer :: ierr
    ierr = pw_dataset_extend(ds, n)
  end function

  ! The element type, rank and current shape (Fortran order, shape(1:ndims)).
  function pwf_dataset_info(ds, type, ndims, shape) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int), intent(out) :: type, ndims
    integer(c_int64_t), intent(out) :: shape(8)
    integer :: ierr
    integer(c_int64_t) :: cshape(8)
    cshape = 0
    ierr = pw_dataset_info(ds, type, ndims, cshape)
    shape = 0
    if (ierr == PW_OK) shape(1:ndims) = cshape(ndims:1:-1)
  end function

  ! slab: the C start and count of a Fortran-order offset and array shape (count, if
  ! present, else ashape padded with 1s), for dataset ds. ierr /= 0 on a mismatch.
  subroutine slab(ds, offset, ashape, count, cstart, ccount, ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: offset(:)
    integer, intent(in) :: ashape(:)
    integer(c_int64_t), intent(in), optional :: count(:)
    integer(c_int64_t), allocatable, intent(out) :: cstart(:), ccount(:)
    integer, intent(out) :: ierr
    integer(c_int) :: t, nd
    integer(c_int64_t) :: sh(8), fcount(8)
    ierr = pw_dataset_info(ds, t, nd, sh)
    if (ierr /= PW_OK) return
    if (size(offset) /= nd .or. size(ashape) > nd) then
      ierr = PW_ERR_ARG
      return
    end if
    fcount = 1
    if (present(count)) then
      if (size(count) /= nd) then
        ierr = PW_ERR_ARG
        return
      end if
      fcount(1:nd) = count
    else
      fcount(1:size(ashape)) = ashape
    end if
    cstart = offset(nd:1:-1)
    ccount = fcount(nd:1:-1)
  end subroutine

  function write_f64(ds, offset, buf, count) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: offset(:)
    real(c_double), intent(in), target, contiguous :: buf(..)
    integer(c_int64_t), intent(in), optional :: count(:)
    integer :: ierr
    integer(c_int64_t), allocatable :: s(:), c(:)
    call slab(ds, offset, shape(buf), count, s, c, ierr)
    if (ierr == PW_OK) ierr = pw_dataset_write(ds, s, c, c_loc(buf), int(size(buf) * 8, c_size_t))
  end function
  function write_f32(ds, offset, buf, count) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: offset(:)
    real(c_float), intent(in), target, contiguous :: buf(..)
    integer(c_int64_t), intent(in), optional :: count(:)
    integer :: ierr
    integer(c_int64_t), allocatable :: s(:), c(:)
    call slab(ds, offset, shape(buf), count, s, c, ierr)
    if (ierr == PW_OK) ierr = pw_dataset_write(ds, s, c, c_loc(buf), int(size(buf) * 4, c_size_t))
  end function
  function write_i32(ds, offset, buf, count) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: offset(:)
    integer(c_int32_t), intent(in), target, contiguous :: buf(..)
    integer(c_int64_t), intent(in), optional :: count(:)
    integer :: ierr
    integer(c_int64_t), allocatable :: s(:), c(:)
    call slab(ds, offset, shape(buf), count, s, c, ierr)
    if (ierr == PW_OK) ierr = pw_dataset_write(ds, s, c, c_loc(buf), int(size(buf) * 4, c_size_t))
  end function
  function write_i64(ds, offset, buf, count) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: offset(:)
    integer(c_int64_t), intent(in), target, contiguous :: buf(..)
    integer(c_int64_t), intent(in), optional :: count(:)
    integer :: ierr
    integer(c_int64_t), allocatable :: s(:), c(:)
    call slab(ds, offset, shape(buf), count, s, c, ierr)
    if (ierr == PW_OK) ierr = pw_dataset_write(ds, s, c, c_loc(buf), int(size(buf) * 8, c_size_t))
  end function

  function append_f64(ds, n, buf) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: n
    real(c_double), intent(in), target, contiguous :: buf(..)
    integer :: ierr
    ierr = pw_dataset_append(ds, n, c_loc(buf), int(size(buf) * 8, c_size_t))
  end function
  function append_f32(ds, n, buf) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: n
    real(c_float), intent(in), target, contiguous :: buf(..)
    integer :: ierr
    ierr = pw_dataset_append(ds, n, c_loc(buf), int(size(buf) * 4, c_size_t))
  end function
  function append_i32(ds, n, buf) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: n
    integer(c_int32_t), intent(in), target, contiguous :: buf(..)
    integer :: ierr
    ierr = pw_dataset_append(ds, n, c_loc(buf), int(size(buf) * 4, c_size_t))
  end function
  function append_i64(ds, n, buf) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: n
    integer(c_int64_t), intent(in), target, contiguous :: buf(..)
    integer :: ierr
    ierr = pw_dataset_append(ds, n, c_loc(buf), int(size(buf) * 8, c_size_t))
  end function
  function append_none(ds, n) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: n
    integer :: ierr
    ierr = pw_dataset_append(ds, n, c_null_ptr, 0_c_size_t)
  end function

  function deferred_f64(ds, n, buf) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: n
    real(c_double), intent(in), target, contiguous :: buf(..)
    integer :: ierr
    ierr = pw_dataset_append_deferred(ds, n, c_loc(buf), int(size(buf) * 8, c_size_t))
  end function
  function deferred_f32(ds, n, buf) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: n
    real(c_float), intent(in), target, contiguous :: buf(..)
    integer :: ierr
    ierr = pw_dataset_append_deferred(ds, n, c_loc(buf), int(size(buf) * 4, c_size_t))
  end function
  function deferred_i32(ds, n, buf) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: n
    integer(c_int32_t), intent(in), target, contiguous :: buf(..)
    integer :: ierr
    ierr = pw_dataset_append_deferred(ds, n, c_loc(buf), int(size(buf) * 4, c_size_t))
  end function
  function deferred_i64(ds, n, buf) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: n
    integer(c_int64_t), intent(in), target, contiguous :: buf(..)
    integer :: ierr
    ierr = pw_dataset_append_deferred(ds, n, c_loc(buf), int(size(buf) * 8, c_size_t))
  end function
  function deferred_none(ds, n) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: n
    integer :: ierr
    ierr = pw_dataset_append_deferred(ds, n, c_null_ptr, 0_c_size_t)
  end function
  ! Executes the deferred appends queued on file.
  function pwf_perform_appends(file) result(ierr)
    integer(pw_handle_kind), intent(in) :: file
    integer :: ierr
    ierr = pw_perform_appends(file)
  end function

  function read_f64(ds, offset, buf, count) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: offset(:)
    real(c_double), intent(inout), target, contiguous :: buf(..)
    integer(c_int64_t), intent(in), optional :: count(:)
    integer :: ierr
    integer(c_int64_t), allocatable :: s(:), c(:)
    call slab(ds, offset, shape(buf), count, s, c, ierr)
    if (ierr == PW_OK) ierr = pw_dataset_read(ds, s, c, c_loc(buf), int(size(buf) * 8, c_size_t))
  end function
  function read_f32(ds, offset, buf, count) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: offset(:)
    real(c_float), intent(inout), target, contiguous :: buf(..)
    integer(c_int64_t), intent(in), optional :: count(:)
    integer :: ierr
    integer(c_int64_t), allocatable :: s(:), c(:)
    call slab(ds, offset, shape(buf), count, s, c, ierr)
    if (ierr == PW_OK) ierr = pw_dataset_read(ds, s, c, c_loc(buf), int(size(buf) * 4, c_size_t))
  end function
  function read_i32(ds, offset, buf, count) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: offset(:)
    integer(c_int32_t), intent(inout), target, contiguous :: buf(..)
    integer(c_int64_t), intent(in), optional :: count(:)
    integer :: ierr
    integer(c_int64_t), allocatable :: s(:), c(:)
    call slab(ds, offset, shape(buf), count, s, c, ierr)
    if (ierr == PW_OK) ierr = pw_dataset_read(ds, s, c, c_loc(buf), int(size(buf) * 4, c_size_t))
  end function
  function read_i64(ds, offset, buf, count) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    integer(c_int64_t), intent(in) :: offset(:)
    integer(c_int64_t), intent(inout), target, contiguous :: buf(..)
    integer(c_int64_t), intent(in), optional :: count(:)
    integer :: ierr
    integer(c_int64_t), allocatable :: s(:), c(:)
    call slab(ds, offset, shape(buf), count, s, c, ierr)
    if (ierr == PW_OK) ierr = pw_dataset_read(ds, s, c, c_loc(buf), int(size(buf) * 8, c_size_t))
  end function

  function attr_set_f64(ds, key, v) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    character(len=*), intent(in) :: key
    real(c_double), intent(in) :: v
    integer :: ierr
    ierr = pw_attr_set_f64(ds, c_str(key), v)
  end function
  function attr_set_i64(ds, key, v) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    character(len=*), intent(in) :: key
    integer(c_int64_t), intent(in) :: v
    integer :: ierr
    ierr = pw_attr_set_i64(ds, c_str(key), v)
  end function
  function attr_set_i32(ds, key, v) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    character(len=*), intent(in) :: key
    integer(c_int32_t), intent(in) :: v
    integer :: ierr
    ierr = pw_attr_set_i64(ds, c_str(key), int(v, c_int64_t))
  end function
  function attr_set_str(ds, key, v) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    character(len=*), intent(in) :: key, v
    integer :: ierr
    ierr = pw_attr_set_str(ds, c_str(key), c_str(v))
  end function

  ! Reads attribute key: kind is PW_ATTR_INT (in i), PW_ATTR_UINT (in i, bit for bit),
  ! PW_ATTR_FLOAT (in f) or PW_ATTR_STR (in s, unallocated otherwise).
  function pwf_attr_get(ds, key, kind, i, f, s) result(ierr)
    integer(pw_handle_kind), intent(in) :: ds
    character(len=*), intent(in) :: key
    integer(c_int), intent(out) :: kind
    integer(c_int64_t), intent(out) :: i
    real(c_double), intent(out) :: f
    character(len=:), allocatable, intent(out) :: s
    integer :: ierr
    character(kind=c_char) :: buf(4096)
    integer(c_int64_t) :: u
    i = 0
    f = 0
    u = 0
    ierr = pw_attr_get(ds, c_str(key), kind, i, u, f, buf, size(buf, kind=c_size_t))
    if (ierr /= PW_OK) return
    if (kind == PW_ATTR_UINT) i = u
    if (kind == PW_ATTR_STR) s = f_str(buf)
  end function

  function pwf_sync(file) result(ierr)
    integer(pw_handle_kind), intent(in) :: file
    integer :: ierr
    ierr = pw_sync(file)
  end function
  function pwf_end_tick(file) result(ierr)
    integer(pw_handle_kind), intent(in) :: file
    integer :: ierr
    ierr = pw_end_tick(file)
  end function
  function pwf_flush(file) result(ierr)
    integer(pw_handle_kind), intent(in) :: file
    integer :: ierr
    ierr = pw_flush(file)
  end function
  function pwf_reader_tick(reader, tick) result(ierr)
    integer(pw_handle_kind), intent(in) :: reader
    integer(c_int64_t), intent(out) :: tick
    integer :: ierr
    ierr = pw_reader_tick(reader, tick)
  end function
  function pwf_dataset_count(reader, n) result(ierr)
    integer(pw_handle_kind), intent(in) :: reader
    integer, intent(out) :: n
    integer :: ierr
    integer(c_size_t) :: cn
    ierr = pw_dataset_count(reader, cn)
    n = int(cn)
  end function
  ! The path of dataset i (1-based, sorted by path).
  function pwf_dataset_name(reader, i, name) result(ierr)
    integer(pw_handle_kind), intent(in) :: reader
    integer, intent(in) :: i
    character(len=:), allocatable, intent(out) :: name
    integer :: ierr
    character(kind=c_char) :: buf(4096)
    ierr = pw_dataset_name(reader, int(i - 1, c_size_t), buf, size(buf, kind=c_size_t))
    name = ''
    if (ierr == PW_OK) name = f_str(buf)
  end function
  function pwf_close(h) result(ierr)
    integer(pw_handle_kind), intent(in) :: h
    integer :: ierr
    ierr = pw_close(h)
  end function
end module pwstore
