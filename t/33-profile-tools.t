#!/usr/bin/perl
# The standard tools, by file and by URL, against a loaded server:
#   google-pprof --text BINARY FILE                         the legacy CPU profile
#   google-pprof --text http://HOST/pprof/profile?seconds=2  (symbols by POST /pprof/symbol)
#   google-pprof --text http://HOST/pprof/{heap,contention,growth}
#   go tool pprof -top http://HOST/debug/pprof/profile?seconds=2
#   go tool pprof -top http://HOST/debug/pprof/heap
#   go tool pprof -top http://HOST/debug/pprof/{block,mutex,goroutine}?debug=1 (Go's text forms)
#   go tool pprof -top BINARY FILE (legacy CPU, symbolized from the binary)
#   go tool pprof -comments FILE: the CPU engine (perf_event where allowed) and its rate
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Time::HiRes qw(sleep time);
use Orderd;

my $have_gp = `command -v google-pprof 2>/dev/null`;
my $have_go = `command -v go 2>/dev/null`;
plan skip_all => 'google-pprof and go are not installed' unless $have_gp || $have_go;

my $tmp = tempdir('orderd-t33-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $san = Orderd::sanitizer_build(); # no tcmalloc: no heap profile
local $ENV{HOME} = $tmp;
local $ENV{GOCACHE} = "$tmp/gocache";
local $ENV{PPROF_TMPDIR} = "$tmp/pprof";
mkdir "$tmp/pprof";
# a private copy of the binary: the tools read it while the tree may be rebuilt meanwhile
my $bin = Orderd::private_build($tmp);

my $s = Orderd->start(Orderd::hotspots());
my $base = $s->base;

# runs a command with a time limit; returns its stdout+stderr
sub run {
    my ($limit, @cmd) = @_;
    my $q = join ' ', map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } @cmd;
    return scalar `timeout $limit $q 2>&1`;
}

# the function names of a google-pprof --text table, heaviest flat first
sub gp_names { return map { /^\s*[\d.]+\s+[\d.]+%\s+[\d.]+%\s+[\d.]+\s+[\d.]+%\s+(\S+)/ ? $1 : () } split /\n/, shift }
sub go_names { return map { /^\s*\S+\s+[\d.]+%\s+[\d.]+%\s+\S+\s+[\d.]+%\s+(\S+)/ ? $1 : () } split /\n/, shift }
sub in_top { my ($n, $re, @names) = @_; return scalar grep { defined && /$re/ } @names[0 .. $n - 1] }

my $load = $s->start_load(40, 40000);
sleep 1.5;
my $price = qr/^(price_fraud_score|od_stage_price)/;

SKIP: {
    skip 'google-pprof is not installed', 12 unless $have_gp;
    # by file, with the binary
    my $r = HTTP::Tiny->new(timeout => 30)->get("$base/profile/cpu?seconds=2&format=legacy");
    is($r->{status}, 200, 'legacy CPU profile: 200');
    like($r->{headers}{'content-disposition'} // '', qr/\.prof"$/, '  downloaded as .prof');
    open my $f, '>:raw', "$tmp/cpu.prof" or die $!;
    print $f $r->{content};
    close $f;
    my $out = run(60, 'google-pprof', '--text', $bin, "$tmp/cpu.prof");
    like($out, qr/^Total: \d+ samples/m, 'google-pprof --text BINARY FILE reads it') or diag($out);
    ok(in_top(3, $price, gp_names($out)), '  the pricing stage among the top 3') or diag($out);

    # by URL: google-pprof fetches /pprof/symbol (GET and POST) and /pprof/cmdline itself
    $out = run(60, 'google-pprof', '--text', "$base/pprof/profile?seconds=2");
    like($out, qr/^Total: \d+ samples/m, 'google-pprof --text URL/pprof/profile?seconds=2') or diag($out);
    ok(in_top(3, $price, gp_names($out)), '  names the pricing stage (symbols by URL)') or diag($out);
    $out = run(60, 'google-pprof', '--text', '--seconds=2', "$base/pprof/profile");
    like($out, qr/for 2 seconds.*^Total: \d+ samples/ms, 'google-pprof --text --seconds=2 URL/pprof/profile') or diag($out);

    SKIP: {
        skip 'no heap profile in sanitizer builds', 2 if $san;
        $out = run(60, 'google-pprof', '--text', "$base/pprof/heap");
        like($out, qr/^Total: [\d.]+ MB/m, 'google-pprof --text URL/pprof/heap') or diag($out);
        ok(in_top(2, qr/^od_stage_record/, gp_names($out)), '  names od_stage_record') or diag($out);
    }
    $out = run(60, 'google-pprof', '--text', "$base/pprof/contention");
    like($out, qr/^Total: [\d.]+ seconds/m, 'google-pprof --text URL/pprof/contention') or diag($out);
    ok(in_top(2, qr/^(inventory_take|od_stage_reserve)/, gp_names($out)), '  names the inventory lock') or diag($out);
    $out = run(60, 'google-pprof', '--text', "$base/pprof/growth");
    like($out, qr/^Total: [\d.]+ MB/m, 'google-pprof --text URL/pprof/growth') or diag($out) unless $san;
}

SKIP: {
    skip 'go is not installed', 13 unless $have_go;
    my $out = run(60, 'go', 'tool', 'pprof', '-top', "$base/debug/pprof/profile?seconds=2");
    like($out, qr/^Type: cpu$/m, 'go tool pprof -top URL/debug/pprof/profile?seconds=2') or diag($out);
    ok(in_top(3, $price, go_names($out)), '  names the pricing stage') or diag($out);
    SKIP: {
        skip 'no heap profile in sanitizer builds', 2 if $san;
        $out = run(60, 'go', 'tool', 'pprof', '-top', "$base/debug/pprof/heap");
        like($out, qr/^Type: inuse_space$/m, 'go tool pprof -top URL/debug/pprof/heap') or diag($out);
        ok(in_top(2, qr/^od_stage_record/, go_names($out)), '  names od_stage_record') or diag($out);
    }
    $out = run(60, 'go', 'tool', 'pprof', '-top', "$base/debug/pprof/block");
    ok(in_top(2, qr/^od_stage_pay/, go_names($out)), 'go tool pprof -top URL/debug/pprof/block names od_stage_pay')
        or diag($out);
    # Go's text forms (debug=1), symbolized by go tool pprof through /debug/pprof/symbol
    for my $t (['block', qr/^od_stage_pay/, 'delay'], ['mutex', qr/^(inventory_take|od_stage_reserve)/, 'delay'],
               ['goroutine', qr/^(__GI___clock_nanosleep|od_sleep_ns|od_block_sleep_ns|od_stage_pay)/, 'goroutine']) {
        my ($k, $re, $type) = @$t;
        $out = run(60, 'go', 'tool', 'pprof', '-top', "$base/debug/pprof/$k?debug=1");
        like($out, qr/^Type: $type$/m, "go tool pprof -top URL/debug/pprof/$k?debug=1 reads Go's text form") or diag($out);
        ok(in_top(3, $re, go_names($out)), "  and names $re") or diag($out);
    }
    SKIP: {
        skip 'no legacy CPU profile', 2 unless -s "$tmp/cpu.prof";
        $out = run(60, 'go', 'tool', 'pprof', '-top', $bin, "$tmp/cpu.prof");
        like($out, qr/^Type: cpu$/m, 'go tool pprof -top BINARY legacy-FILE reads the gperftools format') or diag($out);
        # go's own symbolizer leaves the static, cloned price_fraud_score.constprop.0 as
        # "[orderd]", so look for the stage among all the rows (by cum)
        like($out, qr/\bod_stage_price$/m, '  names the pricing stage') or diag($out);
    }
}

# the engine in use, as the log, GET /profile and the profile's own comments say
SKIP: {
    my ($engine) = $s->log_text =~ /profiling: cpu engine (\S+) at \d+ Hz/;
    ok(defined $engine, "the log names the cpu engine (" . ($engine // 'none') . ")") or diag($s->log_text);
    my $st = $s->get_json('/profile');
    is($st->{cpu_engine}, $engine, 'GET /profile: cpu_engine as logged');
    is($st->{cpu_hz}, 100, 'GET /profile: cpu_hz 100');
    like($s->get('/debug/pprof/')->{content}, qr/CPU profile \(\Q@{[$engine \/\/ '?']}\E engine, 100 Hz\)/,
         '/debug/pprof/ describes the profile with its engine and rate');
    skip "the cpu engine here is " . ($engine // 'unknown') . ", not perf_event (perf_event_open refused)", 4
        unless ($engine // '') eq 'perf_event' && $have_go;
    like($s->log_text, qr/profiling: cpu engine perf_event at 100 Hz \(one event, inherited by every thread\)/,
         'perf_event: the log says the event was armed before the threads started') or diag($s->log_text);
    my $r = HTTP::Tiny->new(timeout => 30)->get("$base/debug/pprof/profile?seconds=2");
    open my $f, '>:raw', "$tmp/perf.pb.gz" or die $!;
    print $f $r->{content};
    close $f;
    my $out = run(60, 'go', 'tool', 'pprof', '-top', "$tmp/perf.pb.gz");
    ok(in_top(3, $price, go_names($out)), 'perf_event profile: go tool pprof -top names the pricing stage') or diag($out);
    $out = run(60, 'go', 'tool', 'pprof', '-comments', "$tmp/perf.pb.gz");
    like($out, qr/^cpu engine: perf_event \(cpu-clock, one event inherited by every thread, SIGTRAP\), 100 Hz, period 10 ms, \d+ threads, \d+ samples dropped/m,
         '  its comment names the engine, rate, period and threads') or diag($out);
    my ($threads) = $out =~ /(\d+) threads/;
    ok(($threads // 0) >= 6, "  every thread sampled: $threads (4 workers, http, the profiler, ...)") or diag($out);
}

kill 'TERM', $load;
waitpid($load, 0);
my ($rc, $log) = $s->stop;
is($rc, 0, 'clean exit') or diag($log);
done_testing;
