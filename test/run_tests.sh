#!/bin/bash
# test/run_tests.sh - build the extension and run every test against a
# throwaway PostgreSQL 15 cluster
#
# Usage: bash test/run_tests.sh      (from any folder; as root on Debian 12,
#                                     which lets it install what is missing)
#
# Steps: install the missing Debian packages, build with compiler warnings
# as errors (always, not only in CI, so that a warning never first shows up
# in CI; LRML_WERROR=0 relaxes that while iterating), install, start a
# throwaway cluster (test/setup.sh), then run
#
#   1. pg_regress: "make installcheck", i.e. sql/*.sql against
#      expected/*.out in database contrib_regression; results/ and
#      regression.diffs are written in the repository;
#   2. TAP tests: test/t/*.pl, one prove run per file, as the unprivileged
#      user that owns the cluster (PostgreSQL::Test::Cluster runs initdb,
#      which refuses root), with PostgreSQL's TAP modules from the
#      postgresql-server-dev-15 package on the include path;
#   3. shell tests: test/*.test.sh, see "Shell tests" below.
#
# Counting: each pg_regress test, each TAP file and each shell test is one
# test.  The last line of output is exactly "N passed, N failed"; a line
# "N skipped" comes just before it when a shell test was skipped.  The exit status is 0 only when
# nothing failed; a failed set-up or build, or an interruption, counts as
# one failure.
#
# Shell tests (test/*.test.sh):
#   - each runs with bash from the repository root as the user running this
#     script (root in CI), with PGHOST, PGPORT and PGUSER (a superuser)
#     pointing at the throwaway cluster and PGDATABASE naming a fresh
#     database "lrml_test_<name>" in which the extension already exists;
#     the database is dropped afterwards;
#   - exit status 0 means passed, 77 skipped (say why on standard output),
#     anything else failed.
#
# See test/README.md for the environment variables.

set -euo pipefail

# shellcheck source=test/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

PHASE="set-up"
PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=()

# Record the outcome of one test: pass, fail or skip, and its name.
record()
{
	case "$1" in
		pass) PASSED=$((PASSED + 1)) ;;
		fail)
			FAILED=$((FAILED + 1))
			FAILED_NAMES+=("$2")
			;;
		skip) SKIPPED=$((SKIPPED + 1)) ;;
	esac
}

# EXIT hook (see lrml_on_exit): print the summary as the very last line and
# choose the exit status.  $1 is the status the script was ending with; a
# signal, or an error outside the tests (set-up, build), counts as one
# failure.
lrml_finish()
{
	local status="$1" summary

	case "$status" in
		0) ;;
		129 | 130 | 143) record fail "$PHASE (interrupted)" ;;
		*) [ "$FAILED" -gt 0 ] || record fail "$PHASE (exit status $status)" ;;
	esac
	if [ "$((PASSED + FAILED + SKIPPED))" -eq 0 ]; then
		lrml_warn "no tests were found"
	fi
	if [ "$FAILED" -gt 0 ]; then
		printf '\nfailed:\n'
		printf '  %s\n' "${FAILED_NAMES[@]}"
	fi
	printf '\n'
	[ "$SKIPPED" -gt 0 ] && printf '%s skipped (not counted below)\n' "$SKIPPED"
	printf '%s passed, %s failed\n' "$PASSED" "$FAILED"
	[ "$FAILED" -eq 0 ]
}

# Print the server log lines that tell of a crash, if any.
show_server_crashes()
{
	[ -f "$LRML_TMP/server.log" ] || return 0
	grep -E 'PANIC|TRAP:|terminated by signal|was terminated by' \
		"$LRML_TMP/server.log" | head -n 20 >&2 || true
}

# Run pg_regress through "make installcheck" and count its tests.
#
# pg_regress prints one line per test, "test NAME ... ok" or
# "... FAILED" (an indented "NAME ... ok" inside a parallel group); those
# lines are counted.  A non-zero exit with no FAILED line (it could not
# connect, or could not create the extension) counts as one failure.
run_pg_regress()
{
	local out="$LRML_TMP/installcheck.log" status=0 ok bad line name
	local files=("$LRML_REPO"/sql/*.sql)

	if [ ! -e "${files[0]}" ]; then
		lrml_log "pg_regress: no tests (sql/*.sql)"
		return 0
	fi
	lrml_log "pg_regress: ${#files[@]} tests (make installcheck)"
	# shellcheck disable=SC2016 # expanded by the inner shell
	lrml_run "$LRML_REPO" bash -o pipefail -c \
		'env -u LRML_WERROR make installcheck PG_CONFIG="$1" 2>&1 | tee "$2"' \
		installcheck "$LRML_PG_CONFIG" "$out" || status=$?

	ok=0
	bad=0
	while IFS= read -r line; do
		name="$(sed -E 's/^ *(test +)?([^ ]+) +\.\.\..*/\2/' <<<"$line")"
		case "$line" in
			*"... ok"* | *"failed (ignored)"*)
				ok=$((ok + 1))
				record pass "$name"
				;;
			*)
				bad=$((bad + 1))
				record fail "pg_regress $name"
				;;
		esac
	done < <(grep -E '^ *(test +)?[^ ]+ +\.\.\. +(ok|FAILED|failed)' "$out" || true)

	if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
		record fail "pg_regress (exit status $status)"
	elif [ "$status" -eq 0 ] && [ "$ok" -eq 0 ]; then
		record fail "pg_regress (no test results found)"
	fi
	if [ -s "$LRML_REPO/regression.diffs" ] && [ "$status" -ne 0 ]; then
		printf '\n==> head of regression.diffs\n'
		head -n 80 "$LRML_REPO/regression.diffs"
	fi
	[ "$status" -eq 0 ] || show_server_crashes
	return 0
}

# Print a folder from which the server user can read the repository: the
# repository itself, or a copy in the temporary folder when the repository
# lies where that user cannot go (under /root, for example).
readable_repo()
{
	local copy="$LRML_TMP/repo"

	if lrml_as_server_user test -r "$LRML_REPO/test" -a -x "$LRML_REPO/test"; then
		echo "$LRML_REPO"
		return 0
	fi
	if [ ! -d "$copy" ]; then
		mkdir -p "$copy"
		tar -C "$LRML_REPO" --exclude=./.git -cf - . | tar -C "$copy" -xf -
		chown -R "$LRML_SERVER_USER:" "$copy"
	fi
	echo "$copy"
}

# Print a shared data folder the server user can read (a copy if needed),
# or nothing when there is no shared data.
readable_shared_data()
{
	local copy="$LRML_TMP/shared/data"

	[ -n "${LRML_SHARED_DATA:-}" ] || return 0
	if lrml_as_server_user test -r "$LRML_SHARED_DATA" -a -x "$LRML_SHARED_DATA"; then
		echo "$LRML_SHARED_DATA"
		return 0
	fi
	if [ ! -d "$copy" ]; then
		mkdir -p "$copy"
		cp -a "$LRML_SHARED_DATA/." "$copy/"
		chown -R "$LRML_SERVER_USER:" "$LRML_TMP/shared"
	fi
	echo "$copy"
}

# Run each TAP test (test/t/*.pl) with prove as the server user.
#
# A test may create its own nodes with PostgreSQL::Test::Cluster (initdb and
# pg_ctl come from /usr/lib/postgresql/15/bin, first in PATH), or connect
# to the run's cluster through LRML_TEST_PGHOST, LRML_TEST_PGPORT and
# LRML_TEST_PGUSER.  TESTDIR (where tmp_check/ and its logs go) is a
# folder of its own in the temporary folder; on failure the end of the
# test's log is shown.
run_tap_tests()
{
	local files=("$LRML_REPO"/test/t/*.pl) repo shared file name testdir
	local status

	if [ ! -e "${files[0]}" ]; then
		lrml_log "TAP: no tests (test/t/*.pl)"
		return 0
	fi
	lrml_log "TAP: ${#files[@]} test files (prove, as $LRML_SERVER_USER)"
	repo="$(readable_repo)"
	shared="$(readable_shared_data)"
	for file in "${files[@]}"; do
		name="$(basename "$file" .pl)"
		testdir="$LRML_TMP/tap/$name"
		lrml_as_server_user mkdir -p "$testdir"
		status=0
		# shellcheck disable=SC2016 # expanded by the inner shell
		lrml_run "$LRML_TMP" "${LRML_AS_SERVER_USER[@]}" env \
			PATH="$LRML_PG_BIN:$PATH" \
			TESTDIR="$testdir" \
			PG_REGRESS="$LRML_PGXS_DIR/src/test/regress/pg_regress" \
			LRML_REPO="$repo" \
			LRML_SHARED_DATA="$shared" \
			sh -c 'cd "$LRML_REPO" && exec prove -I "$1" -I test/t "$2"' \
			prove "$LRML_PGXS_DIR/src/test/perl" "test/t/$name.pl" \
			2>&1 || status=$?
		if [ "$status" -eq 0 ]; then
			record pass "$name"
		else
			record fail "TAP test/t/$name.pl"
			show_tap_log "$testdir" "$name"
		fi
	done
}

# Show the end of a failed TAP test's log.
show_tap_log()
{
	local log="$1/tmp_check/log/regress_log_$2"

	[ -f "$log" ] || return 0
	printf '\n==> end of %s\n' "regress_log_$2"
	tail -n 40 "$log"
}

# Run each shell test (test/*.test.sh) in a fresh database of its own.
run_shell_tests()
{
	local files=("$LRML_REPO"/test/*.test.sh) file name db status

	if [ ! -e "${files[0]}" ]; then
		lrml_log "shell tests: none (test/*.test.sh)"
		return 0
	fi
	lrml_log "shell tests: ${#files[@]}"
	for file in "${files[@]}"; do
		name="$(basename "$file" .test.sh)"
		db="lrml_test_$(tr '[:upper:]' '[:lower:]' <<<"$name" | tr -c 'a-z0-9_\n' _)"
		echo "--- $name"
		if ! PGOPTIONS='-c client_min_messages=warning' \
			lrml_psql -q -d postgres </dev/null \
			-c "DROP DATABASE IF EXISTS $db" \
			-c "CREATE DATABASE $db" ||
			! lrml_psql -q -d "$db" </dev/null \
				-c "CREATE EXTENSION $LRML_EXTENSION"; then
			record fail "shell test/$name.test.sh (database set-up)"
			continue
		fi
		status=0
		PGDATABASE="$db" lrml_run "$LRML_REPO" bash "$file" 2>&1 ||
			status=$?
		case "$status" in
			0)
				echo "--- $name: passed"
				record pass "$name"
				;;
			77)
				echo "--- $name: skipped"
				record skip "$name"
				;;
			*)
				echo "--- $name: FAILED (exit status $status)"
				record fail "shell test/$name.test.sh"
				;;
		esac
		lrml_psql -q -d postgres </dev/null \
			-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
			true
	done
}

main()
{
	lrml_install_traps
	lrml_lock
	lrml_install_packages
	lrml_build "${LRML_WERROR:-1}"
	lrml_start_cluster

	PHASE="pg_regress"
	run_pg_regress
	PHASE="TAP tests"
	run_tap_tests
	PHASE="shell tests"
	run_shell_tests
	PHASE="end"
	[ "$FAILED" -eq 0 ]
}

main "$@"
