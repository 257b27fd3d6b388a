#!/bin/bash
# test/demo.sh - train and score a churn model inside a throwaway
# PostgreSQL 15 cluster
#
# Usage: bash test/demo.sh      (from any folder; as root on Debian 12,
#                                which lets it install what is missing)
#
# Installs the missing Debian packages, builds and installs the extension
# (compiler warnings are shown but are not errors; LRML_WERROR=1 makes them
# errors), starts a throwaway cluster (test/setup.sh), creates database
# lrml_demo and runs test/demo.sql in it: load test/data/mlc_churn.csv into
# table "customers", train a logistic model with lrml.train and print its
# training curve, train a small mlp beside it, tune the logistic model's
# rate with a Bayesian search, print lrml.evaluate's metrics of both, and
# list the ten customers most likely to leave.  The cluster is stopped and
# removed at the end, also on an error or Ctrl-C.

set -euo pipefail

# shellcheck source=test/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

main()
{
	lrml_install_traps
	lrml_lock
	lrml_install_packages
	lrml_build "${LRML_WERROR:-0}"
	lrml_start_cluster

	lrml_log "creating database lrml_demo"
	lrml_psql -q -d postgres -c 'CREATE DATABASE lrml_demo' </dev/null

	lrml_log "running test/demo.sql"
	echo
	(cd "$LRML_REPO" &&
		lrml_psql -d lrml_demo -f test/demo.sql </dev/null) ||
		lrml_die "test/demo.sql failed"
	echo
}

main "$@"
