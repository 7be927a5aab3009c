#!/usr/bin/env bats
# bench/run, small: wq and the naive hiredis loop through the drain,
# submit and latency scenarios, as CI can afford (the peers and the full
# sizes are for bench/run itself: bench/README.md).  bench/run starts its
# own redis-server on a free loopback port; the suite's is not used.

load helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { stop_started; }

# row FILE SCENARIO SYSTEM: the values of the matching NDJSON rows.
row() {
	jq -r --arg s "$2" --arg y "$3" \
	    'select(.scenario == $s and .system == $y) | .value' "$1"
}

@test "bench/run measures wq and the naive loop and keeps every row" {
	out=$(suite_dir)/results
	run env BENCH_RESULTS="$out" BENCH_NO_INSTALL=1 BENCH_PEERS=wq,naive \
	    BENCH_REPS=1 BENCH_JOBS=2000 BENCH_SUBMIT=5000 BENCH_SUBMIT_ONE=500 \
	    BENCH_RATE=200 BENCH_SECS=1 BENCH_DUE=2000 BENCH_DUE_LEAD=2 \
	    "$WQ_SRCDIR/bench/run" drain submit latency control
	echo "$output"
	assert_success
	nd=$(echo "$out"/run-*.ndjson)
	[ -s "$nd" ]
	# Every line is JSON with a load average, and stdout had them all.
	[ "$(jq -s length "$nd")" = "$(printf '%s\n' "$output" | grep -c '^{"scenario"')" ]
	jq -e -s 'all(.[]; .load >= 0 and (.value | type) == "number")' "$nd"
	# wq: a drain, its memory and RSS, both submits, a latency.
	[ "$(row "$nd" drain wq)" -gt 0 ]
	[ "$(row "$nd" memory wq | wc -l)" = 2 ]
	[ "$(row "$nd" memory wq | awk '$1 > 0' | wc -l)" = 2 ]
	[ "$(row "$nd" submit wq | awk '$1 > 0' | wc -l)" = 2 ]
	jq -e -s 'map(select(.scenario == "latency" and .system == "wq")) |
	    length == 1 and (.[0] | .p50 > 0 and .p50 <= .p99 and .p99 <= .max)' \
	    "$nd"
	# job control: the drains of priority 0 and of 10 priorities, the
	# jobs due at one second
	[ "$(row "$nd" control wq | awk '$1 > 0' | wc -l)" = 3 ]
	jq -e -s 'map(select(.scenario == "control" and (.variant | test("due")))) |
	    .[0].seconds[0] > 0' "$nd"
	# The naive loop: two drains (1 and 100 per round trip), two submits.
	[ "$(row "$nd" drain naive | awk '$1 > 0' | wc -l)" = 2 ]
	[ "$(row "$nd" submit naive | awk '$1 > 0' | wc -l)" = 2 ]
	# The summary has a column per system and the drain line.
	md=${nd%.ndjson}.md
	grep -q '^| | wq | hiredis loop | hiredis x100 |$' "$md"
	grep -q '^| drain, 2 processes (jobs/s) | [0-9,]* |' "$md"
}

@test "bench/run refuses an unknown scenario, and runs nothing" {
	out=$(suite_dir)/nothing
	run env BENCH_RESULTS="$out" BENCH_NO_INSTALL=1 "$WQ_SRCDIR/bench/run" drain nosuch
	assert_failure 2
	assert_output --partial 'unknown scenario nosuch'
	[ ! -e "$out" ]
}
