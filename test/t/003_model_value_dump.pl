# lrml.model values in a user table survive pg_dump / pg_restore, in the
# custom format and in a plain-text dump: the restored values are the
# same bytes and score the same, and per-group models trained in a
# parallel plan equal those of a serial plan on a larger table.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "fsync = off");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql(
	'src', q{
CREATE EXTENSION lrml;
CREATE TABLE customers AS
  SELECT g AS id, g % 20 AS region, (g % 7) / 7.0 AS a,
         ((g * 3) % 11) / 11.0 AS b,
         ((g % 7) / 7.0 + ((g * 3) % 11) / 11.0) > 1.0 + (g % 20) / 40.0 AS y
  FROM generate_series(1, 200000) g;
CREATE TABLE region_models AS
  SELECT region, lrml.fit(ARRAY[a, b]::float8[], y, '{"epochs": 5}') AS m
  FROM customers GROUP BY region;
});

my $score = q{SELECT string_agg(region || ':' || lrml.predict(m, ARRAY[0.3, 0.6])::text, ',' ORDER BY region) FROM region_models};
my $bytes = q{SELECT md5(string_agg(m::text, ',' ORDER BY region)) FROM region_models};
my $before = $node->safe_psql('src', $score);
my $before_bytes = $node->safe_psql('src', $bytes);
is($node->safe_psql('src', 'SELECT count(m) FROM region_models'),
	'20', 'twenty per-group models');

# A parallel plan over 200,000 rows trains the same models.
my $parallel = $node->safe_psql(
	'src', q{
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT count(*) FROM (
  SELECT region, lrml.fit(ARRAY[a, b]::float8[], y, '{"epochs": 5}') AS m
  FROM customers GROUP BY region) p
JOIN region_models s USING (region) WHERE p.m::text = s.m::text;
});
is($parallel, '20', 'a parallel plan trains the same twenty models');

my $dump = "$PostgreSQL::Test::Utils::tmp_check/src.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ],
	'pg_dump (custom format) of a table of lrml.model values');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('dst'), $dump ],
	'pg_restore into a new database');
is($node->safe_psql('dst', $bytes), $before_bytes,
	'the restored values are the same');
is($node->safe_psql('dst', $score), $before, 'and score the same');

my $plain = "$PostgreSQL::Test::Utils::tmp_check/src.sql";
$node->command_ok([ 'pg_dump', '-f', $plain, '-d', $node->connstr('src') ],
	'pg_dump (plain text)');
$node->safe_psql('postgres', 'CREATE DATABASE dst2');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $plain, '-d', $node->connstr('dst2') ],
	'the plain dump restores with psql');
is($node->safe_psql('dst2', $bytes), $before_bytes,
	'the values restored from text are the same');

$node->stop;
done_testing();
