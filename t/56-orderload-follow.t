#!/usr/bin/perl
# orderload's follow = true against the real orderd: with a slow pipeline (every payment waits
# pay.fixed_ms) completion latency (accepted -> done or failed) is at least the planted wait
# while time-to-202 stays far below it, in the terminal, the --json document (completion_us
# shaped as latency_us, the follow counts, completion_p99_us in the timeline) and the progress
# line; a scenario without follow keeps the document as it was; bad follow values are a clear
# FILE:LINE:COL error (exit 2) from orderload and from orderd --check alike.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use Orderd;
use Orderload qw(orderload);

my $B = Orderd::build_dir();
plan skip_all => "$B/orderload or $B/orderd not built" unless -x "$B/orderload" && -x "$B/orderd";
plan skip_all => 'run from the project root' unless -f 'lua/lib/orders.lua';

my $dir = tempdir(CLEANUP => 1);
sub write_file {
    my ($name, $text) = @_;
    open my $f, '>', "$dir/$name" or die;
    print $f $text;
    close $f;
    return "$dir/$name";
}
sub read_json { local $/; open my $f, '<', $_[0] or return undef; return decode_json(<$f>) }

# bad values first: no server is needed to refuse them
for my $bad ('"yes"', '1', '{}') {
    my $file = write_file('bad.lua', <<"EOF");
return {
  scenarios = {
    s = { executor = "constant-arrival-rate", rate = 1, duration = "1s", follow = $bad },
  },
}
EOF
    my ($rc, $out, $err) = orderload('-u', 'http://127.0.0.1:9', '--progress', '0', $file);
    is($rc, 2, "follow = $bad is a usage error (exit 2)");
    like($err, qr/\Q$file\E:3:\d+: scenarios\.s\.follow must be true or false/, '... at FILE:LINE:COL, saying what it must be');
}
{
    my $file = "$dir/bad.lua";
    my $yaml = write_file('check.yaml', "listen: 127.0.0.1:9\nscenarios: [$file]\n");
    my $out = `$B/orderd --check -c $yaml 2>&1`;
    isnt($? >> 8, 0, 'orderd --check refuses the same file');
    like($out, qr/\Q$file\E:3:\d+: scenarios\.s\.follow must be true or false/, '... with the same message');
}

# every payment waits 80 ms; four workers keep up with 20 orders/s (no queueing to speak of)
my $planted_ms = 80;
my $s = Orderd->start(workers => <<"LUA");
return { workers = 4, queue = 1000, reserve = { hold_us = 0 }, price = { work_us = 0 },
         pay = { ms_per_priority = 0, fixed_ms = $planted_ms }, record = { alloc_bytes = 256 } }
LUA
my $file = write_file('follow.lua', <<'EOF');
local orders = require("orders")
return {
  scenarios = {
    slow = { executor = "constant-arrival-rate", rate = 20, duration = "3s", follow = true },
    plain = { executor = "constant-arrival-rate", rate = 20, duration = "1s", start_time = "3s" },
  },
  thresholds = { ["slow:completion.p50"] = ">= 80ms" },
  request = function(ctx) return orders.request(ctx, orders.shapes.normal) end,
}
EOF
my ($rc, $out, $err) = orderload('-u', $s->base, '--progress', '1s', '--json', "$dir/out.json", $file);
is($rc, 0, 'orderload follows the orders and exits 0') or diag($err);
my $j = read_json("$dir/out.json");
my $slow = $j->{scenarios}{slow};
ok($slow && $slow->{completion_us}, 'the followed scenario has completion_us') or BAIL_OUT('no report');
is_deeply([sort keys %{ $slow->{completion_us} }], [sort keys %{ $slow->{latency_us} }],
          '... with exactly the fields of latency_us');
my $planted_us = $planted_ms * 1000;
cmp_ok($slow->{completion_us}{p50}, '>=', $planted_us, "completion p50 is at least the planted $planted_ms ms");
SKIP: {
    skip 'an order failed validation (before its payment)', 1 if $slow->{follow}{failed};
    cmp_ok($slow->{completion_us}{min}, '>=', $planted_us * 0.99, '... and so is its min (every order paid)');
}
cmp_ok($slow->{latency_us}{p50}, '<', $planted_us / 4, 'time-to-202 p50 is far below it');
is($slow->{completion_us}{count}, $slow->{counts}{completed}, 'every accepted order was seen finished');
my $f = $slow->{follow};
is($f->{followed}, $slow->{status_codes}{202}, 'follow.followed counts every 202');
is($f->{done} + $f->{failed}, $f->{followed}, '... done + failed = followed');
is($f->{lost}, 0, '... none lost');
cmp_ok($f->{polls}, '>=', $f->{followed}, '... at least one poll per order');
cmp_ok($f->{polls}, '<=', $f->{followed} * 8, '... and few: the backoff bounds them');
my @pts = grep { $_->{completion_p99_us} } @{ $slow->{timeline} };
ok(@pts >= 2, 'timeline points carry completion_p99_us');
cmp_ok($_->{completion_p99_us}, '>=', $planted_us * 0.9, "... at least the planted wait (t_s $_->{t_s})") for @pts;
ok(exists $j->{total}{completion_us}, 'the total has completion_us too');
my $plain = $j->{scenarios}{plain};
ok(!exists $plain->{completion_us} && !exists $plain->{follow} && !exists $plain->{timeline}[0]{completion_p99_us},
   'a scenario without follow has no new fields');
ok($j->{thresholds}[0]{ok}, 'the completion.p50 threshold is judged') or diag(explain($j->{thresholds}));

like($out, qr/^  completion\s+\d/m, 'the text report has a completion row');
like($out, qr/^  follow\s+followed \d+  done \d+  failed \d+  lost 0  polls \d+/m, '... and the follow counts');
like($err, qr/completion p99 \d+(\.\d+)?ms/, 'the progress line shows completion p99');

my ($src) = $s->stop;
is($src, 0, 'orderd stops cleanly');
done_testing();
