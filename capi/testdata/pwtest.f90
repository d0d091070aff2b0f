! pwtest.f90 - the Fortran test of module pwstore (run by capi_test.go): writes a column-major
! array and two extensible datasets (one through pwf_dataset_extend + pwf_dataset_write, one
! through pwf_dataset_append and pwf_dataset_append_deferred), reads them back through the
! writer and a reader.
!   pwtestf FILE      prints "fortran ok" on success, stops with a non-zero code otherwise
program pwtestf
  use pwstore
  implicit none
  character(len=4096) :: path
  integer(pw_handle_kind) :: f, a, g, p, r, ra, rg, rp
  real(c_double) :: arr(4, 3, 2), back(4, 3, 2)
  integer(c_int32_t) :: row(5), rows(5, 3)
  real(c_double) :: two(2, 2), apps(2, 4), row2(2)
  integer(c_int64_t) :: shape(8), tick, iv
  integer(c_int) :: typ, nd, kind
  real(c_double) :: fv
  character(len=:), allocatable :: sv, name
  type(pwf_config) :: cfg
  integer :: i, j, k, n, s

  call get_command_argument(1, path)
  do i = 1, 2
    do j = 1, 3
      do k = 1, 4
        arr(k, j, i) = 100 * i + 10 * j + k
      end do
    end do
  end do

  cfg%size = 1
  cfg%tick_seconds = 0.05d0
  call check(pwf_create(trim(path), f, cfg), 'create')
  call check(pwf_dataset_create(f, '/a', PW_FLOAT64, [4_c_int64_t, 3_c_int64_t, 2_c_int64_t], a), 'create /a')
  call check(pwf_dataset_write(a, [0_c_int64_t, 0_c_int64_t, 0_c_int64_t], arr), 'write /a')
  call check(pwf_attr_set(a, 'units', 'kelvin'), 'attr units')
  call check(pwf_attr_set(a, 'dt', 0.5d0), 'attr dt')
  call check(pwf_attr_set(a, 'n', 42), 'attr n')
  ! Fortran shape (5, 0), growing along the last Fortran dimension.
  call check(pwf_dataset_create(f, '/grow', PW_INT32, [5_c_int64_t, 0_c_int64_t], g, &
    maxshape=[5_c_int64_t, PW_UNLIMITED], chunk=[5_c_int64_t, 4_c_int64_t]), 'create /grow')
  do s = 1, 3
    row = [(s * 10 + i, i = 1, 5)]
    rows(:, s) = row
    call check(pwf_dataset_extend(g, int(s, c_int64_t)), 'extend')
    call check(pwf_dataset_write(g, [0_c_int64_t, int(s - 1, c_int64_t)], row), 'write row')
    call check(pwf_sync(f), 'sync')
  end do
  ! Fortran shape (2, 0): rows of 2 appended along the last Fortran dimension.
  call check(pwf_dataset_create(f, '/app', PW_FLOAT64, [2_c_int64_t, 0_c_int64_t], p, &
    maxshape=[2_c_int64_t, PW_UNLIMITED], chunk=[2_c_int64_t, 3_c_int64_t]), 'create /app')
  two = reshape([1d0, 2d0, 3d0, 4d0], [2, 2])
  if (pwf_dataset_append(p, 3_c_int64_t, two) /= PW_ERR_ARG) stop 'append of 3 rows from 2: not PW_ERR_ARG'
  call check(pwf_dataset_append(p, 2_c_int64_t, two), 'append 2 rows')
  call check(pwf_dataset_append(p, 1_c_int64_t), 'append (extend only)')
  call check(pwf_dataset_append(p, 1_c_int64_t, [5d0, 6d0]), 'append 1 row')
  call check(pwf_dataset_info(p, typ, nd, shape), 'info /app')
  if (nd /= 2 .or. shape(1) /= 2 .or. shape(2) /= 4) stop 'info of /app after appends: wrong'
  ! Deferred: queued, then written by pwf_perform_appends; the array is reused at once.
  row2 = [7d0, 8d0]
  call check(pwf_dataset_append_deferred(p, 1_c_int64_t, row2), 'deferred append 1 row')
  row2 = 0
  call check(pwf_dataset_append_deferred(p, 1_c_int64_t), 'deferred append (extend only)')
  if (pwf_dataset_append_deferred(p, 3_c_int64_t, two) /= PW_ERR_ARG) stop 'deferred append of 3 rows from 2: not PW_ERR_ARG'
  call check(pwf_perform_appends(f), 'perform appends')
  call check(pwf_dataset_info(p, typ, nd, shape), 'info /app')
  if (shape(2) /= 6) stop 'info of /app after deferred appends: wrong'
  call check(pwf_dataset_read(p, [0_c_int64_t, 4_c_int64_t], row2), 'read the deferred row')
  if (any(row2 /= [7d0, 8d0])) stop 'the deferred row reads back wrong'
  if (pwf_dataset_append(a, 1_c_int64_t) /= PW_ERR_ARG) stop 'append to a fixed dataset: not PW_ERR_ARG'
  call check(pwf_close(p), 'close /app')
  back = 0
  call check(pwf_dataset_read(a, [0_c_int64_t, 0_c_int64_t, 0_c_int64_t], back), 'read /a (writer)')
  if (any(back /= arr)) stop 'read back through the writer differs'
  call check(pwf_dataset_info(g, typ, nd, shape), 'info')
  if (typ /= PW_INT32 .or. nd /= 2 .or. shape(1) /= 5 .or. shape(2) /= 3) stop 'info of /grow: wrong'
  call check(pwf_close(a), 'close /a')
  call check(pwf_close(g), 'close /grow')
  call check(pwf_close(f), 'close file')
  if (pwf_close(f) /= PW_ERR_BAD_HANDLE) stop 'double close: not PW_ERR_BAD_HANDLE'
  if (len(pwf_errmsg()) == 0) stop 'no error message'

  call check(pwf_reader_open(trim(path), r, cfg), 'reader open')
  call check(pwf_reader_tick(r, tick), 'tick')
  call check(pwf_dataset_count(r, n), 'count')
  if (n /= 3) stop 'reader: not 3 datasets'
  call check(pwf_dataset_name(r, 1, name), 'name')
  if (name /= '/a') stop 'reader: first dataset not /a'
  call check(pwf_dataset_open(r, '/a', ra), 'open /a')
  back = 0
  call check(pwf_dataset_read(ra, [0_c_int64_t, 0_c_int64_t, 0_c_int64_t], back), 'read /a')
  if (any(back /= arr)) stop 'read back through the reader differs'
  call check(pwf_attr_get(ra, 'units', kind, iv, fv, sv), 'attr units')
  if (kind /= PW_ATTR_STR .or. sv /= 'kelvin') stop 'attr units'
  call check(pwf_attr_get(ra, 'dt', kind, iv, fv, sv), 'attr dt')
  if (kind /= PW_ATTR_FLOAT .or. fv /= 0.5d0) stop 'attr dt'
  call check(pwf_attr_get(ra, 'n', kind, iv, fv, sv), 'attr n')
  if (kind /= PW_ATTR_INT .or. iv /= 42) stop 'attr n'
  call check(pwf_dataset_open(r, '/grow', rg), 'open /grow')
  rows = 0
  call check(pwf_dataset_read(rg, [0_c_int64_t, 0_c_int64_t], rows), 'read /grow')
  do s = 1, 3
    if (any(rows(:, s) /= [(s * 10 + i, i = 1, 5)])) stop 'read /grow differs'
  end do
  if (pwf_dataset_read(rg, [0_c_int64_t, 1_c_int64_t], rows) /= PW_ERR_ARG) stop 'box beyond the shape'
  call check(pwf_dataset_open(r, '/app', rp), 'open /app')
  apps = -1
  call check(pwf_dataset_read(rp, [0_c_int64_t, 0_c_int64_t], apps), 'read /app')
  if (any(apps /= reshape([1d0, 2d0, 3d0, 4d0, 0d0, 0d0, 5d0, 6d0], [2, 4]))) stop 'read /app differs'
  call check(pwf_close(rp), 'close')
  call check(pwf_close(ra), 'close')
  call check(pwf_close(rg), 'close')
  call check(pwf_close(r), 'close reader')
  print '(a)', 'fortran ok'

contains

  subroutine check(ierr, what)
    integer, intent(in) :: ierr
    character(len=*), intent(in) :: what
    if (ierr /= PW_OK) then
      print '(a, ": ", i0, ": ", a)', what, ierr, pwf_errmsg()
      error stop 1
    end if
  end subroutine
end program
