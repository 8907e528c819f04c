# SIGTERM with a backlog: new orders get 503, the queue drains, in-flight orders finish, the
# summary is printed and the process exits 0 with accepted == processed == success + errors.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Orderd qw(json_decode order wait_until);

for my $sig (qw(TERM INT)) {
    my $s = Orderd->start(workers => "return { workers = 2, queue = 500, pay = { ms_per_priority = 0, fixed_ms = 10 }, "
                                     . "price = { work_us = 0 } }");
    my $n = 200;
    # some fail by the seed's rule (amount > 10000)
    my @codes = $s->post_many('/orders', map { order(id => "d$_", amount => $_ % 10 == 0 ? 20000 : 50) } 1 .. $n);
    my $accepted = grep { $_ == 202 } @codes;
    is $accepted, $n, "SIG$sig: $n orders accepted";
    my $st = $s->get_json('/stats');
    ok $st->{queue_length} > 50, "a backlog of $st->{queue_length} is waiting";

    kill $sig, $s->pid;
    # while draining: 503 for new orders, /health 503 draining
    my ($code503, $health) = (0, 0);
    wait_until(3, sub {
        my $r = $s->post_json('/orders', order(id => "late-$sig"));
        $code503 = 1 if $r->{status} == 503 && $r->{headers}{'retry-after'};
        my $h = $s->get('/health');
        $health = 1 if $h->{status} == 503 && (json_decode($h->{content}) || {})->{pool}{draining};
        return $code503 && $health;
    });
    ok $code503, 'draining: POST /orders answers 503 with Retry-After';
    ok $health, 'draining: /health answers 503 with draining: true';

    my ($rc, $log) = $s->stop('ZERO', 60);   # already signalled; just wait
    is $rc, 0, "SIG$sig: exit 0 after the drain";
    my ($acc, $proc, $ok, $err) = $log =~ /summary: accepted=(\d+) processed=(\d+) success=(\d+) errors=(\d+)/;
    is $acc, $n, 'summary: accepted';
    is $proc, $acc, 'accepted == total_processed';
    is $ok + $err, $proc, 'total_processed == success + errors';
    is $err, $n / 10, 'the failures the seed rule predicts';
    like $log, qr/nothing lost/, 'says nothing was lost';
}
done_testing;
