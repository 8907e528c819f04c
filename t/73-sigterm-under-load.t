#!/usr/bin/perl
# Faults: SIGTERM under full load loses nothing.  build/orderload keeps 32 connections busy
# posting orders (closed model: each sends again as soon as it is answered) into a pool
# slower than the load, so the queue is full and a backlog is in flight when SIGTERM
# arrives.  The server drains and exits 0, and its summary says accepted == processed ==
# success + errors, with every 202 the load generator saw among them.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Orderd qw(build_dir wait_until);

my $load = build_dir() . '/orderload';
plan skip_all => "$load not built" unless -x $load;
plan skip_all => 'run from the project root' unless -f 'lua/lib/orders.lua';
my $dir = tempdir(CLEANUP => 1);

sub slurp { local $/; open my $f, '<', $_[0] or return ''; return scalar <$f> }

for my $case (['a backlog in the queue', 2, 4000, 1], ['the queue full, orders refused', 1, 200, 2]) {
    my ($name, $workers, $queue, $ms) = @$case;
    my $s = Orderd->start(
        workers => "return { workers = $workers, queue = $queue, reserve = { hold_us = 0 }, price = { work_us = 100 },"
                 . " pay = { ms_per_priority = $ms }, record = { alloc_bytes = 256 } }",
        yaml => "http:\n  threads: 2\n");
    open my $f, '>', "$dir/flood.lua" or die;
    print $f <<'LUA';
local orders = require("orders")
return {
  scenarios = { flood = { executor = "constant-concurrency", connections = 32, duration = "8s" } },
  request = function(ctx) return orders.request(ctx, orders.shapes.burst) end,
}
LUA
    close $f;
    my $json = "$dir/flood-$workers.json";
    my $lpid = fork // die;
    if (!$lpid) {
        open STDOUT, '>', "$dir/load.out";
        open STDERR, '>', "$dir/load.err";
        exec $load, '-u', $s->base, '--quiet', '--no-announce', '-t', '2', '--json', $json, "$dir/flood.lua";
        exit 127;
    }
    # full load: wait until the server has a backlog (or refuses for a full queue)
    my $st;
    my $loaded = wait_until(20, sub {
        $st = $s->get_json('/stats');
        $st && $st->{accepted} > 200 && ($st->{queue_length} > 50 || $st->{rejected} > 0);
    });
    ok $loaded, "$name: under load (accepted $st->{accepted}, queued $st->{queue_length}, rejected $st->{rejected})";
    my $t0 = time;
    my ($rc, $log) = $s->stop('TERM', 120);
    my $drain = time - $t0;
    is $rc, 0, sprintf("$name: SIGTERM: exit 0 after a %.1f s drain", $drain) or diag $log;
    waitpid($lpid, 0);
    my $report = eval { decode_json(slurp($json)) } // {};
    my $codes = $report->{total}{status_codes} // $report->{scenarios}{flood}{status_codes} // {};
    my $seen = $codes->{202} // 0;
    my ($acc, $proc, $ok, $err) = $log =~ /summary: accepted=(\d+) processed=(\d+) success=(\d+) errors=(\d+)/;
    ok defined $acc, "$name: the summary is printed" or diag $log;
    $acc //= -1;
    is $proc, $acc, "$name: processed == accepted ($acc)";
    is $ok + $err, $proc, "$name: processed == success + errors";
    like $log, qr/\(nothing lost\)/, "$name: the summary says nothing was lost";
    cmp_ok $seen, '>', 0, "$name: the load generator saw 202s ($seen)";
    cmp_ok $seen, '<=', $proc, "$name: every 202 it saw was processed ($seen <= $proc)";
    cmp_ok $acc - $seen, '<=', 32, "$name: at most one unseen 202 per connection (" . ($acc - $seen) . ')';
    note "$name: status codes " . join(', ', map { "$_: $codes->{$_}" } sort keys %$codes);
    if ($name =~ /full/) {
        cmp_ok $codes->{503} // 0, '>', 0, "$name: the refused got 503";
    }
}
done_testing;
