#!/usr/bin/env bats
# lint: make lint, what a machine can check of the code (scripts/lint
# says what: line length, banned patterns, long and dead functions, the
# man pages, the shell scripts), run with the suites so that CI counts
# it; and a copy of the tree with one fault of each kind, to show that
# it finds them.

load helpers

@test "make lint is clean" {
	run make -C "$WQ_BUILDDIR" -s lint
	echo "$output"
	assert_success
	assert_output --partial "scripts/lint: clean"
}

@test "scripts/lint finds a long line, strcpy, n * size, a long function, a dead one" {
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/wq-lint.XXXXXX")
	(cd "$WQ_SRCDIR" && tar cf - lib cmd kore-api fuzz man scripts bench \
		tests/run tests/bin tests/helpers.bash tests/api-helpers.bash .ci) |
		(cd "$d" && tar xf -)
	{
		printf '\nstatic void\nlint_bad(char *b)\n{\n'
		printf '\tstrcpy(b, "this line is long: %s");\n' \
			"$(printf '%070d' 0)"
		printf '\tb = wq_realloc(b, 3 * sizeof(*b));\n'
		for i in $(seq 85); do printf '\tb[0] = %d;\n' "$i"; done
		printf '}\n'
	} >>"$d/lib/json.c"
	# a build whose one object defines a function nobody calls
	mkdir -p "$d/build/lib"
	printf 'int lint_dead(void);\nint\nlint_dead(void)\n{\n\treturn 0;\n}\n' \
		>"$d/build/dead.c"
	cc -c -o "$d/build/lib/dead.o" "$d/build/dead.c"
	run "$d/scripts/lint" "$d/build"
	rm -rf "$d"
	echo "$output"
	assert_failure 1
	assert_output --regexp 'lib/json\.c:[0-9]+: [0-9]+ columns'
	assert_output --regexp 'lib/json\.c:[0-9]+: unbounded string function'
	assert_output --regexp 'lib/json\.c:[0-9]+: n \* size in wq_realloc'
	assert_output --regexp 'lib/json\.c:[0-9]+: lint_bad is 8[0-9] lines'
	assert_output --partial 'lib/dead.c: lint_dead is called from nowhere'
}
