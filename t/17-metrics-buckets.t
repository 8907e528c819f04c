#!/usr/bin/perl
# The default /metrics buckets resolve the workload: under each bundled scenario, run by
# orderload against an orderd with the project's own worker pool (lua/workers.lua),
# histogram_quantile(0.99) computed from the buckets as Prometheus computes it lands within
# 10 % of /stats' p99, for processing time and for queue wait.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Orderd qw(json_decode);

my $b = Orderd::build_dir();
plan skip_all => "no $b/orderload" unless -x "$b/orderload";
my @scenarios = @ARGV ? @ARGV : qw(normal high burst ramp soak);
my $secs = $ENV{ORDERD_BUCKETS_SECONDS} || 8;

# Prometheus' histogram_quantile (promql/quantile.go): the rank's bucket, linearly
# interpolated between its lower bound (0 for the first) and its upper bound; in +Inf, the
# highest finite bound
sub quantile {
    my ($q, $buckets) = @_; # [[le, cumulative count]...] ascending, +Inf last
    my $total = $buckets->[-1][1];
    return undef unless $total;
    my $rank = $q * $total;
    for my $i (0 .. $#$buckets) {
        next if $buckets->[$i][1] < $rank;
        return $buckets->[$i - 1][0] if $buckets->[$i][0] eq '+Inf';
        my ($lo, $below) = $i ? @{ $buckets->[$i - 1] } : (0, 0);
        my ($hi, $count) = @{ $buckets->[$i] };
        return $hi if $count == $below;
        return $lo + ($hi - $lo) * ($rank - $below) / ($count - $below);
    }
}
sub buckets {
    my ($page, $name) = @_;
    my @b;
    while ($page =~ /^${name}_bucket\{le="([^"]+)"\} (\d+)$/mg) { push @b, [$1, $2] }
    return \@b;
}

for my $sc (@scenarios) {
    my $s = Orderd->start(workers => do { local $/; open my $f, '<', 'lua/workers.lua' or die; <$f> });
    # the scenarios' profile captures go to the server's scratch directory, not the tree
    my $out = `$b/orderload -u http://127.0.0.1:@{[$s->port]} -d ${secs}s --quiet --no-announce --progress 0 --profile-dir @{[$s->dir]} $sc 2>&1`;
    my $rc = $? >> 8;
    ok $rc == 0 || $rc == 99, "$sc: orderload ran (exit $rc)" or diag $out;
    # both read once the pool is idle, so that they describe the same orders (a queue still
    # draining after the load adds orders, and a burst's are the slowest, between the reads)
    Orderd::wait_until(60, sub { my $j = $s->get_json('/stats'); !$j->{queue_length} && !$j->{busy_workers} })
        or diag 'the pool did not go idle';
    my $st = $s->get_json('/stats');
    my $page = $s->get('/metrics')->{content};
    for my $h (['processing', 'orderd_processing_seconds', 'processing_time_ms'],
               ['queue wait', 'orderd_queue_wait_seconds', 'queue_wait_ms']) {
        my ($what, $name, $key) = @$h;
        my $est = quantile(0.99, buckets($page, $name));
        my $want = $st->{$key}{p99} / 1000;
        my $err = $want > 0 ? abs($est - $want) / $want : 0;
        # a p99 under 10 µs is below what a bucket can be asked to tell apart from 0
        ok defined $est && ($err <= 0.10 || abs($est - $want) < 10e-6),
            sprintf('%s: %s p99 from the buckets %.6f s, /stats %.6f s (%.1f %% off, %d orders)',
                    $sc, $what, $est // -1, $want, 100 * $err, $st->{total_processed});
    }
    $s->stop;
}
done_testing;
