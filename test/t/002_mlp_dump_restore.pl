# An mlp model survives a pg_dump / pg_restore round trip and scores the
# same, by array and by row, in the restored database.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('mlp');
$node->init;
$node->append_conf('postgresql.conf', "fsync = off");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql(
	'src', q{
CREATE EXTENSION lrml;
CREATE TABLE xor AS
  SELECT g AS id, ((g * 37) % 101) / 50.0 - 1.0 AS a,
         ((g * 61) % 103) / 51.0 - 1.0 AS b,
         (ARRAY['p', 'q'])[g % 2 + 1] AS c,
         (((g * 37) % 101) / 50.0 - 1.0) * (((g * 61) % 103) / 51.0 - 1.0) > 0 AS y
  FROM generate_series(1, 300) g;
SELECT count(*) FROM lrml.train('net', 'xor', 'y', ARRAY['a', 'b', 'c'],
  '{"model": "mlp", "hidden": [8, 4], "activation": "tanh", "epochs": 20, "seed": 5}');
});

my $score = "SELECT lrml.predict('net', ARRAY[0.3, -0.6, 1, 0])::text";
my $by_row = "SELECT sum(lrml.predict('net', x))::text FROM xor x";
my $before = $node->safe_psql('src', $score);
my $before_rows = $node->safe_psql('src', $by_row);

my $dump = "$PostgreSQL::Test::Utils::tmp_check/mlp.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ],
	'pg_dump of a database with an mlp');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('dst'), $dump ],
	'pg_restore into a new database');

is($node->safe_psql('dst', $score), $before,
	'the restored mlp scores an array the same');
is($node->safe_psql('dst', $by_row), $before_rows,
	'the restored mlp scores every row the same');
is( $node->safe_psql(
		'dst', "SELECT kind, options->>'hidden' FROM lrml.models WHERE name = 'net'"),
	'mlp|[8, 4]',
	'the kind and layers are restored');

$node->stop;
done_testing();
