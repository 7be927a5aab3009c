#!/usr/bin/env bats
# The web console at / of wq-api, in headless Chromium (Debian's chromium
# and chromium-driver, driven over the WebDriver protocol with curl):
# enter the token, submit work through the form, see it reach worked, and
# keep a screenshot in tests/out/; list the schedules, pause, resume,
# remove and add them; cancel and retry a job, pause and resume a queue,
# retry its dead list; the events as the stream brings them.  Without the right token the page is refused.

load helpers
load api-helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() {
	redis_flush
	wd_port=$(free_port)
	start chromedriver chromedriver --port="$wd_port" --allowed-ips=127.0.0.1
	wait_for 20 curl -sf "http://127.0.0.1:$wd_port/status"
	WD="http://127.0.0.1:$wd_port"
}
teardown() {
	[ -n "${SID:-}" ] && curl -s -X DELETE "$WD/session/$SID" >/dev/null
	api_logs_clean
	stop_started
}

# wd METHOD PATH [JSON]: one WebDriver call; prints its "value".
wd() {
	local out
	out=$(curl -s -X "$1" -H 'Content-Type: application/json' \
		${3:+--data "$3"} "$WD$2") || return 1
	if echo "$out" | jq -e '.value.error? // empty' >/dev/null 2>&1; then
		echo "webdriver: $out" >&2
		return 1
	fi
	echo "$out" | jq -c .value
}

session() {
	local prof
	prof=$(mktemp -d "$(suite_dir)/chrome.XXXXXX")
	SID=$(wd POST /session '{"capabilities":{"alwaysMatch":{"browserName":"chrome",
		"goog:chromeOptions":{"binary":"/usr/bin/chromium","args":["--headless",
		"--no-sandbox","--disable-gpu","--no-first-run","--disable-background-networking",
		"--disable-component-update","--disable-sync","--disable-dev-shm-usage",
		"--window-size=1280,900","--user-data-dir='"$prof"'"]}}}}' | jq -r .sessionId)
	[ -n "$SID" ] && [ "$SID" != null ]
}

find_el() {
	wd POST "/session/$SID/element" "{\"using\":\"css selector\",\"value\":\"$1\"}" |
		jq -r '.[]'
}

type_in() {
	local e
	e=$(find_el "$1") && wd POST "/session/$SID/element/$e/value" \
		"$(jq -nc --arg t "$2" '{text:$t}')" >/dev/null
}

click() {
	local e
	e=$(find_el "$1") && wd POST "/session/$SID/element/$e/click" '{}' >/dev/null
}

text_of() {
	local e
	e=$(find_el "$1") && wd GET "/session/$SID/element/$e/text" | jq -r .
}

text_has() {
	text_of "$1" | grep -q "$2"
}

text_lacks() {
	local t
	t=$(text_of "$1") && ! grep -q "$2" <<<"$t"
}

@test "the console: token, submit through the form, follow it to worked" {
	api_start api --token s3cret --name api-console
	start w1 wq-worker --jq '"done: " + .'
	url=$(api_url api)
	# without the token the console itself is refused
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/" -H 'Accept: text/html')" = 401 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v1/peers")" = 401 ]
	session
	wd POST "/session/$SID/url" "{\"url\":\"$url/\"}" >/dev/null
	type_in '#t' s3cret
	click 'form#f button'
	# the console shows this instance and its members
	wait_for 20 text_has '#node' api-console
	wait_for 20 text_has '#members' worker-
	type_in '#data' hello-console
	click 'form#submit button'
	wait_for 20 text_has '#follow' worked
	run text_of '#follow'
	assert_output --partial "$(printf '%s' hello-console | md5sum | cut -c1-32 | tr a-f A-F)"
	# the job really is worked, in Redis
	id=$(printf '%s' hello-console | md5sum | cut -c1-32 | tr a-f A-F)
	[ "$(job_status "$id")" = worked ]
	wait_for 20 text_has '#recent' "$id"
	# the events panel follows the event stream (SSE): its job's end,
	# and work submitted from a shell, without a reload
	wait_for 20 text_has '#events' "$id"
	cli=$(wq-submit from-the-shell | jq -r .callback)
	wait_for 20 text_has '#events' "$cli"
	# keep what a person would see
	out=${WQ_TEST_OUT:-$WQ_SRCDIR/tests/out}
	mkdir -p "$out"
	wd GET "/session/$SID/screenshot" | jq -r . | base64 -d >"$out/console.png"
	[ "$(head -c 8 "$out/console.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
}

@test "the console: schedules with their next times; pause, resume, remove, add" {
	api_start api --token s3cret
	url=$(api_url api)
	wq-cron add nightly '0 3 * * *' --tz Europe/Paris >/dev/null
	wq-cron add tick '@every 1h' >/dev/null
	session
	wd POST "/session/$SID/url" "{\"url\":\"$url/\"}" >/dev/null
	type_in '#t' s3cret
	click 'form#f button'
	wait_for 20 text_has '#schedules' nightly
	# the next time shown is the one wq-cron gives, in its zone
	next=$(wq-cron ls | jq -r 'select(.name == "nightly") | .next[0]')
	[[ $next == *T03:00:00+0[12]:00 ]]
	text_has '#schedules' "$next"
	text_has '#schedules' tick
	# pause and resume tick from its buttons
	click 'button[data-name=tick][data-verb=pause]'
	wait_for 20 sh -c "redis-cli -s '$WQ_TEST_SOCK' hget wq:schedule:tick paused | grep -qx 1"
	wait_for 20 text_has '#schedules' paused
	[ -z "$(rcli zscore wq:cron tick)" ]
	click 'button[data-name=tick][data-verb=resume]'
	wait_for 20 sh -c "redis-cli -s '$WQ_TEST_SOCK' hget wq:schedule:tick paused | grep -qx 0"
	[ -n "$(rcli zscore wq:cron tick)" ]
	# remove nightly
	click 'button[data-name=nightly][data-verb=remove]'
	wait_for 20 sh -c "! wq-cron ls | grep -q nightly"
	wait_for 20 text_lacks '#schedules' nightly
	# add one through the form; a bad one is refused with its column
	type_in '#cron-name' web
	type_in '#cron-spec' '*/5 * * * *'
	type_in '#cron-queue' reports
	click 'form#cron-add button'
	wait_for 20 text_has '#cron-msg' 'web: added'
	run wq-cron ls
	assert_output --partial '"name":"web","spec":"*/5 * * * *"'
	assert_output --partial '"queue":"reports"'
	wait_for 20 text_has '#schedules' web
	wd POST "/session/$SID/element/$(find_el '#cron-spec')/clear" '{}' >/dev/null
	type_in '#cron-spec' '61 * * * *'
	click 'form#cron-add button'
	wait_for 20 text_has '#cron-msg' 'column 1'
}

@test "the console: cancel a job, retry it, pause and resume a queue, retry its dead list" {
	api_start api --token s3cret
	url=$(api_url api)
	held=$(wq-submit --queue held held-job | jq -r .callback)
	bad=$(wq-submit --queue bad --max-attempts 1 bad-job | jq -r .callback)
	start wb wq-worker --queue bad --jq 'error("no")' --quiet
	wait_for 20 status_is "$bad" failed
	kill "$(pid_of wb)"
	session
	wd POST "/session/$SID/url" "{\"url\":\"$url/\"}" >/dev/null
	type_in '#t' s3cret
	click 'form#f button'
	wait_for 20 text_has '#recent' "$held"
	# cancel the pending job, then retry it (a click is tried again when
	# the table was redrawn under it: a stale element)
	wait_for 20 click "button[data-id='$held'][data-verb=cancel]"
	wait_for 20 status_is "$held" cancelled
	wait_for 20 text_has '#ctl-msg' "$held: cancelled"
	wait_for 20 click "button[data-id='$held'][data-verb=retry]"
	wait_for 20 status_is "$held" pending
	# pause the queue (tests/control.bats: no worker claims from it),
	# resume it
	wait_for 20 click "button[data-queue=held][data-verb=pause]"
	wait_for 20 eval '[ "$(rcli sismember wq:paused held)" = 1 ]'
	wait_for 20 text_has '#queues' paused
	wait_for 20 click "button[data-queue=held][data-verb=resume]"
	wait_for 20 eval '[ "$(rcli sismember wq:paused held)" = 0 ]'
	# retry the failed job of queue bad: its whole dead list
	wait_for 20 click "button[data-queue=bad][data-verb=retry]"
	wait_for 20 status_is "$bad" pending
	wait_for 20 text_has '#ctl-msg' 'bad: 1 retried'
	[ "$(rcli llen wq:dead:bad)" = 0 ]
}

@test "the console: a wrong token is refused and shows nothing" {
	api_start api --token s3cret
	url=$(api_url api)
	session
	wd POST "/session/$SID/url" "{\"url\":\"$url/\"}" >/dev/null
	type_in '#t' wrong
	click 'form#f button'
	wait_for 20 text_has '#err' refused
	# still the token page: no console, no members
	run wd POST "/session/$SID/element" '{"using":"css selector","value":"#members"}'
	assert_failure
}

@test "a page of another site cannot submit work, even with no token" {
	api_start api
	url=$(api_url api)
	# the other site: a page on another origin (another port, a name)
	site=$(mktemp -d "$(suite_dir)/site.XXXXXX")
	echo '<html><body>elsewhere</body></html>' >"$site/index.html"
	sport=$(free_port)
	start site python3 -m http.server --bind 127.0.0.1 --directory "$site" "$sport"
	wait_for 20 curl -sf "http://127.0.0.1:$sport/"
	session
	wd POST "/session/$SID/url" "{\"url\":\"http://localhost:$sport/\"}" >/dev/null
	# a no-cors text/plain POST (no preflight) and a JSON one (preflight)
	run wd POST "/session/$SID/execute/async" "$(jq -nc --arg u "$url/api/v1/work" '{
		script: "const u = arguments[0], done = arguments[1];
		    Promise.allSettled([
		      fetch(u, {method: \"POST\", mode: \"no-cors\",
		        headers: {\"Content-Type\": \"text/plain\"},
		        body: JSON.stringify({data: \"from-elsewhere\"})}),
		      fetch(u, {method: \"POST\",
		        headers: {\"Content-Type\": \"application/json\"},
		        body: JSON.stringify({data: \"from-elsewhere-2\"})})
		    ]).then((r) => done(r.map((x) => x.status)));",
		args: [$u]}')"
	assert_success
	echo "$output"
	# the browser sent the first (opaque answer), refused the second
	[ "$output" = '["fulfilled","rejected"]' ]
	# and nothing reached Redis
	[ -z "$(rcli --scan --pattern 'wq:job:*')" ]
	[ "$(rcli llen wq:queue:default)" = 0 ]
}

@test "the console: a working job's progress bar" {
	api_start api
	STOP=$(suite_dir)/stop
	export STOP
	start w1 wq-worker --exec 'echo "{\"progress\":42,\"message\":\"resizing\"}" >&$WQ_PROGRESS_FD
		while [ ! -e "$STOP" ]; do sleep 0.05; done'
	id=$(wq-submit photo | jq -r .callback)
	url=$(api_url api)
	session
	wd POST "/session/$SID/url" "{\"url\":\"$url/\"}" >/dev/null
	wait_for 20 text_has '#recent' '42% resizing'
	# (the table is redrawn: the element is looked up each time)
	wait_for 20 eval 'e=$(find_el "#recent progress") &&
		[ "$(wd GET "/session/$SID/element/$e/property/value" | jq -r .)" = 42 ]'
	touch "$STOP"
	wait_for 20 text_has '#recent' worked
	text_lacks '#recent' '42%'
	[ -n "$id" ]
}
