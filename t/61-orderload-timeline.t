#!/usr/bin/perl
# orderload --json: each scenario's "timeline", one point per second of its run (sent,
# completed, errors, p50/p99/max latency), consistent with the scenario's counts — against
# build/hello_h2o on a free port.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use Orderload qw(build_dir start_hello wait_port);

my $B    = build_dir();
my $LOAD = "$B/orderload";
plan skip_all => "$LOAD or $B/hello_h2o not built" unless -x $LOAD && -x "$B/hello_h2o";

my $dir = tempdir(CLEANUP => 1);

my ($pid, $port) = start_hello();
ok(wait_port($port), 'hello_h2o is up') or BAIL_OUT('no server');

# two scenarios: 40/s for 3 s, one answer in ten rejected by response(); then 20/s for 2 s
open my $f, '>', "$dir/tl.lua" or die;
print $f <<'EOF_LUA';
return {
  scenarios = {
    first = { executor = "constant-arrival-rate", rate = 40, duration = "3s" },
    second = { executor = "constant-arrival-rate", rate = 20, duration = "2s", start_time = "3s" },
  },
  request = { method = "GET", path = "/" },
  response = function(ctx, status) return ctx.seq % 10 ~= 0 end,
}
EOF_LUA
close $f;
system($LOAD, '-u', "http://127.0.0.1:$port", '--quiet', '--json', "$dir/tl.json", "$dir/tl.lua");
is($? >> 8, 0, 'orderload exits 0');
my $j = do { local $/; open my $fh, '<', "$dir/tl.json" or die; decode_json(<$fh>) };

for my $name (qw(first second)) {
    my $s  = $j->{scenarios}{$name};
    my $tl = $s->{timeline};
    ok(ref $tl eq 'ARRAY' && @$tl, "$name: a timeline") or next;
    is($s->{timeline_step_s}, 1, "$name: at 1 s resolution");
    my $secs = $name eq 'first' ? 3 : 2;
    ok(@$tl >= $secs && @$tl <= $secs + 2, "$name: one point per second of the run (" . scalar(@$tl) . ")");
    is_deeply([map { $_->{t_s} } @$tl], [1 .. scalar @$tl], "$name: t_s counts seconds from the scenario's start");
    my @keys = qw(completed errors max_us p50_us p99_us sent t_s);
    ok(!(grep { join(',', sort keys %$_) ne join(',', @keys) } @$tl), "$name: every point has @keys");
    my %sum;
    for my $p (@$tl) { $sum{$_} += $p->{$_} for qw(sent completed errors) }
    is($sum{sent},      $s->{counts}{sent},      "$name: the points' sent add up to the scenario's ($sum{sent})");
    is($sum{completed}, $s->{counts}{completed}, "$name: completed too ($sum{completed})");
    my $errs = 0;
    $errs += $_ for values %{ $s->{errors} };
    is($sum{errors}, $errs, "$name: errors too ($sum{errors})");
    ok($errs > 0, "$name: the rejected answers are errors");
    my $rate = $name eq 'first' ? 40 : 20;
    ok(!(grep { abs($_->{sent} - $rate) > $rate / 4 } @$tl[0 .. $secs - 1]),
       "$name: about $rate sent in each full second");
    ok(!(grep { $_->{completed} && !($_->{p50_us} > 0 && $_->{p50_us} <= $_->{p99_us} && $_->{p99_us} <= $_->{max_us}) } @$tl),
       "$name: 0 < p50 <= p99 <= max in every point with answers");
    my ($maxp) = sort { $b <=> $a } map { $_->{max_us} } @$tl;
    is($maxp, $s->{latency_us}{max}, "$name: the largest point max is the scenario's max latency");
}
ok(!exists $j->{total}{timeline}, 'the total has no timeline (its scenarios start at different times)');

done_testing();
