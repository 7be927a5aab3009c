# shellcheck shell=bash
# bench/common.sh -- sourced by the benchmarks: the build's commands on
# PATH, a private redis-server without persistence, timing helpers.
bench_top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$bench_top/cmd:$PATH"
bench_dir=$(mktemp -d /tmp/wq-bench.XXXXXX)
bench_pids=

# Under set -e, a kill of a process that is already gone would end this
# at once and leave the rest running: hence the || true.
bench_cleanup() {
	for p in $bench_pids; do kill "$p" 2>/dev/null || true; done
	sleep 0.2
	for p in $bench_pids; do kill -9 "$p" 2>/dev/null || true; done
	[ -f "$bench_dir/redis.pid" ] &&
		kill "$(cat "$bench_dir/redis.pid")" 2>/dev/null || true
	sleep 0.2
	rm -rf "$bench_dir"
}
trap bench_cleanup EXIT INT TERM

# bench_redis: start redis-server on a unix socket (and BENCH_PORT if set).
bench_redis() {
	redis-server --port "${BENCH_PORT:-0}" --bind 127.0.0.1 \
		--unixsocket "$bench_dir/redis.sock" --save '' --appendonly no \
		--daemonize yes --pidfile "$bench_dir/redis.pid" \
		--logfile "$bench_dir/redis.log" --dir "$bench_dir" >/dev/null
	for _ in $(seq 100); do
		redis-cli -s "$bench_dir/redis.sock" ping >/dev/null 2>&1 && break
		sleep 0.05
	done
	export WQ_REDIS="unix://$bench_dir/redis.sock"
}

bcli() { redis-cli -s "$bench_dir/redis.sock" "$@"; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# bench_report NAME VALUE UNIT: a table line on stderr, NDJSON on stdout.
bench_report() {
	printf '%-40s %12s %s\n' "$1" "$2" "$3" >&2
	printf '{"bench":"%s","value":%s,"unit":"%s"}\n' "$1" "$2" "$3"
}
