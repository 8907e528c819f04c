#!/usr/bin/perl
# orderload: options, exit codes (0, 2 usage/script error with file:line, 3 unreachable,
# 99 threshold failed), the JSON report's schema, name resolution through the YAML, and the
# closed model — against build/hello_h2o on a free port.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use POSIX ();
use Orderload qw(build_dir free_port orderload start_hello wait_port);

my $B    = build_dir();
my $LOAD = "$B/orderload";
plan skip_all => "$LOAD or $B/hello_h2o not built" unless -x $LOAD && -x "$B/hello_h2o";

my $dir = tempdir(CLEANUP => 1);

sub write_file {
    my ($name, $text) = @_;
    open my $f, '>', "$dir/$name" or die;
    print $f $text;
    close $f;
    return "$dir/$name";
}

sub read_json {
    my ($path) = @_;
    local $/;
    open my $f, '<', $path or return undef;
    return decode_json(<$f>);
}

my ($hpid, $port) = start_hello();
wait_port($port) or die "hello_h2o did not start";
my $url = "http://127.0.0.1:$port";

# --help and usage
my ($rc, $out, $err) = orderload('--help');
is($rc, 0, '--help exits 0');
like($out, qr/-u URL.*-d DURATION.*--spin DURATION.*--json FILE.*--progress INTERVAL.*--quiet/s, '--help lists the options');
like($out, qr/--spin DURATION.*0 to 10ms; default \d+(us|ms)/s, '... with the spin window\'s range and default');
for my $bad ('-1us', '10.5ms', '1', 'soon') {
    ($rc, $out, $err) = orderload('--spin', $bad, '-u', $url, 'x');
    is($rc, 2, "--spin $bad is a usage error (2)");
    like($err, qr/--spin \Q$bad\E: the spin window must be a duration from 0 to 10ms/, '... saying what it must be');
}
($rc, $out, $err) = orderload();
is($rc, 2, 'no SCENARIO is a usage error (2)');
($rc, $out, $err) = orderload('--bogus', 'x');
is($rc, 2, 'an unknown option is a usage error (2)');
($rc, $out, $err) = orderload('-u', $url, 'no-such-scenario');
is($rc, 2, 'an unknown scenario name exits 2');
like($err, qr/no-such-scenario/, '... and names it');

# script errors: syntax, bad value, error at run time
my $syn = write_file('syntax.lua', "return {\n  scenarios = { s = { rate = 10, duration = '1s' } }\n  oops\n}\n");
($rc, $out, $err) = orderload('-u', $url, $syn);
is($rc, 2, 'a syntax error exits 2');
like($err, qr/\Q$syn\E:3:/, '... naming file:line');
my $badval = write_file('badval.lua', "return {\n  scenarios = {\n    s = { rate = -5, duration = '1s' },\n  },\n}\n");
($rc, $out, $err) = orderload('-u', $url, $badval);
is($rc, 2, 'an out-of-range value exits 2');
like($err, qr/\Q$badval\E:3:\d+: scenarios\.s\.rate/, '... naming file:line:col and the key');
my $rt = write_file('runtime.lua', <<'EOF');
return {
  scenarios = { s = { rate = 50, duration = "0.5s" } },
  request = function(ctx)
    if ctx.seq == 7 then error("boom at seven") end
    return "GET", "/"
  end,
}
EOF
($rc, $out, $err) = orderload('-u', $url, '--quiet', '--json', "$dir/rt.json", $rt);
is($rc, 2, 'an error raised by request() while running exits 2');
like($err, qr/\Q$rt\E:4: boom at seven/, '... reporting file:line and the message');
my $j = read_json("$dir/rt.json");
is($j && $j->{scenarios}{s}{errors}{script}, 1, '... counted once as a script error, the run going on');
is($j && $j->{scenarios}{s}{counts}{completed}, 24, '... while the other 24 requests completed');

# unreachable target
my $closed = free_port();
my $ok = write_file('ok.lua', "return { scenarios = { s = { rate = 20, duration = '0.5s' } } }\n");
($rc, $out, $err) = orderload('-u', "http://127.0.0.1:$closed", $ok);
is($rc, 3, 'an unreachable target exits 3');
like($err, qr/unreachable/, '... saying so');

# thresholds: 99 when one fails; the JSON says which
my $th = write_file('th.lua', <<'EOF');
return {
  scenarios = { fast = { executor = "constant-arrival-rate", rate = 200, duration = "1s" } },
  thresholds = {
    ["latency.p99"] = "< 5s",
    ["fast:completed"] = "> 1000000",
    ["error_rate"] = "< 1%",
  },
}
EOF
($rc, $out, $err) = orderload('-u', $url, '--progress', '0', '--json', "$dir/th.json", $th);
is($rc, 99, 'a failed threshold exits 99');
like($out, qr/✗ fast:completed > 1000000/, 'the report marks the failed threshold ✗');
like($out, qr/✓ latency\.p99 < 5s/, '... and the passed ones ✓');
$j = read_json("$dir/th.json");
ok($j, 'the JSON report is written');
is($j->{schema}, 1, 'schema 1');
ok(!$j->{ok}, '"ok" is false');
my ($failed) = grep { $_->{expr} eq 'fast:completed > 1000000' } @{ $j->{thresholds} };
ok($failed && !$failed->{ok} && $failed->{value} == 200, 'the failed threshold is listed with its value');
my ($lat) = grep { $_->{expr} eq 'latency.p99 < 5s' } @{ $j->{thresholds} };
ok($lat && $lat->{ok} && $lat->{value} > 0, 'the passed latency threshold has its value in µs');

# the JSON schema, field by field
my $s = $j->{scenarios}{fast};
is($s->{executor}, 'constant-arrival-rate', 'scenario executor');
is_deeply([sort keys %{ $s->{counts} }], [qw(completed dropped late queued scheduled sent)], 'counts fields (queued: added within schema 1)');
is($s->{counts}{scheduled}, 200, '200/s for 1 s schedules 200');
is($s->{counts}{sent}, 200, '... sends 200');
is($s->{counts}{completed}, 200, '... completes 200');
is($s->{status_codes}{200}, 200, 'status_codes counts the 200s');
ok(abs($s->{rate}{target} - 200) < 1e-9 && abs($s->{rate}{achieved} - 200) < 2, 'rate target and achieved');
for my $k (qw(connect read write timeout)) {
    ok(exists $s->{errors}{$k} && $s->{errors}{$k} == 0, "errors.$k present and 0");
}
for my $h (qw(latency_us service_time_us send_delay_us conn_wait_us)) {
    my @want = qw(min mean stdev max p50 p75 p90 p95 p99 p99.9 p99.99);
    ok(!(grep { !exists $s->{$h}{$_} } @want), "$h has min/mean/stdev/max and p50..p99.99");
}
ok($s->{latency_us}{min} <= $s->{latency_us}{p50} && $s->{latency_us}{p50} <= $s->{latency_us}{p99}
      && $s->{latency_us}{p99} <= $s->{latency_us}{max}, 'latency percentiles are ordered');
ok($s->{latency_us}{p50} >= $s->{service_time_us}{p50}, 'latency (from the intended start) >= service time');

# the self-check: a verdict consistent with its own figures, in the JSON and on stdout
my $v = $j->{self_check};
ok($v && defined $v->{ok}, 'the JSON has a self_check verdict');
my @vkeys = qw(ok scenario send_delay_p99_us latency_p99_us send_delay_share share_limit busiest_thread busy_limit
               threads spin_us spin_window_us spin_window_max_us cpu_s spin_s runq_s spin_off_s problems advice
               conn_wait_scenario conn_wait_p99_us conn_wait_share stalls stalled_s stall_max_us overslept);
ok($v && !(grep { !exists $v->{$_} } @vkeys), 'self_check has its fields');
is($v->{scenario}, 'fast', '... naming the scenario judged');
is($v->{send_delay_p99_us}, $s->{send_delay_us}{p99}, '... with the scenario\'s send delay p99');
is($v->{latency_p99_us}, $s->{latency_us}{p99}, '... and latency p99');
my $pass = $v->{send_delay_p99_us} <= 0.1 * $v->{latency_p99_us} && $v->{busiest_thread} <= 0.9
    && $v->{conn_wait_share} <= 0.1;
is(!!$v->{ok}, !!$pass,
    'ok exactly when send delay p99 and conn wait p99 are <= 10 % of latency p99 and no thread was over 90 % busy');
ok($s->{latency_us}{p50} + 2 >= $s->{service_time_us}{p50},
    'latency p50 covers service p50 (latency = conn wait + send delay + service)');
is(scalar @{ $v->{problems} } == 0, !!$v->{ok}, 'problems are listed exactly when it is not ok');
ok($v->{ok} || @{ $v->{advice} }, '... each time with what to change');
ok($v->{busiest_thread} >= 0 && $v->{busiest_thread} <= 1, "the busiest thread's share is a share ($v->{busiest_thread})");
ok($v->{spin_s} > 0 && $v->{spin_s} < 1.5, "200 sends through a window of at most 2ms spun a while, within the run ($v->{spin_s} s)");
ok($v->{spin_window_us} > 0 && $v->{spin_window_us} <= $v->{spin_window_max_us} && $v->{spin_window_max_us} <= $v->{spin_us},
   "the adapted window ($v->{spin_window_us} us on average, $v->{spin_window_max_us} at most) is within --spin ($v->{spin_us} us)");
like($out, $v->{ok} ? qr/^self-check: ok, these figures measure the server/m
                    : qr/^self-check: WARNING, these figures may measure orderload/m, 'stdout says the same verdict');
like($out, qr/^orderload used [\d.]+ s of CPU: [\d.]+ us per request \(its threads spun [\d.]+ s, a window of [\d.]+(us|ms) on average, --spin 2\.00ms\)/m,
    'the CPU line says how much of it was spinning');
is($j->{total}{counts}{completed}, 200, 'total has the same fields');

# name resolution through the YAML's scenarios list (other keys tolerated)
mkdir "$dir/sc";
write_file('sc/mine.lua', "return { scenarios = { mine = { rate = 10, duration = '0.3s' } } }\n");
my $yaml = write_file('orderd.yaml', <<"EOF");
listen: 127.0.0.1:8080
http:
  threads: 1
profiling:
  keep: { files: 200, bytes: 256MiB }
scenarios: [$dir/sc/mine.lua]
EOF
($rc, $out, $err) = orderload('-c', $yaml, '-u', $url, '--progress', '0', 'mine');
is($rc, 0, 'a name listed in the YAML resolves to its file');
like($out, qr/scenario mine .*\Q$dir\E\/sc\/mine\.lua/, '... and runs it');
($rc, $out, $err) = orderload('-c', "$dir/missing.yaml", '-u', $url, 'mine');
is($rc, 2, 'an explicit -c that does not exist is an error');

# closed model and -d scaling
my $cl = write_file('closed.lua', "return { scenarios = { max = { executor = 'constant-concurrency', connections = 4, duration = '10s' } } }\n");
my $t0 = time;
($rc, $out, $err) = orderload('-u', $url, '-d', '1s', '-t', '2', '--quiet', '--json', "$dir/cl.json", $cl);
is($rc, 0, 'a closed-model run exits 0');
ok(time - $t0 < 6, '-d 1s scales a 10 s scenario down');
$j = read_json("$dir/cl.json");
my $m = $j->{scenarios}{max};
ok($m->{counts}{completed} > 500, "closed model completes many requests ($m->{counts}{completed})");
ok(!defined $m->{rate}{target}, 'closed model has no target rate (null)');
is($m->{counts}{sent}, $m->{counts}{completed}, 'closed model: every request sent completed');
ok(abs($m->{rate}{achieved} * 1 - $m->{counts}{completed}) <= $m->{counts}{completed} * 0.05,
    'achieved rate = completed / duration');

done_testing();
