#!/usr/bin/env bash
# The pipeline's µs of CPU per event, this checkout against another revision, the two run
# side by side (each on a core) so that they share the shared machine's noise:
#
#   tests/benchmarks/pipeline_ab.sh BASE_REV [ROUNDS] [pipeline_cpu args...]
#
# e.g. `tests/benchmarks/pipeline_ab.sh HEAD~3 3 --traffic live`. The base is checked out
# as a git worktree under .local/ab-base; both use this checkout's virtualenv.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
base_rev=${1:?usage: pipeline_ab.sh BASE_REV [ROUNDS] [pipeline_cpu args...]}
rounds=${2:-3}
shift $(( $# >= 2 ? 2 : 1 ))
base="$repo/.local/ab-base"
git -C "$repo" worktree remove --force "$base" 2>/dev/null || true
git -C "$repo" worktree add --detach -q "$base" "$base_rev"
trap 'git -C "$repo" worktree remove --force "$base"' EXIT
py="$repo/.venv/bin/python"
for i in $(seq "$rounds"); do
  (cd "$base" && PYTHONPATH="$base" "$py" -m tests.benchmarks.pipeline_cpu "$@" > "$base/.ab-out") &
  (cd "$repo" && PYTHONPATH="$repo" "$py" -m tests.benchmarks.pipeline_cpu "$@" > "$repo/.local/ab-out") &
  wait
  echo "round $i: base $(grep -o '[0-9.]* µs CPU/event' "$base/.ab-out")," \
       "this $(grep -o '[0-9.]* µs CPU/event' "$repo/.local/ab-out")"
done
