# Stored models survive a server restart and a pg_dump / pg_restore round
# trip: versions, the deployed pin, the training log, the trials of a
# search, the id sequence, and a recommender with its lrml.factors rows.
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
CREATE TABLE churn AS
  SELECT g AS id, (g % 7) / 7.0 AS a, ((g * 3) % 11) / 11.0 AS b,
         ((g % 7) / 7.0 + ((g * 3) % 11) / 11.0) > 1.0 AS y
  FROM generate_series(1, 200) g;
SELECT count(*) FROM lrml.train('m', 'churn', 'y', ARRAY['a', 'b'], '{"epochs": 5}');
SELECT count(*) FROM lrml.train('m', 'churn', 'y', ARRAY['a', 'b'], '{"epochs": 7}');
SELECT lrml.deploy('m', 1);
SELECT count(*) FROM lrml.tune('tuned', 'churn', 'y', ARRAY['a', 'b'],
  '{"method": "grid", "space": {"learning_rate": [0.01, 0.1, 1e9]}}',
  '{"epochs": 3, "divergence": "error", "optimizer": "sgd"}');
CREATE TABLE ratings AS
  SELECT g % 9 AS u, g % 7 AS i, (1 + g % 5)::float8 AS r
  FROM generate_series(1, 200) g;
SELECT count(*) FROM lrml.train_recommender('rec', 'ratings', 'u', 'i', 'r',
  options => '{"factors": 4, "epochs": 5}');
});
my $recs = "SELECT string_agg(item_id || ':' || score, ',' ORDER BY rank)"
  . " FROM lrml.recommend('rec', 3, 3, false)";
my $recs_before = $node->safe_psql('src', $recs);

my $score = "SELECT lrml.predict('m', ARRAY[0.3, 0.6])::text";
my $before = $node->safe_psql('src', $score);

# A restart keeps everything.
$node->restart;
is($node->safe_psql('src', $score), $before,
	'the deployed version scores the same after a restart');

# pg_dump keeps the extension's tables; pg_restore brings them back.
my $dump = "$PostgreSQL::Test::Utils::tmp_check/src.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ],
	'pg_dump of a database with models');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('dst'), $dump ],
	'pg_restore into a new database');

is($node->safe_psql('dst', $score), $before,
	'the restored deployed version scores the same');
is($node->safe_psql('dst', $recs), $recs_before,
	'the restored recommender recommends the same');
is($node->safe_psql('dst', 'SELECT count(*) FROM lrml.factors'),
	'16', 'the factors of the recommender are restored');
is($node->safe_psql('dst', "SELECT count(*) FROM lrml.models WHERE name = 'm'"),
	'2', 'both versions are restored');
is($node->safe_psql('dst', "SELECT count(*) FROM lrml.training_log l JOIN lrml.models m ON m.id = l.model_id WHERE m.name = 'm'"),
	'12', 'the training log is restored');
is($node->safe_psql('dst', "SELECT count(*) FROM lrml.training_log l JOIN lrml.models m ON m.id = l.model_id WHERE m.name = 'rec'"),
	'5', 'the recommender\'s training log is restored');
is( $node->safe_psql(
		'dst', "SELECT deployed_version FROM lrml.model_names WHERE name = 'm'"),
	'1',
	'the deployed pin is restored');

is( $node->safe_psql(
		'dst',
		"SELECT string_agg(trial || ':' || status || ':' || best, ',' ORDER BY trial) FROM lrml.trials"),
	'0:ok:false,1:ok:true,2:failed:false',
	'the trials of a search are restored');

# Training in the restored database adds the next version with a new id.
$node->safe_psql('dst',
	"SELECT count(*) FROM lrml.train('m', 'churn', 'y', ARRAY['a', 'b'], '{\"epochs\": 2}')");
is( $node->safe_psql(
		'dst', "SELECT max(version), count(DISTINCT id) FROM lrml.models WHERE name = 'm'"),
	'3|3',
	'the next version after a restore gets a fresh id');

$node->stop;
done_testing();
