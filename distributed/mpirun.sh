#!/bin/sh
# mpirun for doppel's tests, benchmarks and examples on one machine:
#   distributed/mpirun.sh -np N PROGRAM [ARGS...]
# Adds what CI needs and users should not have to type: --allow-run-as-root when running as root,
# --oversubscribe (more ranks than cores) and --bind-to none (ranks may share cores); one OpenMP
# thread per rank unless OMP_NUM_THREADS says otherwise. The job is bounded by `timeout`
# (DOPPEL_MPIRUN_TIMEOUT seconds, default 600), so a hung job ends.
set -eu
extra=""
if [ "$(id -u)" = 0 ]; then
  extra="--allow-run-as-root"
fi
exec timeout --signal=TERM --kill-after=10 "${DOPPEL_MPIRUN_TIMEOUT:-600}" \
  mpirun $extra --oversubscribe --bind-to none -x OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" "$@"
