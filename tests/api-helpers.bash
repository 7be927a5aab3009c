# api-helpers.bash -- starting wq-api instances, for tests/api.bats and
# tests/lb.bats (load it after helpers).
#
#   api_start NAME [wq-api options...]   on a free loopback port (or
#                                        $API_PORT), 2 workers; returns
#                                        once it answers HTTP
#   api_url NAME                         http://127.0.0.1:PORT
#   api_pid NAME                         the PID, which names the node
#   api_logs_clean                       no worker died (sandbox) in any log
#   api_teardown                         a suite's teardown: stop what the
#                                        test started; fail it if a worker died
#
# wq-api execs Kore, so the PID start() records is Kore's parent's.

api_start() {
	local name=$1 port
	shift
	port=${API_PORT:-$(free_port)}
	echo "$port" >"$(suite_dir)/$name.port"
	start "$name" wq-api --listen "127.0.0.1:$port" --workers 2 "$@"
	if ! wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; then
		echo "wq-api $name did not start:" >&2
		log_of "$name" >&2
		return 1
	fi
}

api_port() {
	cat "$(suite_dir)/$1.port"
}

api_url() {
	echo "http://127.0.0.1:$(api_port "$1")"
}

api_pid() {
	pid_of "$1"
}

# A worker killed by Kore's seccomp sandbox is restarted and only leaves
# this line behind: any test that caused one fails.
api_logs_clean() {
	local bad
	bad=$(grep -H -E 'sandbox violation|died from' "$(suite_dir)"/*.log \
	    2>/dev/null || true)
	if [ -n "$bad" ]; then
		echo "$bad" >&2
		return 1
	fi
}

# The teardown of a suite that starts wq-api: what the test started is
# stopped, and the test fails if a Kore worker died meanwhile.
api_teardown() {
	local clean=0
	api_logs_clean || clean=1
	stop_started
	return $clean
}

# http METHOD URL [curl args...]: sets $code and $body (and $headers).
# A POST is application/json unless the arguments name a Content-Type.
http() {
	local method=$1 url=$2 out
	shift 2
	out=$(mktemp "$(suite_dir)/http.XXXXXX")
	if [ "$method" = HEAD ]; then
		set -- -I "$@"
	else
		set -- -X "$method" "$@"
	fi
	if [ "$method" = POST ] && ! printf '%s\n' "$@" | grep -qi '^content-type:'; then
		set -- -H 'Content-Type: application/json' "$@"
	fi
	code=$(curl -s --max-time 120 -o "$out" -D "$out.h" -w '%{http_code}' \
	    "$@" "$url")
	body=$(cat "$out")
	headers=$(tr -d '\r' <"$out.h")
	rm -f "$out" "$out.h"
}
