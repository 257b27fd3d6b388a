# lrml.fit_recommender in a parallel plan over a larger table: the
# partial aggregates gather rows in two workers, and the per-group
# recommenders equal those of a serial plan byte for byte, for integer
# and for text ids.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "fsync = off");
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION lrml;
CREATE TABLE ratings AS
  SELECT g % 10 AS region, (g * 7) % 2000 AS user_id,
         (g * 13) % 500 AS item_id,
         (1 + ((g * 7) % 5 + (g * 13) % 3) % 5)::float8 AS rating
  FROM generate_series(1, 120000) g;
ANALYZE ratings;
CREATE TABLE serial_models AS
  SELECT region,
         lrml.fit_recommender(user_id, item_id, rating,
                              '{"factors": 8, "epochs": 3}') AS m,
         lrml.fit_recommender('u' || user_id, 'i' || item_id, NULL,
                              '{"model": "bpr", "factors": 8, "epochs": 2}') AS b
  FROM ratings GROUP BY region;
});
is($node->safe_psql('postgres',
		'SELECT count(m) || ' . "','" . ' || count(b) FROM serial_models'),
	'10,10', 'ten recommenders of each kind');

my $parallel_settings = q{
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
};
my $query = q{
  SELECT region,
         lrml.fit_recommender(user_id, item_id, rating,
                              '{"factors": 8, "epochs": 3}') AS m,
         lrml.fit_recommender('u' || user_id, 'i' || item_id, NULL,
                              '{"model": "bpr", "factors": 8, "epochs": 2}') AS b
  FROM ratings GROUP BY region};

my $plan = $node->safe_psql('postgres',
	$parallel_settings . 'EXPLAIN (COSTS OFF)' . $query);
like($plan, qr/Partial HashAggregate/, 'the plan aggregates in the workers');

my $same = $node->safe_psql(
	'postgres', $parallel_settings . qq{
SELECT count(*) FILTER (WHERE p.m::text = s.m::text) || ',' ||
       count(*) FILTER (WHERE p.b::text = s.b::text)
FROM ($query) p JOIN serial_models s USING (region);
});
is($same, '10,10', 'a parallel plan trains the same twenty recommenders');

$node->stop;
done_testing();
