#!/usr/bin/perl
# orderload's open model, checked from the server's side: a rate of 2000/s for 5 s is
# counted by a server written here (total within 1 %, each second within 5 %, the span 5 s);
# and a 1 s stall of build/hello_h2o (SIGSTOP/SIGCONT) during a 1000/s run shows in the
# latency p99 and max, because latency counts from each request's intended start (and the
# self-check says the arrivals that waited for a connection were late).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use Time::HiRes ();
use Orderload qw(build_dir orderload_bg orderload_output reaped serve slurp start_hello start_server wait_port);

my $B    = build_dir();
my $LOAD = "$B/orderload";
plan skip_all => "$LOAD or $B/hello_h2o not built" unless -x $LOAD && -x "$B/hello_h2o";

my $dir = tempdir(CLEANUP => 1);

# A counting server: answers every request 200 on keep-alive connections and writes the
# arrival time of each to $log when it gets SIGTERM.
sub start_counter {
    my ($log) = @_;
    return start_server(sub {
        my ($srv) = @_;
        my @times;
        my $stop = 0;
        $SIG{TERM} = sub { $stop = 1 };
        my $resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        serve($srv, timeout => 0.2, stop => sub { $stop }, on_read => sub {
            my ($s, $b) = @_;
            my $now = Time::HiRes::time();
            my $out = '';
            while ((my $i = index($$b, "\r\n\r\n")) >= 0) {    # GET requests: no bodies
                substr($$b, 0, $i + 4) = '';
                push @times, $now;
                $out .= $resp;
            }
            syswrite($s, $out) if length $out;
        });
        open my $fh, '>', $log or die;
        print $fh join("\n", map { sprintf '%.6f', $_ } @times), "\n";
        close $fh;
    });
}

# ---- rate accuracy, counted by the server ----------------------------------------------------
open my $sf, '>', "$dir/rate.lua" or die;
print $sf <<'EOF';
return {
  scenarios = { rate = { executor = "constant-arrival-rate", rate = 2000, duration = "5s" } },
  request = { method = "GET", path = "/count" },
}
EOF
close $sf;
my ($cpid, $cport) = start_counter("$dir/times.log");
my $lpid = orderload_bg('-u', "http://127.0.0.1:$cport", '--quiet', '--no-announce', '--json', "$dir/rate.json",
    "$dir/rate.lua");
waitpid($lpid, 0);
is($? >> 8, 0, 'orderload 2000/s for 5 s exits 0') or diag((orderload_output())[1]);
kill 'TERM', $cpid;
waitpid($cpid, 0);
reaped($cpid);
my @t = grep { /\d/ } split /\n/, slurp("$dir/times.log");
my $n = scalar @t;
ok(abs($n - 10000) <= 100, "the server counted $n requests: within 1 % of 10000");
my $span = @t ? $t[-1] - $t[0] : 0;
ok(abs($span - 5) < 0.1, sprintf('they arrived over %.3f s (5 s scheduled)', $span));
my @per = (0) x 5;
for (@t) { my $s = int($_ - $t[0]); $per[$s]++ if $s < 5 }
# (5 %: the counting server is Perl and may itself be descheduled on a busy machine)
SKIP: {
    # under TSan the instrumented generator starts late and catches up: the total holds, not each second
    skip "per-second pacing under ThreadSanitizer (@per)", 1 if ($ENV{ORDERD_SAN} // '') eq 'tsan';
    ok(!(grep { abs($_ - 2000) > 100 } @per), "each second got 2000 within 5 % (@per)");
}
my $j = decode_json(slurp("$dir/rate.json") || '{}');
my $r = $j->{scenarios}{rate};
is($r && $r->{counts}{sent}, $n, 'orderload\'s sent count equals the server\'s count');
ok($r && abs($r->{rate}{achieved} - 2000) <= 20, 'reported achieved rate within 1 % of the target');
ok($r && $r->{counts}{dropped} == 0, 'nothing dropped');

# ---- a 1 s stall shows in p99 and max -------------------------------------------------------
my ($hpid, $hport) = start_hello();
wait_port($hport);
open $sf, '>', "$dir/stall.lua" or die;
print $sf <<'EOF';
return {
  scenarios = { stall = { executor = "constant-arrival-rate", rate = 1000, duration = "4s" } },
  request = { method = "POST", path = "/orders", headers = { ["Content-Type"] = "application/json" }, body = "{}" },
}
EOF
close $sf;
$lpid = orderload_bg('-u', "http://127.0.0.1:$hport", '--quiet', '--no-announce', '--json', "$dir/stall.json",
    "$dir/stall.lua");
Time::HiRes::sleep(1.5);
kill 'STOP', $hpid;
Time::HiRes::sleep(1.0);
kill 'CONT', $hpid;
waitpid($lpid, 0);
is($? >> 8, 0, 'the stalled run exits 0') or diag((orderload_output())[1]);
$j = decode_json(slurp("$dir/stall.json") || '{}');
my $s = $j->{scenarios}{stall};
my $l = $s->{latency_us};
ok($l->{max} >= 900_000 && $l->{max} < 3_000_000, "max latency shows the 1 s stall ($l->{max} us)");
ok($l->{p99} >= 500_000, "p99 shows it too ($l->{p99} us): requests waiting for the server count from their intended start");
ok($l->{p50} < 100_000, "p50 does not ($l->{p50} us)");
is($s->{counts}{completed}, 4000, 'every request of the stalled run completed');
is($s->{counts}{dropped}, 0, 'none dropped: the backlog held the arrivals during the stall');
ok($s->{counts}{late} > 100, "arrivals that waited for a connection are counted late ($s->{counts}{late})");
ok($s->{conn_wait_us}{max} > 300_000, "and their connection wait shows it ($s->{conn_wait_us}{max} us)");
ok($s->{send_delay_us}{max} < $s->{conn_wait_us}{max} / 2,
    "... not their send delay ($s->{send_delay_us}{max} us): they went as soon as a connection was free");
# the self-check: the server got those arrivals late, and more connections cure it
my $v = $j->{self_check};
ok($v && !$v->{ok} && $v->{conn_wait_scenario} eq 'stall' && $v->{conn_wait_share} > 0.1,
    'the self-check warns about the stalled scenario\'s connection wait');
ok($v && (grep { /^stall: conn wait p99 \S+ is \d+% of latency p99 .*the server got them late/ } @{ $v->{problems} }),
    '... and names it a problem') or diag(explain($v));
ok($v && (grep { /stall: \d+ arrivals waited for a free connection: raise its connections \(now 256\)/ } @{ $v->{advice} }),
    '... and says to raise its connections') or diag(explain($v));
like((orderload_output())[1], qr/self-check: WARNING.*what to change: stall: \d+ arrivals waited/s,
    '--quiet still prints the warning on stderr');

done_testing();
