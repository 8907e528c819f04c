#!/usr/bin/perl
# /metrics with the tools Prometheus users bring: `promtool check metrics` finds nothing to
# say, and a real Prometheus scraping orderd sees the series with the values orderd counted
# (orders accepted, requests by method, route template and code, series at 0 from start,
# process_* metrics, histograms histogram_quantile can read).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use POSIX ();
use Time::HiRes qw(sleep);
use Orderd qw(free_port json_decode order wait_until);

my ($prom) = grep { -x } map { "$_/prometheus" } split /:/, $ENV{PATH};
my ($promtool) = grep { -x } map { "$_/promtool" } split /:/, $ENV{PATH};
plan skip_all => 'prometheus and promtool are not installed (scripts/install-deps.sh installs Debian\'s prometheus)'
    unless $prom && $promtool;

my $tmp = tempdir('orderd-t16-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $s = Orderd->start(yaml => "profiling:\n  schedule: \"\"\n");

# promtool: the page as served, at start and after traffic
sub promtool_says {
    my $page = $s->get('/metrics')->{content};
    open my $f, '>', "$tmp/page.txt" or die;
    print $f $page;
    close $f;
    my $out = `$promtool check metrics < $tmp/page.txt 2>&1`;
    return ($? >> 8, $out);
}
my ($rc, $out) = promtool_says();
is $rc, 0, 'promtool check metrics: clean at start' or diag $out;
is $out, '', '... with nothing to say';

# a real Prometheus scraping orderd every second
my $pport = free_port();
open my $cf, '>', "$tmp/prometheus.yml" or die;
print $cf "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
        . "  - job_name: orderd\n    static_configs:\n      - targets: ['127.0.0.1:" . $s->port . "']\n";
close $cf;
my $ppid = fork // die;
if ($ppid == 0) {
    open STDOUT, '>', "$tmp/prometheus.log";
    open STDERR, '>&', \*STDOUT;
    exec $prom, "--config.file=$tmp/prometheus.yml", "--storage.tsdb.path=$tmp/data",
        "--web.listen-address=127.0.0.1:$pport" or POSIX::_exit(127);
}
my $http = HTTP::Tiny->new(timeout => 10);
sub query {
    my ($q) = @_;
    my $r = $http->get("http://127.0.0.1:$pport/api/v1/query?query=" . join('', map { sprintf '%%%02X', ord } split //, $q));
    return undef unless $r->{success};
    my $j = json_decode($r->{content});
    return $j && $j->{status} eq 'success' ? $j->{data}{result} : undef;
}
sub value { my $res = query(shift); return $res && @$res ? $res->[0]{value}[1] : undef }

ok wait_until(90, sub { my $v = value('up{job="orderd"}'); defined $v && $v == 1 }),
   'Prometheus scrapes orderd: up == 1' or diag `tail -20 $tmp/prometheus.log`;
my $targets = json_decode($http->get("http://127.0.0.1:$pport/api/v1/targets")->{content} // '{}');
my ($t) = @{ $targets->{data}{activeTargets} // [] };
is $t && $t->{lastError}, '', 'the scrape has no error';

# series at 0 from start, before any such request
is value('orderd_http_requests_total{method="GET",route="/orders/{id}",code="200"}'), '0',
   'GET /orders/{id} 200: a series at 0 from start';
is value('orderd_http_requests_total{method="POST",route="/scenarios/{name}/{action}",code="200"}'), '0',
   '... and POST /scenarios/{name}/{action}';

my $n = 25;
my @codes = $s->post_many('/orders', map { order(id => "prom-$_") } 1 .. $n);
is scalar(grep { $_ == 202 } @codes), $n, "$n orders accepted";
is $s->request('PUT', '/orders', 'x')->{status}, 405, 'and one PUT /orders: 405';
is $s->get('/debug/pprof/cmdline')->{status}, 200, 'and a profiling page';
my $wait = sub { my ($q, $want) = @_; wait_until(30, sub { my $v = value($q); defined $v && $v == $want }) };
ok $wait->('orderd_orders_accepted_total', $n), "orderd_orders_accepted_total == $n in Prometheus";
ok $wait->('orderd_http_requests_total{method="POST",route="/orders",code="202"}', $n),
   "requests_total{POST, /orders, 202} == $n";
ok $wait->('orderd_http_requests_total{method="PUT",route="/orders",code="405"}', 1), 'the PUT: {PUT, /orders, 405} == 1';
ok $wait->('orderd_http_requests_total{method="GET",route="/debug/pprof/{profile}",code="200"}', 1),
   'the profiling page under its template';
ok $wait->('sum(orderd_orders_processed_total)', $n), "all $n processed";
ok $wait->('orderd_processing_seconds_count', $n), "the processing histogram counts $n";
ok $wait->('orderd_queue_wait_seconds_count', $n), "... and the queue-wait histogram";
my $p99 = value('histogram_quantile(0.99, orderd_processing_seconds_bucket)');
ok defined $p99 && $p99 > 0 && $p99 < 10, "histogram_quantile(0.99) of processing reads: " . ($p99 // 'none') . ' s';
my $st = $s->get_json('/stats');
my $want = $st->{processing_time_ms}{p99} / 1000;
ok defined $p99 && abs($p99 - $want) <= 0.1 * $want + 0.0005,
   sprintf('... within 10 %% of /stats\' p99 (%.4f s vs %.4f s)', $p99 // 0, $want);

my $start = value('process_start_time_seconds');
ok defined $start && abs($start - time) < 600, 'process_start_time_seconds: a moment ago (' . ($start // 'none') . ')';
cmp_ok value('process_resident_memory_bytes') // 0, '>', 1 << 20, 'process_resident_memory_bytes';
cmp_ok value('process_virtual_memory_bytes') // 0, '>=', value('process_resident_memory_bytes') // 1e18, 'process_virtual_memory_bytes >= resident';
cmp_ok value('process_open_fds') // 0, '>', 3, 'process_open_fds';
cmp_ok value('process_max_fds') // 0, '>=', value('process_open_fds') // 1e18, 'process_max_fds >= open';
ok defined value('process_cpu_seconds_total'), 'process_cpu_seconds_total';

($rc, $out) = promtool_says();
is $rc, 0, 'promtool check metrics: clean after traffic' or diag $out;

kill 'TERM', $ppid;
waitpid $ppid, 0;
($rc) = $s->stop;
is $rc, 0, 'clean exit';
done_testing;
