#!/usr/bin/env bats
# scripts/dashboard: the tmux dashboard over a local cluster.  Each test
# runs a private tmux server (TMUX_TMPDIR in the suite's directory) and
# its own cluster, and stops both.

load helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() {
	redis_flush
	C="$(suite_dir)/d$BATS_TEST_NUMBER"
	export TMUX_TMPDIR="$(suite_dir)/tmux$BATS_TEST_NUMBER"
	mkdir -p "$TMUX_TMPDIR"
	dashboard="$WQ_SRCDIR/scripts/dashboard"
}
teardown() {
	tmux kill-server 2>/dev/null || true
	wq-cluster down --dir "$C" 2>/dev/null || true
	stop_started
}

# screen TITLE: what the pane of that title shows.
screen() {
	local id
	id=$(tmux list-panes -t "=${S:-wq}" -F '#{pane_id} #{pane_title}' |
		sed -n "s/^\(%[0-9]*\) $1\$/\1/p")
	[ -n "$id" ] || return 1
	tmux capture-pane -p -J -t "$id"
}

# shows TITLE TEXT: the pane shows TEXT.
shows() {
	screen "$1" | grep -q -- "$2"
}

@test "the dashboard starts a cluster and shows members, logs and worked jobs" {
	[ ! -e "$C" ]
	run "$dashboard" --dir "$C" --detach --size 200x50 --every 1
	assert_success
	assert_output --partial "dashboard: session wq on the cluster in $C"
	# it started a cluster
	wq-cluster status --dir "$C"
	[ "$(tmux display -p -t '=wq:' '#{window_width}x#{window_height}')" = 200x50 ]
	[ "$(tmux list-panes -t '=wq' -F '#{pane_title}' | sort | tr '\n' ,)" = \
		"client,cluster status,system monitor,worker logs," ]
	w1=$(wq-cluster status --dir "$C" | jq -r 'select(.name=="worker-1").node')
	w2=$(wq-cluster status --dir "$C" | jq -r 'select(.name=="worker-2").node')
	# the monitor lists both members
	wait_for 20 shows "system monitor" "$w1"
	wait_for 20 shows "system monitor" "$w2"
	# the client's jobs get worked, and the workers' logs say so
	wait_for 30 shows client '"status":"worked"'
	run screen client
	assert_output --regexp '\{"data":"dashboard 1 [0-9:]+","status":"worked","accepted_by":"submit-[0-9]+@[^"]*","worker":"worker-[0-9]+@'
	wait_for 20 shows "worker logs" "job .* worked"
	wait_for 20 shows "cluster status" '"name":"worker-2"'
	# the jobs it submitted are in the cluster's Redis
	eval "$(wq-cluster env --dir "$C")"
	id=$(screen client | sed -n 's/.*"data":"\(dashboard 1 [0-9:]*\)".*/\1/p' | head -1)
	run wq-status --jq .status "$(printf %s "$id" | md5sum | cut -c1-32 | tr a-f A-F)"
	assert_output '"worked"'
	run "$dashboard" --kill
	assert_success
	run tmux has-session -t '=wq'
	assert_failure
	# the cluster outlives the session
	wq-cluster status --dir "$C"
}

@test "a running cluster is reused, the session name is settable, a second one is refused" {
	wq-cluster up --dir "$C" --workers 1 2>/dev/null
	pids=$(wq-cluster status --dir "$C" | jq -r .pid)
	S=other
	run "$dashboard" --dir "$C" --detach --name other
	assert_success
	tmux has-session -t '=other'
	run tmux has-session -t '=wq'
	assert_failure
	[ "$(wq-cluster status --dir "$C" | jq -r .pid)" = "$pids" ]
	w1=$(wq-cluster status --dir "$C" | jq -r 'select(.name=="worker-1").node')
	wait_for 20 shows "system monitor" "$w1"
	run "$dashboard" --dir "$C" --detach --name other
	assert_failure 1
	assert_output "dashboard: a session named other exists (tmux attach -t other, or --kill it)"
	run "$dashboard" --kill --name other
	assert_success
	run "$dashboard" --kill --name other
	assert_failure 1
	assert_output "dashboard: no session named other"
}

@test "with API instances behind HAProxy: their logs, and the client goes through the API" {
	run "$dashboard" --dir "$C" --detach --size 200x50 --every 1 -- --workers 1 --api 1 --lb
	assert_success
	[ "$(wq-cluster status --dir "$C" | jq -r .name | tr '\n' ' ')" = "redis worker-1 api-1 lb " ]
	a1=$(wq-cluster status --dir "$C" | jq -r 'select(.name=="api-1").node')
	w1=$(wq-cluster status --dir "$C" | jq -r 'select(.name=="worker-1").node')
	wait_for 20 shows "API logs" "wq-api: node $a1"
	# the monitor reads Redis even though the panes have WQ_API
	wait_for 20 shows "system monitor" "$a1"
	wait_for 20 shows "system monitor" "$w1"
	wait_for 30 shows client '"status":"worked"'
	run screen client
	assert_output --partial "\"accepted_by\":\"$a1\""
}

@test "bad arguments exit 2" {
	run "$dashboard" --size big
	assert_failure 2
	assert_output "dashboard: bad --size: COLSxROWS"
	run "$dashboard" --name 'a b'
	assert_failure 2
	run "$dashboard" --frob
	assert_failure 2
	[ ! -e "$C" ]
}
