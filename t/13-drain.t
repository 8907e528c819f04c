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
    my ($code503, $health, $n503) = (0, 0, 0);
    wait_until(3, sub {
        my $r = $s->post_json('/orders', order(id => "late-$sig"));
        $n503++ if $r->{status} == 503;
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

    # the shutdown's own lines, exactly, and in order: listening, draining, summary
    my $signame = $sig eq 'TERM' ? 'Terminated' : 'Interrupt';
    my @lines = split /\n/, $log;
    my ($listen) = grep { $lines[$_] =~ /^orderd: info: listening on http:\/\/127\.0\.0\.1:\d+\/ / } 0 .. $#lines;
    my ($drain) = grep { $lines[$_] =~ /^orderd: info: $signame: draining \d+ queued and \d+ in-flight orders; new orders get 503$/ } 0 .. $#lines;
    my ($summary) = grep { $lines[$_] =~ /^orderd: summary: / } 0 .. $#lines;
    ok defined $drain, "SIG$sig: the drain is announced with the signal's name" or diag $log;
    ok defined $listen && defined $drain && defined $summary && $listen < $drain && $drain < $summary,
        'listening, then draining, then the summary';
    my ($want_ok, $want_err) = ($n - $n / 10, $n / 10);
    like $lines[$summary // 0],
        qr/^orderd: summary: accepted=$n processed=$n success=$want_ok errors=$want_err rejected=$n503 uptime=\d+\.\ds \(nothing lost\)$/,
        "the summary line, exactly (rejected = the $n503 late orders answered 503)";
    is scalar(grep { /^orderd: summary: / } @lines), 1, 'one summary';
}
done_testing;
