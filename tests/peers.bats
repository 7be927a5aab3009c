#!/usr/bin/env bats
# wq-peers: the NDJSON list of nodes, --all, --table, and --watch, the
# system monitor: NDJSON snapshots on a pipe, a full-screen view on a
# terminal (driven in tmux), both surviving Redis going away.  The tests
# that stop Redis use a second, named server ("mon"), so the suite's own
# stays up.

load helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() {
	tmux -S "$(suite_dir)/tmux.sock" kill-server 2>/dev/null || true
	stop_started
	redis_stop mon
}

node() {
	local name=$1
	shift
	start "$name" wq-worker --name "$name" --heartbeat 0.2 \
		--node-timeout 2 "$@"
}

peers_are() {
	[ "$(wq-peers | jq -r .name | paste -sd' ')" = "$*" ]
}

mon_sock() {
	echo "$(suite_dir)/mon.sock"
}

@test "one NDJSON line per live node, sorted by name; --all adds the dead" {
	run wq-peers
	assert_success
	assert_output ""
	node zed --sleep 1
	node alpha --sleep 1
	node mid --sleep 1
	node gone --sleep 1
	wait_for 20 peers_are alpha gone mid zed
	run wq-peers
	[ "$(echo "$output" | jq -s -c 'map(type)')" = '["object","object","object","object"]' ]
	kill -9 "$(pid_of gone)"
	kill -TERM "$(pid_of mid)"
	wait_for 20 peers_are alpha zed
	run wq-peers --all
	assert_success
	[ "$(echo "$output" | jq -c '[.name, .alive, .gone]' | paste -sd' ')" = \
		'["alpha",true,null] ["gone",false,"dead"] ["mid",false,"left"] ["zed",true,null]' ]
	run wq-peers --table
	assert_success
	assert_line --index 0 --regexp '^NAME +ROLE +ALIVE +HOST +PID +AGE +PROCESSED +FAILED +CURRENT$'
	assert_line --index 1 --regexp '^alpha +worker +yes '
	[ "${#lines[@]}" = 3 ]
}

@test "--watch on a pipe: NDJSON snapshots with nodes, queues, stats and throughput" {
	seq 3000 | wq-submit --lines >/dev/null
	wq-submit --queue idle a b >/dev/null
	node w1 --sleep 0.01 --concurrency 4 --quiet
	node w2 --sleep 0.01 --concurrency 4 --quiet
	wait_for 20 peers_are w1 w2
	# six snapshots, however long a busy machine takes for them (a
	# minute at most)
	timeout -k 5 60 sh -c 'wq-peers --watch --interval 0.4 | head -n 6' >"$(suite_dir)/snaps" || true
	run jq -s -c 'length' "$(suite_dir)/snaps"
	[ "$output" = 6 ]
	# every snapshot: redis ok, the two nodes, the queues, the counters
	jq -e -s 'all(.[]; .redis == "ok" and ([.nodes[].name] == ["w1","w2"])
		and .queues.idle.pending == 2 and (.queues.default.pending | type) == "number"
		and (.stats.worked | type) == "number" and .ts == .stats.time)' "$(suite_dir)/snaps"
	# the first has no rate yet; the others are worked-per-second between two
	jq -e -s '.[0].throughput == null' "$(suite_dir)/snaps"
	jq -e -s '[range(1; length) as $i | .[$i - 1:$i + 1]
		| (.[1].stats.worked - .[0].stats.worked) / ((.[1].ts - .[0].ts) / 1000)
		  - .[1].throughput | fabs < 0.11] | all' "$(suite_dir)/snaps"
	# and they measured the work going on (how much is the machine's)
	jq -e -s '[.[1:][].throughput] | max > 0' "$(suite_dir)/snaps"
}

@test "--watch on a pipe says when Redis is unreachable and recovers when it returns" {
	redis_start mon
	export WQ_REDIS="unix://$(mon_sock)"
	snaps=$(suite_dir)/snaps
	start w1 wq-worker --name w1 --sleep 1 --heartbeat 0.2 --node-timeout 2
	start watch wq-peers --watch --interval 0.2
	wait_for 20 grep -q '"name":"w1"' "$(suite_dir)/watch.log"
	redis_stop mon
	# the link lost first ("Redis connection lost: ..."), then each
	# attempt to connect again names the socket it cannot reach
	wait_for 20 sh -c "grep '\"redis\":\"unreachable\"' '$(suite_dir)/watch.log' |
	    grep -q mon.sock"
	grep '"redis":"unreachable"' "$(suite_dir)/watch.log" |
		jq -e -s 'all(.ts | type == "number") and
		    all(.error | length > 0) and any(.error | test("mon.sock"))'
	n=$(wc -l <"$(suite_dir)/watch.log")
	redis_start mon
	# back: the worker has registered again and the watcher shows it
	wait_for 20 eval "tail -n +$((n + 1)) '$(suite_dir)/watch.log' | grep '\"redis\":\"ok\"' | grep -q '\"name\":\"w1\"'"
	kill -0 "$(pid_of watch)"
}

# capture: the tmux pane, as text.
capture() {
	tmux -S "$(suite_dir)/tmux.sock" capture-pane -p -t mon
}

screen_has() {
	capture | grep -Eq "$1"
}

@test "--watch on a terminal (tmux): members and queues; redis unreachable; members again" {
	redis_start mon
	export WQ_REDIS="unix://$(mon_sock)"
	wq-submit --queue other x y z >/dev/null
	start w1 wq-worker --name w1 --sleep 5 --heartbeat 0.2 --node-timeout 2
	start w2 wq-worker --name w2 --sleep 5 --heartbeat 0.2 --node-timeout 2 --queue q2
	tmux -S "$(suite_dir)/tmux.sock" new-session -d -s mon -x 160 -y 40 \
		"WQ_REDIS=$WQ_REDIS exec $(command -v wq-peers) --watch --interval 0.25"
	wait_for 20 screen_has '^w1 +worker +[^ ]+ +[0-9]+ +[0-9]+s +[0-9.]+s +running'
	wait_for 20 screen_has '^w2 +worker '
	screen_has '^wq system monitor'
	screen_has '^redis ok'
	screen_has '^nodes 2 alive'
	screen_has '^NAME +ROLE +HOST +PID +AGE +BEAT +STATE +PROCESSED +FAILED +CURRENT'
	screen_has '^other +3 +0 +0$'
	# a job on a node shows in its CURRENT column
	id=$(wq-submit busy | jq -r .callback)
	wait_for 20 screen_has "^w[12] .* 1: ${id:0:8}\$"
	# drawn in place: one screen, not a scroll of frames
	[ "$(capture | grep -c '^wq system monitor')" = 1 ]
	redis_stop mon
	wait_for 20 screen_has '^redis unreachable'
	screen_has 'retrying every 0.25s'
	# still the view, not a crash
	tmux -S "$(suite_dir)/tmux.sock" has-session -t mon
	redis_start mon
	wait_for 20 screen_has '^redis ok'
	wait_for 20 screen_has '^w1 +worker '
	wait_for 20 screen_has '^w2 +worker '
	run screen_has 'unreachable'
	assert_failure
	# q quits, and the terminal is given back
	tmux -S "$(suite_dir)/tmux.sock" send-keys -t mon q
	wait_for 20 eval '! tmux -S "$(suite_dir)/tmux.sock" has-session -t mon'
}

@test "--watch on a terminal from a background process group: draws, and SIGTERM ends it" {
	# dash forks for "timeout 3 ...", and timeout(1) puts itself and the
	# monitor in a process group of their own: not the terminal's
	# foreground.  Changing the terminal's mode from there would stop the
	# monitor with SIGTTOU for good (CI hung here); it must draw, without
	# keys, and end on timeout's SIGTERM.
	wq-submit --queue bgq x >/dev/null
	SHELL=/bin/sh timeout -k 5 60 script -qec \
	    "timeout 3 $(command -v wq-peers) --watch --interval 0.3; echo rc=\$?" \
	    /dev/null </dev/null | tr -d '\r' >"$(suite_dir)/screen"
	grep -aq 'wq system monitor' "$(suite_dir)/screen"
	grep -aqE 'bgq +1 +0 +0' "$(suite_dir)/screen"
	# timeout's status for a command it had to end: 124, not 137 (-k)
	grep -aq 'rc=124$' "$(suite_dir)/screen"
}

@test "--table escapes what another node wrote: no terminal control" {
	start w1 wq-worker --sleep 1 --name w1
	wait_for 20 sh -c "wq-peers | grep -q w1"
	# anyone with Redis access can write a node's description
	rcli hset wq:node:w1 host "$(printf 'evil\033]0;owned\007\033[2J\302\233')" >/dev/null
	run wq-peers --table
	assert_success
	assert_output --partial 'evil?]0;owned??[2J?'
	[ "$(printf '%s' "$output" | tr -d '\n' | LC_ALL=C tr -d '[:print:]' | wc -c)" = 0 ]
}

@test "numbers another node wrote out of any range: no age, no beat_ago, no crash" {
	# a member and a gone node, as anyone with Redis access can write
	now=$(redis_ms)
	rcli zadd wq:nodes "$now" big >/dev/null
	rcli hset wq:node:big instance i alive 1 timeout_ms 60000 started_at 1e300 >/dev/null
	rcli zadd wq:gone "$now" old >/dev/null
	rcli hset wq:node:old alive 0 started_at -1e300 last_seen 1e308 >/dev/null
	run wq-peers --all
	assert_success
	[ "$(echo "$output" | jq -s 'map(select(.age != null)) | length')" = 0 ]
	[ "$(echo "$output" | jq -s 'map(select(.name == "old" and .beat_ago != null)) | length')" = 0 ]
	[ "$(echo "$output" | jq -s 'map(select(.name == "big" and .beat_ago != null)) | length')" = 1 ]
}

@test "errors: Redis unreachable exits 3; bad options exit 2" {
	run wq-peers --redis "unix://$(suite_dir)/none.sock"
	assert_failure 3
	assert_output --regexp '^wq-peers: cannot connect to Redis'
	run wq-peers --interval 0.01 --watch
	assert_failure 2
	assert_output 'wq-peers: bad --interval: at least 0.1'
	run wq-peers extra
	assert_failure 2
	run wq-peers --api http://127.0.0.1:1
	assert_failure 2
	run wq-peers --help
	assert_success
	assert_output --partial '--watch'
}
