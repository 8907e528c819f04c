#!/usr/bin/perl
# SIGHUP reload under load.  A client posts orders all along (and records every answer) while
# the test edits the YAML and the Lua scripts and sends SIGHUP: a good reload changes the pool
# (workers up, then down; the queue shrunk below its length), a stage knob, the rules and the
# schedule, logs what changed and names what needs a hand-over; a broken YAML, a broken
# workers.lua or a broken rules.lua change nothing but the log and the failure counter.  At the
# end every accepted order was processed and no request failed (503 only while the shrunk
# queue was full).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(sleep time);
use File::Temp qw(tempdir);
use Orderd qw(order wait_until json_decode);

my $dir = tempdir('orderd-reload-XXXXXX', TMPDIR => 1, CLEANUP => 1);
sub put { my ($name, $text) = @_; open my $f, '>', "$dir/$name" or die $!; print $f $text; close $f; "$dir/$name" }
sub slurp { local $/; open my $f, '<', $_[0] or return ''; return scalar <$f> }

sub workers_lua {
    my ($workers, $queue, $max_amount) = @_;
    return "return { workers = $workers, queue = $queue, validate = { max_amount = $max_amount },\n"
         . "         reserve = { stripes = 4, hold_us = 0 }, price = { work_us = 100 },\n"
         . "         pay = { ms_per_priority = 0, fixed_ms = 8 }, record = { alloc_bytes = 256 } }\n";
}
my $workers = put('workers.lua', workers_lua(1, 5000, 10000));
my $rules = put('rules.lua', "return { route = function(order) return nil end }\n");
my $sched = put('sched.lua', "return { { every = \"1s\", capture = \"goroutines\", label = \"tick\" } }\n");
sub yaml {
    my (%o) = @_;
    my $threads = $o{threads} // 1;
    my $schedule = $o{schedule} // '""';
    my $scenarios = $o{scenarios} // '[]';
    my $hz = $o{hz} // 100;
    my $mf = $o{mutex_fraction} // 1;
    return "listen: 127.0.0.1:PORT\nscenarios: $scenarios\nhttp:\n  threads: $threads\n"
         . "pool:\n  script: $workers\n  rules: $rules\n  results_kept: 100000\n"
         . "profiling:\n  schedule: $schedule\n  output_dir: $dir/profiles\n  cpu_hz: $hz\n"
         . "  mutex_fraction: $mf\n";
}

my $s = Orderd->start(raw_yaml => yaml());
my $yaml_path = $s->dir . '/orderd.yaml';
my $port = $s->port;
sub write_yaml { my $y = yaml(@_); $y =~ s/PORT/$port/g; open my $f, '>', $yaml_path or die; print $f $y; close $f }

sub counters {
    my $m = $s->get('/metrics')->{content} // '';
    my ($ok) = $m =~ /^orderd_config_reloads_total\{result="ok"\} (\d+)$/m;
    my ($failed) = $m =~ /^orderd_config_reloads_total\{result="failed"\} (\d+)$/m;
    return ($ok, $failed);
}
my ($ok0, $failed0) = counters();
is $ok0, 0, 'orderd_config_reloads_total{result="ok"} is there from the start, at 0';
is $failed0, 0, 'and {result="failed"} too';
my $st = $s->get_json('/stats');
is $st->{config_generation}, 1, '/stats: config_generation 1 at start';
like $st->{config_loaded_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, '/stats: config_loaded_at in RFC 3339 UTC';
my $loaded1 = $st->{config_loaded_at};

# SIGHUP, then wait until the reload is counted; returns 'ok' or 'failed'
sub reload {
    my ($ok, $failed) = counters();
    kill 'HUP', $s->pid;
    my $got = '';
    wait_until(60, sub {
        my ($o, $f) = counters();
        $got = $o > $ok ? 'ok' : $f > $failed ? 'failed' : '';
        $got ne '';
    });
    return $got;
}

# the orders' own answers: each POST's status code on a line of $codes
my $codes = "$dir/codes";
my $stop = "$dir/stop";
my $lpid = fork // die;
if (!$lpid) {
    open my $out, '>', $codes or POSIX::_exit(1);
    $out->autoflush(1);
    my $sock;
    for (my $i = 0; !-e $stop; $i++) {
        $sock ||= IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or do { print $out "conn\n"; sleep 0.1; next };
        setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
        my $body = Orderd::json_encode(order(items => ["SKU-$i", 'SKU-' . ($i % 7)], priority => 1 + $i % 3,
                                             amount => 10 + $i % 300));
        syswrite $sock, "POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      . "Content-Length: " . length($body) . "\r\n\r\n$body";
        my $buf = '';
        while ($buf !~ /\r\n\r\n/) { sysread($sock, $buf, 4096, length $buf) or last }
        my ($code) = $buf =~ m{^HTTP/1\.1 (\d+)};
        my ($len) = $buf =~ /^content-length:\s*(\d+)/mi;
        my $need = index($buf, "\r\n\r\n") + 4 + ($len // 0);
        while (length($buf) < $need) { sysread($sock, $buf, 4096, length $buf) or last }
        print $out(($code // 'none') . "\n");
        undef $sock if !defined $code || length($buf) < $need || $buf =~ /^connection:\s*close/mi;
        sleep 0.004;
    }
    POSIX::_exit(0);
}
sub answers { my @c = split /\n/, slurp($codes); return @c }

# one order (posted again while the queue is full), followed to its end
sub finished {
    my (%o) = @_;
    my $r;
    wait_until(60, sub { $r = $s->post_json('/orders', order(%o)); $r->{status} != 503 });
    my $id = (json_decode($r->{content} // '') // {})->{id} // 'none';
    my $o;
    wait_until(60, sub { $o = $s->get_json("/orders/$id"); $o && ($o->{state} // '') =~ /^(done|failed)$/ });
    return $o // {};
}
sub worker_threads {
    my $n = 0;
    for my $c (glob("/proc/" . $s->pid . "/task/*/comm")) { $n++ if slurp($c) =~ /^worker-/ }
    return $n;
}

# under load: one slow worker, so a backlog builds
ok wait_until(60, sub { ($s->get_json('/stats') // {})->{queue_length} >= 40 }), 'under load, a backlog builds';
is finished(customer => 'Mallory', amount => 800)->{state}, 'done', 'before: an order of 800 by Mallory is done';

# --- a good reload: more workers, a queue smaller than its length, a knob, rules, a schedule --
put('workers.lua', workers_lua(4, 10, 500));
put('rules.lua', "return { route = function(order)\n  if order.customer == 'Mallory' then return false, 'mallory is barred' end\nend }\n");
my %good = (threads => 2, schedule => $sched, scenarios => '[lua/scenarios/normal.lua]', hz => 50,
            mutex_fraction => 5);
is_deeply $s->get_json('/scenarios')->{files}, [], 'before: no scenario files';
my $engine = $s->get_json('/profile')->{cpu_engine} // '';
write_yaml(%good);
my $before = $s->get_json('/stats');
my $mark = () = answers();
is reload(), 'ok', 'SIGHUP with a good config: counted ok';
$st = $s->get_json('/stats');
is $st->{config_generation}, 2, 'config_generation 2';
isnt $st->{config_loaded_at}, $loaded1, 'config_loaded_at moved';
is $st->{workers}, 4, 'workers 1 -> 4 (/stats)';
is $st->{queue_capacity}, 10, 'queue capacity 5000 -> 10';
cmp_ok $before->{queue_length}, '>', 10, "the queue held more than the new capacity ($before->{queue_length})";
ok wait_until(30, sub { worker_threads() == 4 }), 'four worker threads run' or diag worker_threads();
my $o = finished(customer => 'Ada', amount => 800);
is $o->{state}, 'failed', 'validate.max_amount 10000 -> 500: an order of 800 now fails';
is $o->{error}, 'order amount exceeds limit', 'with the validate stage\'s message';
$o = finished(customer => 'Mallory', amount => 100);
is $o->{error}, 'rejected by rules: mallory is barred', 'the new rules run in every worker' or diag explain $o;
ok wait_until(30, sub { grep { $_ eq '503' } (answers())[$mark .. $#{[answers()]}] }),
    'while the queue is above its new capacity, new orders get the usual 503';
ok wait_until(60, sub { glob("$dir/profiles/*goroutine*") || glob("$dir/profiles/*/*goroutine*") }),
    'the new schedule runs: a capture lands in the output directory';
my $log = $s->log_text;
like $log, qr/reload: workers: 1 -> 4$/m, 'the log: workers: 1 -> 4';
like $log, qr/reload: queue: 5000 -> 10$/m, 'the log: queue: 5000 -> 10';
like $log, qr/reload: validate\.max_amount: 10000 -> 500$/m, 'the log: validate.max_amount: 10000 -> 500';
like $log, qr/reload: pool\.rules: \S+rules\.lua: its text changed$/m, 'the log: the rules\' text changed';
like $log, qr/reload: profiling\.schedule: "" -> "\S+sched\.lua"$/m, 'the log: profiling.schedule';
like $log, qr/reload: http\.threads: 1 -> 2 \(needs a hand-over: not applied\)$/m,
    'the log: http.threads needs a hand-over and is not applied';
like $log, qr/reload: profiling\.mutex_fraction: 1 -> 5$/m, 'the log: profiling.mutex_fraction: 1 -> 5';
my $files = $s->get_json('/scenarios')->{files} // [];
is scalar(@$files), 1, 'GET /scenarios: the new scenario file is served' or diag explain $files;
if ($engine eq 'perf_event') {
    like $log, qr/reload: profiling\.cpu_hz: 100 -> 50$/m, 'the log: profiling.cpu_hz: 100 -> 50 (perf_event: live)';
    is $s->get_json('/profile')->{cpu_hz}, 50, 'GET /profile: the perf_event engine samples at 50 Hz now';
} else {
    like $log, qr/reload: profiling\.cpu_hz: 100 -> 50 \(the itimer engine read its rate at exec: needs a hand-over/m,
        'the log: cpu_hz on the itimer engine needs a hand-over';
    is $s->get_json('/profile')->{cpu_hz}, 100, 'GET /profile: the itimer engine keeps its rate';
}
like $log, qr/reload: generation 2 applied \(\d+ changes; schedule restarted\)/, 'the log: generation 2 applied';

# --- fewer workers, the queue back, the schedule's text changed -------------------------------
put('workers.lua', workers_lua(2, 5000, 500));
put('sched.lua', "return { { every = \"2s\", capture = \"goroutines\", label = \"tock\" } }\n");
is reload(), 'ok', 'SIGHUP again: counted ok';
$st = $s->get_json('/stats');
is $st->{config_generation}, 3, 'config_generation 3';
is $st->{workers}, 2, 'workers 4 -> 2 (/stats)';
ok wait_until(30, sub { worker_threads() == 2 }), 'the two extra worker threads left (between orders)' or diag worker_threads();
$log = $s->log_text;
like $log, qr/reload: workers: 4 -> 2$/m, 'the log: workers: 4 -> 2';
like $log, qr/reload: profiling\.schedule: \S+sched\.lua: its text changed$/m, 'the log: the schedule\'s text changed';
like $log, qr/reload: http\.threads: 1 -> 2 \(needs a hand-over/, 'still named: http.threads needs a hand-over';
ok wait_until(30, sub { ($s->get_json('/stats') // {})->{queue_length} < 1000 }), 'the queue has room again';
sleep 1;

# --- broken configs: nothing changes but the log and the failure counter ---------------------
$mark = () = answers();
my @broken = (
    ['a broken YAML', sub { open my $f, '>>', $yaml_path or die; print $f "bogus_key: 1\n"; close $f },
     qr/^orderd: error: \S+orderd\.yaml:\d+:\d+: /m],
    ['a broken workers.lua', sub { put('workers.lua', "return { workers = 3, queue = }\n") },
     qr/^orderd: error: \S+workers\.lua:1:/m],
    ['a broken rules.lua', sub { put('rules.lua', "return { route = function(order) return end\n") },
     qr/^orderd: error: \S+rules\.lua:\d+:/m],
);
my $failed = 0;
for my $b (@broken) {
    my ($name, $break, $where) = @$b;
    write_yaml(%good);
    put('workers.lua', workers_lua(2, 5000, 500));
    put('rules.lua', "return { route = function(order)\n  if order.customer == 'Mallory' then return false, 'mallory is barred' end\nend }\n");
    $break->();
    my $len = length $s->log_text;
    is reload(), 'failed', "$name: counted failed";
    $failed++;
    my $new = substr($s->log_text, $len);
    like $new, $where, "$name: the problem is logged as FILE:LINE:COL: message" or diag $new;
    like $new, qr/reload: the config has problems \(above\): nothing changed; still serving generation 3/,
        "$name: the log says nothing changed";
    unlike $new, qr/reload: workers:|generation 4/, "$name: no change is logged";
    $st = $s->get_json('/stats');
    is $st->{config_generation}, 3, "$name: still generation 3";
    is $st->{workers}, 2, "$name: still 2 workers";
    is $st->{queue_capacity}, 5000, "$name: still a queue of 5000";
    is finished(customer => 'Mallory', amount => 100)->{error}, 'rejected by rules: mallory is barred',
        "$name: the running rules still run";
}
my ($okN, $failedN) = counters();
is $okN, 2, 'orderd_config_reloads_total{result="ok"} 2';
is $failedN, $failed, "orderd_config_reloads_total{result=\"failed\"} $failed";
like $s->get('/metrics')->{content}, qr/^orderd_config_generation 3$/m, '/metrics: orderd_config_generation 3';
my @after = (answers())[$mark .. $#{[answers()]}];
cmp_ok scalar(@after), '>', 20, 'the load went on through the broken reloads (' . scalar(@after) . ' orders)';
is_deeply [grep { $_ ne '202' } @after], [], 'every order posted meanwhile was accepted (202)';

# --- a storm of SIGHUPs: superseded generations are bounded -----------------------------------
# generation 2 is kept (superseded, within its grace period) and 3 runs: 63 more fill the 64
# kept, and the next reload is refused rather than keep one more
put('rules.lua', "return { route = function(order)\n  if order.customer == 'Mallory' then return false, 'mallory is barred' end\nend }\n");
my ($applied, $result) = (0, '');
while ($applied < 80) {
    $result = reload();
    last if $result ne 'ok';
    $applied++;
}
is $applied, 63, '63 more reloads applied while 64 superseded generations fit';
is $result, 'failed', 'the next one is refused';
like $s->log_text, qr/reload: refused: 64 reloads within 60 s .*; still serving generation 66/,
    'the log says why, and which generation still serves';
is $s->get_json('/stats')->{config_generation}, 66, 'generation 66 serves';

# --- the end: every accepted order processed, no request failed ------------------------------
open my $sf, '>', $stop or die; close $sf;
waitpid($lpid, 0);
my ($rc, $text) = $s->stop('TERM', 120);
is $rc, 0, 'SIGTERM: exit 0';
my ($acc, $proc) = $text =~ /summary: accepted=(\d+) processed=(\d+)/;
ok defined $acc, 'the summary is printed' or diag $text;
is $proc, $acc, "every accepted order was processed ($acc)";
my @all = answers();
my %by; $by{$_}++ for @all;
my $seen = $by{202} // 0;
is_deeply [grep { $_ ne '202' && $_ ne '503' } sort keys %by], [], 'no request failed (only 202, and 503 while the queue was full)'
    or diag explain \%by;
cmp_ok $seen, '>', 100, "the client saw $seen orders accepted";
cmp_ok $seen, '<=', $acc, 'and all of them are among the processed';
unlike $text, qr/ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|WARNING: ThreadSanitizer|runtime error:/,
    'no sanitizer report';
done_testing;
