# The order API against the real server: every status code in SPEC's table.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Orderd qw(json_decode json_encode order wait_until);

my $s = Orderd->start(workers => "return { workers = 2, price = { work_us = 0 }, pay = { ms_per_priority = 1 }, "
                                 . "reserve = { hold_us = 0 }, record = { alloc_bytes = 64 } }");

# 202: queued, with Location, only once queued
my $r = $s->post_json('/orders', order(priority => 1, id => 'first-1'));
is $r->{status}, 202, 'POST /orders: 202';
my $j = json_decode($r->{content});
is $j->{id}, 'first-1', 'the id given is kept';
is $j->{state}, 'queued', 'state queued';
is $j->{priority}, 1, 'priority echoed';
like $j->{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'created_at RFC 3339';
is $r->{headers}{location}, '/orders/first-1', 'Location header';
like $r->{headers}{'content-type'}, qr{^application/json}, 'JSON content type';

# generated id
$r = $s->post_json('/orders', order());
$j = json_decode($r->{content});
like $j->{id}, qr/^[A-Za-z0-9_-]{1,64}$/, 'an id is generated when absent';

# GET /orders/{id}: the whole lifecycle
ok wait_until(5, sub { ($s->get_json('/orders/first-1') || {})->{state} eq 'done' }), 'the order is processed';
$j = $s->get_json('/orders/first-1');
is $j->{status}, 'expedited', 'priority 1 under 1000: expedited (the seed rule)';
is $j->{result}, 'Order expedited', 'result text';
ok defined $j->{worker_id} && defined $j->{queue_ms} && defined $j->{processing_ms} && $j->{processed_at},
   'worker_id, queue_ms, processing_ms, processed_at';

$s->post_json('/orders', order(id => 'big', amount => 1500));
$s->post_json('/orders', order(id => 'plain', amount => 10, priority => 3));
$s->post_json('/orders', order(id => 'limit', amount => 10001));
$s->post_json('/orders', order(id => 'many', items => [map {"S$_"} 1 .. 51]));
ok wait_until(5, sub { ($s->get_json('/orders/many') || {})->{state} =~ /^(done|failed)$/ }), 'all processed';
is $s->get_json('/orders/big')->{status}, 'priority_processing', 'amount > 1000: priority_processing';
is $s->get_json('/orders/big')->{result}, 'Order marked for priority processing', '... with the seed message';
is $s->get_json('/orders/plain')->{status}, 'processing', 'otherwise: processing';
my $f = $s->get_json('/orders/limit');
is $f->{state}, 'failed', 'amount > 10000 fails';
is $f->{error}, 'order amount exceeds limit', '... with the seed error';
is $s->get_json('/orders/many')->{error}, 'too many items in order', 'more than 50 items fails';

# 404 for unknown or evicted (results_kept is 10000 here; eviction is unit-tested)
$r = $s->get('/orders/nope');
is $r->{status}, 404, 'unknown id: 404';
is json_decode($r->{content})->{field}, 'id', '... naming the field';
is $s->get('/orders/bad%20id')->{status}, 404, 'an impossible id: 404';

# 409 duplicate
$r = $s->post_json('/orders', order(id => 'first-1'));
is $r->{status}, 409, 'duplicate id: 409';
is json_decode($r->{content})->{field}, 'id', '... naming id';

# 400 bad JSON
$r = $s->post_json('/orders', '{"customer":');
is $r->{status}, 400, 'bad JSON: 400';
ok json_decode($r->{content})->{error}, '... with a JSON error';

# 415 wrong content type
$r = $s->request('POST', '/orders', json_encode(order()), { 'Content-Type' => 'text/plain' });
is $r->{status}, 415, 'text/plain: 415';
$r = $s->request('POST', '/orders', json_encode(order()), {});
is $r->{status}, 415, 'no content type: 415';
$r = $s->request('POST', '/orders', json_encode(order()), { 'Content-Type' => 'application/json; charset=utf-8' });
is $r->{status}, 202, 'application/json with charset accepted';

# 413 too large
$r = $s->post_json('/orders', '{"notes":"' . ('x' x 70000) . '"}');
is $r->{status}, 413, 'a body over max_body_bytes: 413';
like $r->{headers}{'content-type'}, qr{^application/json}, '... as JSON, though h2o refuses it';
like json_decode($r->{content})->{error}, qr/max_body_bytes \(65536 bytes\)/, '... naming the limit';

# 422 a field invalid
$r = $s->post_json('/orders', order(amount => -1));
is $r->{status}, 422, 'negative amount: 422';
is json_decode($r->{content})->{field}, 'amount', '... naming amount';
$r = $s->post_json('/orders', { %{ order() }, colour => 'red' });
is $r->{status}, 422, 'unknown field: 422';
is json_decode($r->{content})->{field}, 'colour', '... naming it';

# /stats with the seed's names and ours
my $st = $s->get_json('/stats');
for my $k (qw(total_processed success_count error_count average_process_time_ms active_workers queue_length
              uptime_seconds accepted rejected queue_capacity queue_by_priority in_flight processing_time_ms
              busy_workers queue_wait_ms)) {
    ok exists $st->{$k}, "/stats has $k";
}
is $st->{active_workers}, $st->{workers}, 'active_workers is the worker count, as in the Go seed';
cmp_ok $st->{busy_workers}, '<=', $st->{workers}, 'busy_workers: at most the workers';
is $st->{busy_workers}, $st->{in_flight}, '... the orders in flight';
ok exists $st->{queue_wait_ms}{p99}, 'queue-wait percentiles';
is $st->{accepted}, 7, 'accepted counts the 202s';
ok exists $st->{processing_time_ms}{p99}, 'processing-time percentiles';

# /health
$r = $s->get('/health');
is $r->{status}, 200, '/health: 200';
$j = json_decode($r->{content});
is $j->{status}, 'healthy', 'healthy';
ok exists $j->{pool}{healthy} && exists $j->{pool}{queue_length} && exists $j->{pool}{workers}, 'pool fields';
ok $j->{timestamp}, 'timestamp';

# /metrics
$r = $s->get('/metrics');
is $r->{status}, 200, '/metrics: 200';
like $r->{headers}{'content-type'}, qr{^text/plain}, 'Prometheus text';
like $r->{content}, qr/^orderd_orders_accepted_total 7$/m, 'accepted counter';
like $r->{content}, qr/^orderd_queue_depth\{priority="1"\} \d+$/m, 'queue depth by priority';
like $r->{content}, qr/^orderd_processing_seconds_bucket\{le="\+Inf"\} \d+$/m, 'processing histogram';
like $r->{content}, qr/^orderd_http_requests_total\{method="POST",route="\/orders",code="202"\} 7$/m, 'requests by method, route and code';
like $r->{content}, qr/^orderd_http_requests_total\{method="POST",route="\/orders",code="422"\} 2$/m, '... including refusals';
like $r->{content}, qr/^orderd_http_requests_total\{method="POST",route="\/orders",code="413"\} 1$/m, '... and the 413 h2o answered';
like $r->{content}, qr/^orderd_http_requests_total\{method="GET",route="\/orders\/\{id\}",code="200"\} \d+$/m, 'a route template';
like $r->{content}, qr/^orderd_resident_memory_bytes \d+$/m, 'memory';

# 404 and 405 with Allow
$r = $s->get('/nowhere');
is $r->{status}, 404, 'unknown path: 404';
ok json_decode($r->{content})->{error}, '... JSON error';
$r = $s->get('/orders');
is $r->{status}, 405, 'GET /orders: 405';
is $r->{headers}{allow}, 'POST', '... Allow: POST';
$r = $s->request('DELETE', '/health');
is $r->{status}, 405, 'DELETE /health: 405';
like $r->{headers}{allow}, qr/GET/, '... Allow lists GET';
$r = $s->request('PUT', '/orders/first-1', 'x');
is $r->{status}, 405, 'PUT /orders/{id}: 405';
is $r->{headers}{allow}, 'GET, HEAD', '... Allow: GET, HEAD';
$r = $s->request('PUT', '/orders', 'x');
is $r->{status}, 405, 'PUT /orders: 405';
$r = $s->get('/metrics');
like $r->{content}, qr/^orderd_http_requests_total\{method="PUT",route="\/orders",code="405"\} 1$/m, 'a PUT counted as PUT on /orders';
like $r->{content}, qr/^orderd_http_requests_total\{method="PUT",route="\/orders\/\{id\}",code="405"\} 1$/m, '... and on /orders/{id}';
like $r->{content}, qr/^orderd_http_requests_total\{method="GET",route="other",code="404"\} 1$/m, 'an unknown path: route="other"';

# still serving after all of that
is $s->get('/health')->{status}, 200, 'still healthy';
my ($rc, $log) = $s->stop;
is $rc, 0, 'SIGTERM: exit 0';
like $log, qr/summary: accepted=7 processed=7 .*\(nothing lost\)/, 'summary: nothing lost';
done_testing;
