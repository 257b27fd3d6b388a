# test/setup.sh - shared set-up for test/demo.sh and test/run_tests.sh
# shellcheck shell=bash
#
# Sourced, never run.  It defines functions that
#
#   - install the Debian packages the build and the tests need (only the
#     missing ones; "apt-get update" runs once, only if something is missing),
#   - build and install the extension with PGXS,
#   - start a throwaway PostgreSQL 15 cluster in a fresh temporary folder,
#     reachable only through a unix socket in that folder (and, on request,
#     on loopback), run by an unprivileged OS user when we are root,
#   - stop that cluster and remove the folder from an EXIT trap, so that an
#     error or Ctrl-C never leaves a server running.
#
# A script that sources this file calls, in order: lrml_install_traps,
# lrml_lock, lrml_install_packages, lrml_build, lrml_start_cluster.  It may
# define lrml_finish, which the EXIT trap calls after the cluster is gone,
# with the script's exit status as argument; lrml_finish's status becomes
# the script's.
#
# Only the PostgreSQL 15 programs in /usr/lib/postgresql/15/bin are used,
# whatever PATH says: other programs named initdb, pg_ctl or pg_config may
# come first in PATH.
#
# Environment read (all optional):
#   LRML_WERROR=0|1     build with -Werror (default: 1 for the tests,
#                       0 for the demo)
#   LRML_TEST_LISTEN    listen_addresses of the cluster; default '' (unix
#                       socket only), set 127.0.0.1 to add loopback TCP
#   LRML_KEEP_TMP=1     keep the temporary folder (data directory, server
#                       log, test logs) after the run
#   LRML_SHARED_DATA    folder of larger shared data sets; default
#                       <repo>/../shared/data when that exists
#
# Environment exported for the tests (and for the server, so that dblink
# connections without a host reach the throwaway cluster):
#   PGHOST PGPORT PGUSER PGDATABASE, and the same values as LRML_TEST_PGHOST,
#   LRML_TEST_PGPORT, LRML_TEST_PGUSER (PostgreSQL's TAP modules clear PG*),
#   LRML_REPO, LRML_EXTENSION, LRML_PG_BIN, LRML_PGXS_DIR, LRML_TMP,
#   LRML_SHARED_DATA, OPENBLAS_NUM_THREADS=1.

# Where things are.
LRML_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
LRML_PG_BIN=/usr/lib/postgresql/15/bin
LRML_PG_CONFIG="$LRML_PG_BIN/pg_config"
LRML_PGXS_DIR=/usr/lib/postgresql/15/lib/pgxs
export LRML_REPO LRML_PG_BIN LRML_PGXS_DIR

# The extension's name is the name of its control file (lrml.control).
LRML_EXTENSION=lrml
for _control in "$LRML_REPO"/*.control; do
	[ -e "$_control" ] && LRML_EXTENSION="$(basename "$_control" .control)"
done
unset _control
export LRML_EXTENSION

# Debian packages the build and the tests need.  postgresql-15 ships dblink
# (postgresql-contrib pulls it in by name); libipc-run-perl is what
# PostgreSQL's TAP modules need; perl brings prove; util-linux brings
# runuser, setsid and flock.
LRML_PACKAGES=(
	build-essential
	postgresql-15
	postgresql-server-dev-15
	postgresql-contrib
	libopenblas-dev
	libipc-run-perl
	perl
	util-linux
)

# Larger data sets shared between projects live beside the repository.
if [ -z "${LRML_SHARED_DATA:-}" ] && [ -d "$LRML_REPO/../shared/data" ]; then
	LRML_SHARED_DATA="$(cd "$LRML_REPO/../shared/data" && pwd -P)"
fi
[ -n "${LRML_SHARED_DATA:-}" ] && export LRML_SHARED_DATA

# One BLAS thread, in every client and in the server: outputs must not
# depend on the number of cores.
export OPENBLAS_NUM_THREADS=1

# Never stop to ask anything: CI runs us without standard input.
export DEBIAN_FRONTEND=noninteractive

# Set by lrml_start_cluster.
LRML_TMP=
LRML_PGDATA=
LRML_SERVER_USER=
LRML_AS_SERVER_USER=()

# The process group of the command lrml_run is waiting for, if any.
LRML_CHILD=

# Print a step heading.
lrml_log()
{
	printf '==> %s\n' "$*"
}

# Print a warning to standard error.
lrml_warn()
{
	printf 'warning: %s\n' "$*" >&2
}

# Print an error to standard error and exit (the EXIT trap cleans up).
lrml_die()
{
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# Run a command as the OS user that owns the throwaway cluster.
#
# As root that is an unprivileged user (initdb and postgres refuse to run
# as root); otherwise it is ourselves.  Runs from the temporary folder, since
# the current folder may not be readable by that user.  The prefix that
# switches user is in LRML_AS_SERVER_USER, for use with lrml_run.
lrml_as_server_user()
{
	(cd "${LRML_TMP:-/}" && "${LRML_AS_SERVER_USER[@]}" "$@")
}

# Run a program in folder $1 in a session of its own, wait for it and
# return its status.
#
# Why: bash does not act on Ctrl-C while a foreground command runs if that
# command catches SIGINT (psql does, to cancel its query), so a test run
# would go on.  A signal to this script instead interrupts "wait" at once,
# and the EXIT trap then ends the program's whole process group
# (lrml_kill_child).  The program gets no standard input.
lrml_run()
{
	local dir="$1" status=0 signal_status=

	shift
	# A signal between starting the program and noting its process id
	# must not end the script before the trap can find the program.
	trap 'signal_status=129' HUP
	trap 'signal_status=130' INT
	trap 'signal_status=143' TERM
	(cd "$dir" && exec setsid "$@") </dev/null 7>&- 8>&- 9<&- &
	LRML_CHILD=$!
	lrml_set_signal_traps
	[ -z "$signal_status" ] || exit "$signal_status"

	wait "$LRML_CHILD" || status=$?
	LRML_CHILD=
	return "$status"
}

# End the process group started by lrml_run, if it is still running: TERM
# to the group, up to ten seconds for its leader to exit, then KILL to
# whatever is left of the group.
lrml_kill_child()
{
	local i stat

	[ -n "$LRML_CHILD" ] || return 0
	kill -TERM -- "-$LRML_CHILD" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		# An exited leader stays a zombie until "wait" below.
		stat="$(cat "/proc/$LRML_CHILD/stat" 2>/dev/null)" || break
		[[ "${stat##*) }" == Z* ]] && break
		sleep 0.1
	done
	kill -KILL -- "-$LRML_CHILD" 2>/dev/null
	wait "$LRML_CHILD" 2>/dev/null
	LRML_CHILD=
	return 0
}

# Call lrml_on_exit when the script ends, however it ends.
#
# Signals become ordinary exits so that the EXIT trap runs exactly once.
# Descriptors 7 and 8 keep the script's standard output and error: a trap
# may fire while a function's output goes to a log file, and the report
# must not go there.  Long-lived children (servers) do not get them.
lrml_install_traps()
{
	exec 7>&1 8>&2
	trap lrml_on_exit EXIT
	lrml_set_signal_traps
}

# Turn HUP, INT and TERM into exits with the usual status.
lrml_set_signal_traps()
{
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# EXIT trap: stop the cluster, remove the temporary folder, then let the
# script report (lrml_finish) and decide the final exit status.
lrml_on_exit()
{
	local status=$?

	set +e
	trap - HUP INT TERM
	exec 1>&7 2>&8
	if [ "$status" -eq 130 ] || [ "$status" -eq 143 ] || [ "$status" -eq 129 ]; then
		printf '\ninterrupted\n' >&2
	fi
	lrml_kill_child
	lrml_cleanup
	if declare -F lrml_finish >/dev/null; then
		lrml_finish "$status"
		status=$?
	fi
	exit "$status"
}

# Wait until no other run of these scripts on this machine is building,
# installing or testing: two runs would rebuild the same files and install
# over each other.
lrml_lock()
{
	local lock=/tmp/lrml-tests.lock

	# Opened read-only, so that another user can take the lock on a file
	# that root created; flock works on any open descriptor.
	: >>"$lock" 2>/dev/null || true
	exec 9<"$lock" || lrml_die "cannot open lock file $lock"
	if ! flock -n 9; then
		lrml_log "waiting for another test or demo run to finish"
		flock 9
	fi
}

# Install the Debian packages that are missing, quietly; show apt's output
# only when it fails.
lrml_install_packages()
{
	local pkg missing=() log

	for pkg in "${LRML_PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${db:Status-Status}\n' "$pkg" 2>/dev/null |
			grep -qx installed; then
			missing+=("$pkg")
		fi
	done
	[ "${#missing[@]}" -eq 0 ] && return 0

	lrml_log "installing Debian packages: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		lrml_die "missing packages; as root run: apt-get update && apt-get install ${missing[*]}"
	fi
	log="$(mktemp /tmp/lrml-apt.XXXXXX)"
	if ! apt-get update -q </dev/null >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		lrml_die "apt-get update failed"
	fi
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" \
		</dev/null >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		lrml_die "apt-get install failed"
	fi
	rm -f "$log"
}

# Build and install the extension: make clean, make, make install.
#
# $1 is 1 to turn compiler warnings into errors (LRML_WERROR=1 on make's
# command line).  The LRML_WERROR environment variable is never passed to
# make itself, because the Makefile tests it with ifdef, so that even
# LRML_WERROR=0 would mean -Werror there.  The compiler's output is shown
# when the build fails, and its warnings when it succeeds.
lrml_build()
{
	local werror="${1:-0}" log jobs
	local make_args=(PG_CONFIG="$LRML_PG_CONFIG")

	[ "$werror" = 1 ] && make_args+=(LRML_WERROR=1)
	jobs="$(nproc 2>/dev/null || echo 1)"
	log="$(mktemp /tmp/lrml-build.XXXXXX)"

	if [ "$werror" = 1 ]; then
		lrml_log "building $LRML_EXTENSION (warnings are errors)"
	else
		lrml_log "building $LRML_EXTENSION"
	fi
	if ! (cd "$LRML_REPO" &&
		env -u LRML_WERROR make clean "${make_args[@]}" &&
		env -u LRML_WERROR make -j"$jobs" "${make_args[@]}") \
		</dev/null >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		lrml_die "build failed"
	fi
	grep -E '(warning|note):' "$log" >&2 || true

	lrml_log "installing $LRML_EXTENSION into $("$LRML_PG_CONFIG" --pkglibdir)"
	if ! (cd "$LRML_REPO" &&
		env -u LRML_WERROR make install "${make_args[@]}") \
		</dev/null >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		lrml_die "make install failed"
	fi
	rm -f "$log"
}

# Choose the OS user that runs the server: ourselves when not root,
# otherwise "postgres" (created by the postgresql packages), otherwise a
# dedicated system user "lrmltest", created on first use.
lrml_pick_server_user()
{
	if [ "$(id -u)" -ne 0 ]; then
		LRML_SERVER_USER="$(id -un)"
	elif getent passwd postgres >/dev/null; then
		LRML_SERVER_USER=postgres
	else
		LRML_SERVER_USER=lrmltest
		if ! getent passwd lrmltest >/dev/null; then
			useradd --system --user-group --no-create-home \
				--home-dir /nonexistent --shell /usr/sbin/nologin \
				lrmltest || lrml_die "could not create user lrmltest"
		fi
	fi
	if [ "$(id -u)" -eq 0 ]; then
		LRML_AS_SERVER_USER=(runuser -u "$LRML_SERVER_USER" --)
	fi
}

# Print the TCP ports on which something listens, one per line.
#
# Read from /proc so that no extra package is needed; state 0A is LISTEN.
lrml_listening_ports()
{
	local file local_addr rest state

	for file in /proc/net/tcp /proc/net/tcp6; do
		[ -r "$file" ] || continue
		while read -r _ local_addr rest; do
			state="${rest#* }"
			state="${state%% *}"
			[ "$state" = 0A ] && echo $((16#${local_addr##*:}))
		done < <(tail -n +2 "$file")
	done
}

# Print a port in 5500-5999 on which nothing listens and for which no
# socket lock file exists in /tmp, starting at a random place in the range.
# Ports in the space-separated list $1 are skipped as well.
lrml_pick_port()
{
	local skip=" ${1:-} " used start i port

	used=" $(lrml_listening_ports | tr '\n' ' ') "
	start=$((RANDOM % 500))
	for ((i = 0; i < 500; i++)); do
		port=$((5500 + (start + i) % 500))
		case "$used$skip" in
			*" $port "*) continue ;;
		esac
		[ -e "/tmp/.s.PGSQL.$port.lock" ] && continue
		echo "$port"
		return 0
	done
	return 1
}

# Start the throwaway cluster and export the PG* variables that reach it.
#
# The folder (mktemp -d under /tmp, mode 0700) belongs to the server user
# and holds the data directory, the unix socket and the server log.  The
# server gets OPENBLAS_NUM_THREADS=1 and the PG* variables in its
# environment.  If the port turns out to be taken after all (another server
# started in between), the next free port is tried.
lrml_start_cluster()
{
	local attempt port tried=""

	lrml_pick_server_user
	LRML_TMP="$(mktemp -d /tmp/lrml-test.XXXXXX)" ||
		lrml_die "could not create a temporary folder"
	LRML_PGDATA="$LRML_TMP/data"
	export LRML_TMP
	chmod 0700 "$LRML_TMP"
	if [ "$(id -u)" -eq 0 ]; then
		chown "$LRML_SERVER_USER:" "$LRML_TMP"
	fi

	lrml_log "creating a cluster in $LRML_TMP (OS user $LRML_SERVER_USER)"
	if ! lrml_as_server_user "$LRML_PG_BIN/initdb" -D "$LRML_PGDATA" \
		-U postgres --auth=trust --no-locale --encoding=UTF8 \
		--no-sync --no-instructions \
		</dev/null >"$LRML_TMP/initdb.log" 2>&1; then
		cat "$LRML_TMP/initdb.log" >&2
		lrml_die "initdb failed"
	fi

	for attempt in 1 2 3 4 5; do
		port="$(lrml_pick_port "$tried")" ||
			lrml_die "no free port in 5500-5999"
		tried="$tried $port"
		lrml_write_config "$port"
		if lrml_pg_ctl_start "$port"; then
			lrml_log "cluster ready on port $port"
			return 0
		fi
		if ! grep -q 'could not bind\|Address already in use' \
			"$LRML_TMP/server.log"; then
			tail -n 30 "$LRML_TMP/server.log" >&2
			lrml_die "the server did not start"
		fi
		lrml_warn "port $port is taken, trying another"
	done
	lrml_die "the server did not start after $attempt attempts"
}

# Write the settings of the throwaway cluster for port $1.
#
# fsync and friends are off: the data dies with the run.  The messages are
# in English whatever the machine's locale, so outputs compare.
lrml_write_config()
{
	local port="$1"

	lrml_as_server_user tee "$LRML_PGDATA/lrml_test.conf" >/dev/null <<EOF
# Written by test/setup.sh for a throwaway test cluster.
listen_addresses = '${LRML_TEST_LISTEN:-}'
port = $port
unix_socket_directories = '$LRML_TMP'
unix_socket_permissions = 0700
fsync = off
synchronous_commit = off
full_page_writes = off
lc_messages = 'C'
log_line_prefix = '%m [%p] %q%a '
EOF
	if ! grep -q "^include_if_exists = 'lrml_test.conf'" \
		"$LRML_PGDATA/postgresql.conf"; then
		echo "include_if_exists = 'lrml_test.conf'" |
			lrml_as_server_user tee -a "$LRML_PGDATA/postgresql.conf" \
			>/dev/null
	fi
}

# Start the server on port $1 and wait until it accepts connections.
#
# The PG* variables go into the server's environment too, so that dblink
# and other libpq clients inside the server reach this cluster.  setsid
# keeps Ctrl-C in the terminal away from the server: the EXIT trap stops it.
# Descriptors 7, 8 (see lrml_install_traps) and 9 (the run lock) are not
# passed on.
lrml_pg_ctl_start()
{
	local port="$1"

	export PGHOST="$LRML_TMP" PGPORT="$port" PGUSER=postgres
	export PGDATABASE=postgres
	export LRML_TEST_PGHOST="$PGHOST" LRML_TEST_PGPORT="$PGPORT"
	export LRML_TEST_PGUSER="$PGUSER"
	lrml_as_server_user env OPENBLAS_NUM_THREADS=1 \
		PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" \
		setsid -w "$LRML_PG_BIN/pg_ctl" -D "$LRML_PGDATA" \
		-l "$LRML_TMP/server.log" -w -t 60 start \
		</dev/null >/dev/null 2>&1 7>&- 8>&- 9<&-
}

# Stop every server whose data directory lies in the temporary folder: the
# throwaway cluster and any cluster a TAP test left running.  Fast shutdown
# first, then immediate, then SIGKILL to the postmaster we started.
lrml_stop_servers()
{
	local pidfile datadir pid

	[ -n "$LRML_TMP" ] && [ -d "$LRML_TMP" ] || return 0
	while IFS= read -r pidfile; do
		datadir="$(dirname "$pidfile")"
		pid="$(head -n 1 "$pidfile" 2>/dev/null)"
		lrml_as_server_user "$LRML_PG_BIN/pg_ctl" -D "$datadir" \
			-m fast -w -t 30 stop </dev/null >/dev/null 2>&1 && continue
		lrml_as_server_user "$LRML_PG_BIN/pg_ctl" -D "$datadir" \
			-m immediate -w -t 30 stop </dev/null >/dev/null 2>&1 &&
			continue
		if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
			lrml_warn "killing postmaster $pid of $datadir"
			kill -KILL "$pid" 2>/dev/null
		fi
	done < <(find "$LRML_TMP" -name postmaster.pid -type f 2>/dev/null)
}

# Stop the servers and remove the temporary folder (unless LRML_KEEP_TMP=1).
lrml_cleanup()
{
	[ -n "$LRML_TMP" ] && [ -d "$LRML_TMP" ] || return 0
	lrml_log "stopping the cluster"
	lrml_stop_servers
	if [ "${LRML_KEEP_TMP:-0}" = 1 ]; then
		lrml_log "kept $LRML_TMP (LRML_KEEP_TMP=1)"
	else
		rm -rf "$LRML_TMP"
	fi
	LRML_TMP=
}

# Run psql against the throwaway cluster: no psqlrc, stop on the first
# error, never prompt for a password.
lrml_psql()
{
	"$LRML_PG_BIN/psql" -X -w -v ON_ERROR_STOP=1 "$@"
}
