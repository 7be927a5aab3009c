# helpers.bash -- what every suite shares: the build's commands first on
# PATH, a private redis-server per suite (a unix socket in a temp dir,
# never port 6379), and processes started by a test stopped after it.
#
#   setup_file()    { redis_start; }
#   teardown_file() { redis_stop; }
#   setup()         { redis_flush; }
#   teardown()      { stop_started; }
#
# bats-support and bats-assert come from Debian's packages.

WQ_SRCDIR=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
WQ_BUILDDIR=${WQ_BUILDDIR:-$WQ_SRCDIR}
export PATH="$WQ_BUILDDIR/cmd:$WQ_SRCDIR/cmd:$PATH"
bats_load_library bats-support
bats_load_library bats-assert

# A fresh directory for this suite (shared by its tests): made by
# suite_dir_init in setup_file, exported so the tests see it.
suite_dir_init() {
	if [ -z "${WQ_SUITE_DIR:-}" ] || [ ! -d "$WQ_SUITE_DIR" ]; then
		WQ_SUITE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wq-test.XXXXXX")
		export WQ_SUITE_DIR
	fi
}

suite_dir() {
	echo "$WQ_SUITE_DIR"
}

# redis_start [NAME [extra redis-server args...]]: a redis-server on a
# unix socket; exports WQ_REDIS (for the first one started).
redis_start() {
	local name=${1:-redis} dir sock
	shift || true
	suite_dir_init
	dir=$WQ_SUITE_DIR
	sock="$dir/$name.sock"
	redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 \
		--save '' --appendonly no --daemonize yes \
		--pidfile "$dir/$name.pid" --logfile "$dir/$name.log" \
		--dir "$dir" --enable-debug-command local "$@" >/dev/null
	for _ in $(seq 100); do
		[ -S "$sock" ] && redis-cli -s "$sock" ping >/dev/null 2>&1 && break
		sleep 0.05
	done
	redis-cli -s "$sock" ping >/dev/null || {
		echo "redis-server did not start: $(tail -5 "$dir/$name.log")" >&2
		return 1
	}
	if [ "$name" = redis ]; then
		export WQ_REDIS="unix://$sock"
		export WQ_TEST_SOCK="$sock"
	fi
}

# redis_stop [NAME]: stop it and wait until it is gone.
redis_stop() {
	local name=${1:-redis} dir pid
	dir=$(suite_dir)
	[ -f "$dir/$name.pid" ] || return 0
	pid=$(cat "$dir/$name.pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$dir/$name.pid"
	if [ "$name" = redis ] && [ -z "${WQ_KEEP_SUITE_DIR:-}" ]; then
		stop_started
		rm -rf "$dir"
	fi
}

rcli() {
	redis-cli -s "$WQ_TEST_SOCK" "$@"
}

redis_flush() {
	rcli flushall >/dev/null
}

# start NAME CMD...: run a command in the background, stderr and stdout
# to $dir/NAME.log; its pid is recorded to be stopped after the test.
start() {
	local name=$1 dir
	shift
	dir=$(suite_dir)
	"$@" >"$dir/$name.log" 2>&1 3>&- &
	echo $! >>"$dir/started.pids"
	echo "$!" >"$dir/$name.pid"
}

# Stop what start() started: SIGTERM, a moment, then SIGKILL.
stop_started() {
	local dir pids
	dir=$(suite_dir)
	[ -f "$dir/started.pids" ] || return 0
	pids=$(cat "$dir/started.pids")
	rm -f "$dir/started.pids"
	for p in $pids; do
		kill -CONT "$p" 2>/dev/null || true
		kill "$p" 2>/dev/null || true
	done
	for _ in $(seq 50); do
		local alive=0
		for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	return 0
}

pid_of() {
	cat "$(suite_dir)/$1.pid"
}

log_of() {
	cat "$(suite_dir)/$1.log"
}

# wait_for SECONDS CMD...: retry CMD until it succeeds or time runs out.
wait_for() {
	local secs=$1 end
	shift
	end=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
	while ! "$@" >/dev/null 2>&1; do
		if [ $(( $(date +%s%N) / 1000000 )) -ge $end ]; then
			echo "timed out after ${secs}s waiting for: $*" >&2
			return 1
		fi
		sleep 0.05
	done
}

# job_status ID: the status field of a record ("" when unknown).
job_status() {
	rcli hget "wq:job:$1" s
}

status_is() {
	[ "$(job_status "$1")" = "$2" ]
}

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# The callback id of string data: the MD5 of its bytes, upper-case hex.
md5id() {
	printf '%s' "$1" | md5sum | cut -c1-32 | tr a-f A-F
}
