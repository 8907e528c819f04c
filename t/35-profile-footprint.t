#!/usr/bin/perl
# The profiler's own footprint stays out of the server's profiles (a loaded server, the real
# tools reading what it serves):
#   - symbolization runs in a helper process: after the first capture orderd's RSS grows by at
#     most 8 MiB, and the profiler's code (src/prof/*, libdw, libelf) holds at most 5 % of
#     inuse_space; the profiler's allocations are not the top of allocs
#   - the helper: a child of orderd named prof-symbolize, none of orderd's descriptors but stdio
#     and its socket (fd 3), no gperftools or tcmalloc variables; killed, it is replaced
#     (profiles still symbolized), never a zombie; it goes when orderd goes, even SIGKILLed
#   - mapping flags only where true ([vdso] and stripped libraries without [FL][LN])
#   - windowed (?seconds=N) memory, block and mutex profiles carry their duration
#   - mutex samples carry the lock's name (pprof -tags, text form)
#   - profiler threads are prof-*, labelled profiler=yes, folded into one line when idle
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Time::HiRes qw(sleep time);
use Orderd qw(wait_until);

plan skip_all => 'go is not installed' unless `command -v go 2>/dev/null`;

my $tmp = tempdir('orderd-t34-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $san = Orderd::sanitizer_build(); # no tcmalloc: no heap profile; RSS is the sanitizer's
local $ENV{HOME} = $tmp;
local $ENV{GOCACHE} = "$tmp/gocache";
local $ENV{PPROF_TMPDIR} = "$tmp/pprof";
mkdir "$tmp/pprof";
Orderd::private_build($tmp);

my $s = Orderd->start(Orderd::hotspots());
my $base = $s->base;
my $http = HTTP::Tiny->new(timeout => 90);

sub run {
    my ($limit, @cmd) = @_;
    my $q = join ' ', map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } @cmd;
    return scalar `timeout $limit $q 2>&1`;
}

# GET PATH into FILE; returns the file name (dies on anything but 200)
sub fetch {
    my ($path, $file) = @_;
    my $r = $http->get("$base$path");
    die "GET $path: $r->{status} $r->{content}" unless $r->{status} == 200;
    open my $f, '>:raw', "$tmp/$file" or die $!;
    print $f $r->{content};
    close $f;
    return "$tmp/$file";
}

sub rss_kb {
    my ($pid) = @_;
    open my $f, '<', "/proc/$pid/status" or return 0;
    my ($l) = grep { /^VmRSS:/ } <$f>;
    return $l && $l =~ /(\d+)/ ? $1 : 0;
}

# the children of orderd named prof-symbolize (pid list)
sub helpers {
    my @p;
    for my $st (glob '/proc/[0-9]*/stat') {
        open my $f, '<', $st or next;
        my $line = <$f> // next;
        next unless $line =~ /^(\d+) \((.*)\) \S+ (\d+) /;
        push @p, $1 if $2 eq 'prof-symbolize' && $3 == $s->pid;
    }
    return @p;
}

sub state_of { open my $f, '<', "/proc/$_[0]/stat" or return ''; my $l = <$f> // ''; $l =~ /\) (\S)/ ? $1 : '' }

# the share (percent) of the samples that go through the profiler's code, from pprof -focus
my $prof_re = '/src/prof/|libdw|libelf|od_symbolize|CpuProfiler|ProfileData|ProfilerStart';
sub focus_share {
    my ($index, $file) = @_;
    my $out = run(60, 'go', 'tool', 'pprof', "-sample_index=$index", '-top', "-focus=$prof_re", $file);
    return (0, $out) if $out =~ /no samples|matched no samples/i;
    return ($out =~ /accounting for \S+, ([\d.]+)% of/ ? $1 : undef, $out);
}

# until it is stopped below: a helper killed after the load ended would find every stack of the
# next profile in the symbol cache, and be replaced by nothing (under the sanitizers this test
# takes longer than 90 s)
my $load = $s->start_load(900, 1000000);
# warm up: the results store (500 x 64 KiB) fills in about 2 s at 300 orders/s
sleep 4;
my @idle = map { sleep 0.5; rss_kb($s->pid) } 1 .. 3;
my $idle = (sort { $a <=> $b } @idle)[-1];
is(scalar helpers(), 0, 'no symbolizer helper before the first capture');

# --- the first capture: symbolization in the helper ---------------------------------------
my $h1 = fetch('/debug/pprof/goroutine', 'threads.pb.gz');
my @h = helpers();
is(scalar @h, 1, 'the first capture starts one helper, a child of orderd named prof-symbolize') or diag("@h");
my $helper = $h[0] // 0;
SKIP: {
    skip 'no helper', 2 unless $helper;
    # what the helper opens itself (ELF files, a pipe of its libraries) is its business; none of
    # orderd's descriptors may reach it (listeners, clients, files) but stdio and its socket
    my %theirs = map { my $l = readlink $_; defined $l ? ($l => 1) : () } grep { !m{/[012]$} } glob '/proc/' . $s->pid . '/fd/*';
    my @fds = map { m{/(\d+)$} ? [$1, readlink($_) // ''] : () } glob "/proc/$helper/fd/*";
    my @leaked = grep { $_->[0] > 3 && $theirs{$_->[1]} } @fds;
    my @sockets = grep { $_->[1] =~ /^socket:/ } @fds;
    is(scalar @leaked, 0, 'none of orderd\'s descriptors leaks into the helper')
        or diag(join ' ', map { "$_->[0]=$_->[1]" } @leaked);
    ok(@sockets == 1 && $sockets[0][0] == 3, '  its one socket is fd 3') or diag(join ' ', map { "$_->[0]=$_->[1]" } @fds);
    open my $e, '<', "/proc/$helper/environ";
    my $env = do { local $/; <$e> } // '';
    unlike($env, qr/(^|\0)(CPUPROFILE|TCMALLOC_SAMPLE_PARAMETER|HEAPPROFILE)/,
           "the helper's environment has no gperftools or tcmalloc profiling variables");
}
my $h2 = fetch('/debug/pprof/heap', 'heap1.pb.gz') unless $san;
sleep 1;
my $after = rss_kb($s->pid);
diag(sprintf 'RSS idle %.1f MiB, after the first captures %.1f MiB (+%.1f MiB)', $idle / 1024, $after / 1024,
     ($after - $idle) / 1024);
SKIP: {
    skip 'RSS is the sanitizer runtime\'s in sanitizer builds', 1 if $san;
    cmp_ok($after - $idle, '<=', 8 * 1024, 'RSS after the first capture at most idle + 8 MiB');
}

# --- the heap: the profiler is not what it shows ------------------------------------------
SKIP: {
    skip 'no heap profile in sanitizer builds', 5 if $san;
    fetch('/debug/pprof/profile?seconds=1', 'cpu.pb.gz'); # the CPU engine's buffers, if any
    fetch('/debug/pprof/mutex', 'mutex.pb.gz');
    my $heap = fetch('/debug/pprof/heap', 'heap2.pb.gz');
    my $top = run(60, 'go', 'tool', 'pprof', '-sample_index=inuse_space', '-top', $heap);
    like($top, qr/^\s*\S+\s+[\d.]+%\s+[\d.]+%\s+\S+\s+[\d.]+%\s+od_stage_record/m, 'the heap names od_stage_record')
        or diag($top);
    my ($share, $out) = focus_share('inuse_space', $heap);
    ok(defined $share, 'pprof -focus on the profiler\'s code answers') or diag($out);
    diag("profiler's share of inuse_space: " . ($share // '?') . ' %');
    cmp_ok($share // 100, '<=', 5, 'the profiler\'s code holds at most 5 % of inuse_space') or diag($out);

    my $allocs = fetch('/debug/pprof/allocs', 'allocs.pb.gz');
    $top = run(60, 'go', 'tool', 'pprof', '-sample_index=alloc_space', '-top', $allocs);
    my ($first) = $top =~ /^\s*\S+\s+([\d.]+)%\s+[\d.]+%\s+\S+\s+[\d.]+%\s+(?:.*)$/m;
    my ($first_name) = $top =~ /^\s*\S+\s+[\d.]+%\s+[\d.]+%\s+\S+\s+[\d.]+%\s+(.*)$/m;
    ($share, $out) = focus_share('alloc_space', $allocs);
    diag("allocs: top entry $first_name ($first %), the profiler's code " . ($share // '?') . ' %');
    ok(defined $first && $first_name !~ /$prof_re|^operator new/, 'the top of allocs is not the profiler') or diag($top);
    cmp_ok($share // 100, '<', $first // 0, '  and the profiler\'s allocations all together are less than it')
        or diag($out);
}

# --- mapping flags --------------------------------------------------------------------------
my $raw = run(60, 'go', 'tool', 'pprof', '-raw', $h1);
my ($maps) = $raw =~ /^Mappings\n(.*)\z/ms;
$maps //= '';
my @lines = split /\n/, $maps;
my ($main) = grep { m{/orderd } } @lines;
like($main // '', qr/\[FN\]\[FL\]\[LN\]/, 'the main binary: [FN][FL][LN]') or diag($maps);
my ($vdso) = grep { /\[vdso\]/ } @lines;
unlike($vdso // '', qr/\[FL\]|\[LN\]|\[IN\]/, '[vdso]: no file, line or inline flags') or diag($maps);
my @stripped = grep { m{/lib.*\.so} && /\[FN\]/ && !/\[LN\]/ } @lines;
ok(@stripped >= 1, 'a library without debug information (libc): [FN] without [FL][LN]') or diag($maps);
my @claim_all = grep { /\[FN\]\[FL\]\[LN\]\[IN\]/ } @lines;
cmp_ok(scalar @claim_all, '<', scalar @lines, 'not every mapping claims everything') or diag($maps);

# --- windowed deltas carry their duration ---------------------------------------------------
for my $kind ($san ? qw(block mutex) : qw(heap block mutex)) {
    my $f = fetch("/debug/pprof/$kind?seconds=2", "$kind-delta.pb.gz");
    my $t = run(60, 'go', 'tool', 'pprof', '-top', $f);
    like($t, qr/^Duration: 2(\.0\d)?s\b/m, "$kind?seconds=2: Duration 2s in pprof -top") or diag($t);
    $t = run(60, 'go', 'tool', 'pprof', '-raw', $f);
    ok($t =~ /^Duration: ([\d.]+)/m && $1 >= 2 && $1 < 3.5, "  and in -raw (${\($1 // '?')})") or diag($t);
    like($t, qr/^Time: \d{4}-/m, '  with its time') or diag($t);
}

# the text forms say it too, in a comment Go's readers skip: under Go's contention header, and a
# heap delta's
my $txt = $http->get("$base/profile/mutex?seconds=2&format=text")->{content} // '';
ok($txt =~ /\A--- mutex:\n(?:[^#\n]*\n)*# duration: ([\d.]+) s$/m && $1 >= 2 && $1 < 3.5,
    "mutex text form: # duration: ${\($1 // '?')} s") or diag(substr($txt, 0, 500));
SKIP: {
    skip 'no heap profile in sanitizer builds', 1 if $san;
    $txt = $http->get("$base/profile/memory?seconds=2&format=text")->{content} // '';
    like($txt, qr/\A[^\n]*\n# duration: 2\.\d+ s$/m, 'memory text form: "# duration: 2.xxx s" under the header')
        or diag(substr($txt, 0, 500));
}

# --- mutex samples carry the lock's name ----------------------------------------------------
my $mutex = fetch('/debug/pprof/mutex', 'mutex2.pb.gz');
my $tags = run(60, 'go', 'tool', 'pprof', '-tags', $mutex);
like($tags, qr/^\s*lock: Total.*\n(?:\s+.*\n)*?\s+\S+ \(\s*[\d.]+%\): inventory$/m, 'pprof -tags: lock = inventory')
    or diag($tags);
my $text = $http->get("$base/debug/pprof/mutex?debug=1")->{content} // '';
like($text, qr/^# lock: inventory$/m, 'text form: "# lock: inventory"') or diag(substr($text, 0, 2000));

# --- profiler threads -----------------------------------------------------------------------
$text = $http->get("$base/profile/goroutines?format=text")->{content} // '';
like($text, qr/^# threads: prof-job-\d+$/m, 'the capturing job thread is prof-job-N') or diag($text);
like($text, qr/^\d+ \@ prof-\* \x{d7}?\S*\d+ waiting$/mu, 'format=text: idle profiler threads folded into one line')
    or diag($text);
like($text, qr/^\d+ \@ prof-\*.*\n# threads: [^\n]*prof-symbolize/m, '  the symbolizer thread among them') or diag($text);
# Go's debug=1 lists every goroutine: the idle profiler threads too, each group with its stack
$text = $http->get("$base/debug/pprof/goroutine?debug=1")->{content} // '';
unlike($text, qr/prof-\* /, 'debug=1: nothing folded') or diag($text);
like($text, qr/^\d+ \@( 0x[0-9a-f]+)+\n# threads: [^\n]*prof-symbolize[^\n]*\n(?:# [^\t][^\n]*\n)*#\t0x/m,
    '  the symbolizer thread with its stack') or diag($text);
$tags = run(60, 'go', 'tool', 'pprof', '-tags', $h1);
like($tags, qr/^\s*profiler: Total.*\n\s+\S+ \(\s*[\d.]+%\): yes$/m, 'pprof -tags: profiler = yes') or diag($tags);

# --- the helper dies: replaced, reaped, symbolization goes on ---------------------------------
SKIP: {
    skip 'no helper', 5 unless $helper;
    kill 'KILL', $helper;
    ok(wait_until(5, sub { !-e "/proc/$helper" }), 'a killed helper is reaped (no zombie)')
        or diag('state ' . state_of($helper));
    # an address no profile has sampled, so that no cached answer stands in for the helper: a
    # random instruction of orderd's own text
    my ($lo, $hi) = map { /^([0-9a-f]+)-([0-9a-f]+) r-xp \S+ \S+ \S+\s+\S*orderd$/ ? (hex $1, hex $2) : () }
                    do { open my $m, '<', '/proc/' . $s->pid . '/maps' or die "maps: $!"; <$m> };
    ok(defined $hi, "orderd's text is mapped") or diag('no r-xp mapping of orderd');
    my $pc = sprintf '0x%x', ($lo // 0) + int(rand((($hi // 1) - ($lo // 0)) * 0.9));
    $http->post("$base/debug/pprof/symbol", { content => $pc });
    my $f = fetch('/debug/pprof/block', 'block-after.pb.gz');
    my $t = run(60, 'go', 'tool', 'pprof', '-top', $f);
    like($t, qr/\bod_stage_pay\b/, 'the next profile is symbolized by a new helper') or diag($t);
    my @n = helpers();
    ok(@n == 1 && $n[0] != $helper, 'one new helper') or diag("@n");
    like($s->log_text, qr/symbolize/i, 'the failure is logged') or diag($s->log_text);
    $helper = $n[0] // 0;
}

kill 'TERM', $load;
waitpid($load, 0);
my ($rc, $log) = $s->stop;
is($rc, 0, 'clean exit') or diag($log);
ok(!$helper || wait_until(5, sub { !-e "/proc/$helper" || state_of($helper) eq 'Z' }),
   'the helper goes when orderd goes');

# orderd killed outright (no exit path runs): the helper still goes (PR_SET_PDEATHSIG)
$s = Orderd->start();
$http->get($s->base . '/debug/pprof/goroutine?debug=1');
my @k = helpers();
is(scalar @k, 1, 'a second server has its helper');
kill 'KILL', $s->pid;
waitpid($s->pid, 0);
$s->{rc} = -9;
ok(@k && wait_until(5, sub { !-e "/proc/$k[0]" || state_of($k[0]) eq 'Z' }), '  which goes when orderd is SIGKILLed')
    or diag('state ' . state_of($k[0] // 0));
done_testing;
