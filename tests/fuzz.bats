#!/usr/bin/env bats
# The libFuzzer targets of fuzz/: every saved regression input replayed,
# then each target fuzzed for a short while (5 s; `make fuzz` runs them
# for a minute).  A crash, a leak, undefined behaviour or a broken promise
# fails the test, with the input left in the suite's directory.  And the
# fixed bugs, seen from the commands: what the fuzzers found there.

load helpers

setup_file() {
	redis_start
	# The targets are built with clang against the sources of lib/, on
	# every core (some 30 s of CPU, each source on its own).
	make -C "$WQ_BUILDDIR" -j"$(nproc)" fuzz-build \
	    >"$(suite_dir)/fuzz-build.log" 2>&1 || {
		tail -20 "$(suite_dir)/fuzz-build.log" >&2
		return 1
	}
}
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { stop_started; redis_stop pw; }

FUZZ_SECONDS=${WQ_FUZZ_SECONDS:-5}

# fuzz NAME: the regressions, then FUZZ_SECONDS of fuzzing.
fuzz() {
	run env WQ_FUZZ_CRASHDIR="$(suite_dir)/crash-$1" "$WQ_SRCDIR/fuzz/run" \
		"$1" "$FUZZ_SECONDS" "$(suite_dir)/corpus-$1"
	echo "$output"
	assert_success
	assert_output --regexp "$1: [0-9]+ runs in ${FUZZ_SECONDS}s"
	# Nothing was saved as a crash.
	[ -z "$(ls -A "$(suite_dir)/crash-$1")" ]
}

@test "fuzz the job parser: JSON job objects, data strings, id lines" {
	fuzz spec
}

@test "fuzz the Redis URLs, their masked form, and every setting" {
	fuzz url
}

@test "fuzz the decoder of inbox messages" {
	fuzz msg
}

@test "fuzz the API's body: JSON, limits, the command it builds" {
	fuzz body
}

@test "fuzz a record's line: made without jv, byte for byte jv's" {
	fuzz record
}

@test "fuzz schedule expressions and their next times in DST zones" {
	fuzz cron
}

@test "fuzz/run fails when a target crashes, and keeps the input" {
	local b
	b="$(suite_dir)/selftest"
	mkdir -p "$b/fuzz/build"
	cat >"$b/crashy.c" <<'C'
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n >= 2 && d[0] == 'w' && d[1] == 'q')
		abort();
	return 0;
}
C
	clang -fsanitize=fuzzer -o "$b/fuzz/build/fuzz-crashy" "$b/crashy.c"
	run env WQ_BUILDDIR="$b" WQ_FUZZ_CRASHDIR="$b/crash" \
		"$WQ_SRCDIR/fuzz/run" crashy 10 "$b/corpus"
	assert_failure 1
	assert_output --partial 'crashy failed'
	grep -l '^wq' "$b"/crash/crash-*
}

# What the fuzzers found, seen from the commands and the API.

@test "a password is masked however many the URL has; the last one is used" {
	load api-helpers
	redis_start pw --requirepass s3cret
	api_start api --redis "unix://$(suite_dir)/pw.sock?password=wrong&password=s3cret"
	run curl -s "$(api_url api)/healthz"
	assert_output --partial '"status":"ok"'
	run log_of api
	assert_output --partial 'password=***'
	refute_output --partial s3cret
	refute_output --partial wrong
	api_logs_clean
}

@test "wq-submit refuses what is not RFC 8259 JSON, and queues nothing" {
	for line in '{"data":nan}' '{"data":01}' '{"data":.5}' '{"data":1.}' \
	    "$(printf '{"data":"\xff"}')" "$(printf '{"data":"a\tb"}')" \
	    '{"data":1,"x" "y"}' '{"data":1} {"data":2}' "$(printf '\xef\xbb\xbf{"data":1}')" \
	    "$(printf '%0300d' 0 | tr 0 '[')1$(printf '%0300d' 0 | tr 0 ']')"; do
		run wq-submit --json <<<"$line"
		assert_failure 2
		assert_output --regexp '^wq-submit: input 1: malformed JSON: .* at byte [0-9]+$'
	done
	# A high surrogate without its pair, which jq refuses in its own words.
	run wq-submit --json <<<'{"data":"\ud83d?"}'
	assert_failure 2
	assert_output --partial 'malformed JSON: unpaired surrogate'
	# JSON as the RFC has it still goes, escapes included, and as deep as
	# jq goes: 256 levels on its stack, where a key counts as one.
	chain() { # {"data":{"a":{"a":...V...}}} with N objects in all
		printf '{"data":'
		for _ in $(seq $(( $1 - 1 ))); do printf '{"a":'; done
		printf '%s' "$2"
		for _ in $(seq $1); do printf '}'; done
		echo
	}
	run wq-submit --json <<<"$(chain 128 '"caf\u00e9 \ud83d\ude00 -1.5e-3"')"
	assert_success
	run wq-submit --json <<<"$(chain 128 '[]')"
	assert_failure 2
	assert_output --partial 'malformed JSON: nested too deep'
	deep="$(printf '%0254d' 0 | tr 0 '[')$(printf '%0254d' 0 | tr 0 ']')"
	run wq-submit --json <<<"{\"data\":$deep}"
	assert_success
	run wq-submit --json <<<"{\"data\":[$deep]}"
	assert_failure 2
	[ "$(rcli llen wq:queue:default)" = 2 ]
}

@test "a number beyond a long's range is refused, not cast" {
	for f in timeout max_attempts ttl; do
		run wq-submit --json <<<"{\"data\":1,\"$f\":1e300}"
		assert_failure 2
		assert_output --partial "\"$f\" must be a whole number"
		run wq-submit --json <<<"{\"data\":1,\"$f\":-1e300}"
		assert_failure 2
	done
	[ "$(rcli llen wq:queue:default)" = 0 ]
}

@test "--lines: bytes that are not UTF-8 count as the U+FFFD they become" {
	# 400 bytes in, 1200 bytes of data: over --max-data 1000.
	run sh -c "head -c 400 /dev/zero | tr '\\0' '\\377' | wq-submit --lines --max-data 1000"
	assert_failure 2
	assert_output --partial 'data is 1200 bytes, over the limit of 1000'
	run sh -c "head -c 300 /dev/zero | tr '\\0' '\\377' | wq-submit --lines --max-data 1000"
	assert_success
	[ "$(rcli llen wq:queue:default)" = 1 ]
}
