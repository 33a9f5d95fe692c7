# shellcheck shell=bash
# bench/lib.sh: sourced by every bench/<stage>.sh. bench_row appends one result to the file
# named by $BENCH_ROWS (bench/all.sh sets it) so that all benchmarks print as one table.
#
#   bench_row STAGE CASE BASELINE BASELINE_MEDIAN_S OURS_MEDIAN_S OURS_PEAK_KIB
bench_row() {
  [ -n "${BENCH_ROWS:-}" ] || return 0
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$BENCH_ROWS"
}
