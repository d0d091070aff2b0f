#!/usr/bin/env bash
# setup.sh - installs the HDF5 peer for the benchmark: Debian's python3-h5py (HDF5 1.10) and
# numpy for /usr/bin/python3, then prints the versions. The peer is optional: if it cannot be
# installed, this says "peer unavailable" and still exits 0, so the bench runs without it.
#
# Needs root (or passwordless sudo) for apt-get when the packages are missing.
# H5PEER_PYTHON: the interpreter to check [/usr/bin/python3].
set -uo pipefail

PY=${H5PEER_PYTHON:-/usr/bin/python3}
probe() {
	"$PY" -c 'import h5py, numpy; print("HDF5", h5py.version.hdf5_version, "h5py", h5py.version.version, "numpy", numpy.__version__)' 2>/dev/null
}

if ! versions=$(probe); then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
	export DEBIAN_FRONTEND=noninteractive
	if ! { $sudo apt-get install -y -q python3-h5py python3-numpy </dev/null ||
		{ $sudo apt-get update -q </dev/null && $sudo apt-get install -y -q python3-h5py python3-numpy </dev/null; }; }; then
		echo "h5peer: peer unavailable: could not install python3-h5py python3-numpy with apt-get"
		exit 0
	fi
	if ! versions=$(probe); then
		echo "h5peer: peer unavailable: $PY cannot import h5py and numpy after installing them"
		exit 0
	fi
fi
echo "h5peer: $versions ($PY)"
