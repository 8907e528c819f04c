#!/usr/bin/perl
# The profiling endpoints' contract without load: parameters and their bounds (400), unknown
# kinds (404), bad formats (400), one CPU profile / trace at a time (409), the client that
# leaves, Go's /debug/pprof/ conventions, the symbol and cmdline pages, Content-Disposition.
use strict;
use warnings;
no warnings "portable";  # 64-bit addresses through hex()
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use Orderd qw(json_decode wait_until);

use File::Temp qw(tempdir);

my $tmp = tempdir('orderd-t30-XXXXXX', TMPDIR => 1, CLEANUP => 1);
# sanitizer builds have no tcmalloc: no heap profile, no allocator statistics
my $san = Orderd::sanitizer_build();
# a private copy of the binary: symbols are read from it while the tree may be rebuilt meanwhile
mkdir "$tmp/build";
system('cp', Orderd::build_dir() . '/orderd', "$tmp/build/orderd") == 0 or die "cannot copy orderd";
local $ENV{ORDERD_BUILD} = "$tmp/build";
my $s = Orderd->start(yaml => "profiling:\n  schedule: \"\"\n  max_seconds: 20\n  output_dir: $tmp/profiles\n");

sub err_of { my $r = shift; my $j = json_decode($r->{content}); return ref $j ? $j->{error} // '' : '' }
sub cpu_busy { my $j = $s->get_json('/profile'); return $j && $j->{cpu_busy} }
sub trace_running { my $j = $s->get_json('/profile'); return $j && $j->{trace_running} }

# a request on its own connection, in a child, so that the parent can go on talking
sub background_get {
    my ($path) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        HTTP::Tiny->new(timeout => 30)->get($s->base . $path);
        POSIX::_exit(0);
    }
    return $pid;
}
use POSIX ();

# --- the listing and unknown kinds ---------------------------------------------------------
my $list = $s->get_json('/profile');
is_deeply([map { $_->{name} } @{ $list->{kinds} }], [qw(cpu memory goroutines block mutex trace gc)],
          'GET /profile lists the kinds');
is($list->{max_seconds}, 20, 'and the bound from profiling.max_seconds');

my $r = $s->get('/profile/nope');
is($r->{status}, 404, 'unknown kind: 404');
like(err_of($r), qr/unknown profile kind "nope".*cpu, memory/, 'naming the kind and the known ones');
is($s->get('/profile/')->{status}, 404, 'no kind: 404');

# --- bounds and formats (answered before any work starts) ------------------------------------
for my $q ('seconds=0', 'seconds=21', 'seconds=-3', 'seconds=abc', 'seconds=1e9', 'seconds=',
           'duration=0s', 'duration=21s', 'duration=forever', 'seconds=2&duration=2s') {
    $r = $s->get("/profile/cpu?$q");
    is($r->{status}, 400, "cpu?$q: 400");
    like(err_of($r), qr/seconds|duration/, "  with a message about the window ($q)");
}
like(err_of($s->get('/profile/cpu?seconds=99')), qr/from 1 to 20/, 'the message gives the bounds');
is($s->get('/profile/trace?seconds=21')->{status}, 400, 'trace bounds: 400');
is($s->get('/profile/block?seconds=0')->{status}, 400, 'delta window bounds: 400');
is($s->get('/profile/gc?seconds=3')->{status}, 400, 'gc takes no window: 400');
for my $k (qw(cpu memory goroutines block mutex)) {
    $r = $s->get("/profile/$k?format=jpeg");
    is($r->{status}, 400, "$k?format=jpeg: 400");
    like(err_of($r), qr/pprof, legacy, text, folded, svg/, '  listing the formats');
}
is($s->get('/profile/trace?format=svg')->{status}, 400, 'trace is JSON only: 400');
is($s->get('/profile/gc?format=pprof')->{status}, 400, 'gc is JSON or text: 400');

# --- formats and downloads -----------------------------------------------------------------
$r = $s->get('/profile/mutex');
is($r->{status}, 200, 'mutex profile: 200');
is(substr($r->{content}, 0, 2), "\x1f\x8b", '  pprof is gzipped by default');
like($r->{headers}{'content-disposition'} // '', qr/^attachment; filename="orderd-mutex-\d{8}-\d{6}\.pb\.gz"$/,
     '  downloaded as a file');
$r = $s->get('/profile/block?format=text');
like($r->{headers}{'content-type'}, qr{^text/plain}, 'text: text/plain');
ok(!defined $r->{headers}{'content-disposition'}, '  shown inline');
like($r->{content}, qr/contention/, '  Go-style text');
$r = $s->get('/profile/goroutines?format=svg');
like($r->{headers}{'content-type'}, qr{^image/svg\+xml}, 'svg: image/svg+xml');
like($r->{content}, qr/<svg/, '  an SVG document');
ok(!defined $r->{headers}{'content-disposition'}, '  shown inline');
$r = $s->get('/profile/goroutine?format=folded');
is($r->{status}, 200, 'goroutine (alias) folded: 200');
like($r->{content}, qr/^\S.*;\S.* \d+$/m, '  "a;b;c N" lines');
like($r->{headers}{'content-disposition'} // '', qr/filename="orderd-goroutines-.*\.folded"/, '  a download');
$r = $s->get('/profile/threads?format=legacy');
is($r->{status}, 200, 'threads (alias) legacy: 200');
like($r->{headers}{'content-disposition'} // '', qr/\.threadz"/, '  named .threadz');
if (!$san) {
    $r = $s->get('/profile/heap?format=legacy');
    is($r->{status}, 200, 'heap (alias of memory) legacy: 200');
    like($r->{content}, qr/^heap profile: .*heap_v2/, '  a heap_v2 profile');
    like($r->{content}, qr/MAPPED_LIBRARIES:/, '  with the memory map');
    $r = $s->get('/profile/gc');
    is($r->{status}, 200, 'gc: 200');
    my $gc = json_decode($r->{content});
    ok($gc && exists $gc->{before} && exists $gc->{after} && defined $gc->{release_us}, '  JSON before/after/release_us');
    like($s->get('/profile/gc?format=text')->{content}, qr/before\s+after/, 'gc as text');
} else {
    $r = $s->get('/profile/heap');
    is($r->{status}, 500, 'sanitizer build: no heap profile (500)');
    like(err_of($r), qr/unavailable in sanitizer builds/, '  saying why');
    my $gc = json_decode($s->get('/profile/gc')->{content});
    is($gc && $gc->{allocator}, 'sanitizer', 'sanitizer build: gc says which allocator');
}

# --- one CPU profile at a time; one trace at a time -------------------------------------------
my $t0 = time;
my $pid = background_get('/profile/cpu?seconds=3');
ok(wait_until(5, \&cpu_busy), 'a CPU profile is running');
$r = $s->get('/profile/cpu?seconds=1');
is($r->{status}, 409, 'a second CPU profile: 409');
like(err_of($r), qr/already running.*one at a time/, '  with a clear message');
$r = $s->get('/debug/pprof/profile?seconds=1');
is($r->{status}, 409, '/debug/pprof/profile meanwhile: 409');
like($r->{content}, qr/already running/, '  as plain text');
is($s->get('/pprof/profile?seconds=1')->{status}, 409, '/pprof/profile meanwhile: 409');
is($s->get('/profile/mutex')->{status}, 200, 'other kinds still answer meanwhile');
is($s->get('/health')->{status}, 200, 'and so do the orders API (the loop is not blocked)');
waitpid($pid, 0);
cmp_ok(time - $t0, '>=', 2.5, 'the first profile ran its window');
ok(!cpu_busy(), 'and then ended');

$pid = background_get('/profile/trace?seconds=2');
ok(wait_until(5, \&trace_running), 'a trace is running');
$r = $s->get('/profile/trace?seconds=1');
is($r->{status}, 409, 'a second trace: 409');
like(err_of($r), qr/trace is already running/, '  with a clear message');
waitpid($pid, 0);

# --- the client that leaves ends the profile ----------------------------------------------------
{
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->port) or die "connect: $!";
    print $c "GET /profile/cpu?seconds=15 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    ok(wait_until(3, \&cpu_busy), 'a 15 s CPU profile started');
    sleep 1;
    close $c;
    my $left = time;
    my $code = 0;
    wait_until(5, sub {
        $code = HTTP::Tiny->new(timeout => 10)->get($s->base . '/profile/cpu?seconds=1')->{status};
        return $code != 409;
    });
    is($code, 200, 'after the client left, a new CPU profile is accepted');
    cmp_ok(time - $left, '<', 3.5, '  promptly (within 2 s, plus its own 1 s window)');
}

# --- Go's /debug/pprof/ conventions ---------------------------------------------------------------
$r = HTTP::Tiny->new(max_redirect => 0)->get($s->base . '/debug/pprof');
is($r->{status}, 301, '/debug/pprof redirects');
is($r->{headers}{location}, '/debug/pprof/', '  to /debug/pprof/');
$r = $s->get('/debug/pprof/');
is($r->{status}, 200, 'the index page');
like($r->{headers}{'content-type'}, qr{^text/html}, '  is HTML');
for my $p (qw(allocs block cmdline goroutine heap mutex profile trace)) {
    like($r->{content}, qr{<tr><td>\d+</td><td><a href='\Q$p\E\?debug=1'>\Q$p\E</a></td></tr>}, "  lists $p with a count");
}
like($r->{content}, qr/goroutine\?debug=2/, '  links the full stack dump');
like($r->{content}, qr/Chrome Trace Event JSON.*go tool trace cannot read it/s, '  says what the trace is');
my ($threads) = $r->{content} =~ m{<tr><td>(\d+)</td><td><a href='goroutine};
cmp_ok($threads, '>=', 3, '  counting the threads (http, workers)');

$r = $s->get('/debug/pprof/nope');
is($r->{status}, 404, 'unknown Go profile: 404');
is($r->{content}, "Unknown profile\n", '  Go\'s text');
is($r->{headers}{'x-go-pprof'}, '1', '  with X-Go-Pprof: 1');
like($r->{headers}{'content-type'}, qr{^text/plain}, '  as plain text');
$r = $s->get('/debug/pprof/heap?seconds=abc');
is($r->{status}, 400, 'heap?seconds=abc: 400');
like($r->{content}, qr/invalid value for "seconds" - must be a positive integer/, '  Go\'s message');
is($s->get('/debug/pprof/mutex?seconds=0')->{status}, 400, 'mutex?seconds=0: 400');
$r = $s->get('/debug/pprof/block?seconds=1&debug=1');
is($r->{status}, 400, 'seconds with debug: 400');
like($r->{content}, qr/seconds and debug params are incompatible/, '  Go\'s message');
$r = $s->get('/debug/pprof/profile?seconds=99');
is($r->{status}, 400, 'profile beyond max_seconds: 400');
like($r->{content}, qr/exceeds/, '  saying so');
$r = $s->get('/debug/pprof/mutex?seconds=1');
is($r->{status}, 200, 'a 1 s delta mutex profile');
like($r->{headers}{'content-disposition'}, qr/filename="mutex-delta"/, '  named mutex-delta, as Go');
SKIP: {
    skip 'no heap profile in sanitizer builds', 3 if $san;
    $r = $s->get('/debug/pprof/heap?gc=1');
    is($r->{status}, 200, 'heap?gc=1');
    like($r->{headers}{'content-disposition'}, qr/filename="heap"/, '  named heap, as Go');
    is(substr($r->{content}, 0, 2), "\x1f\x8b", '  gzipped proto');
}
$r = $s->get('/debug/pprof/allocs?debug=1');
like($r->{headers}{'content-type'}, qr{^text/plain}, 'allocs?debug=1 is text') unless $san;
$r = $s->get('/debug/pprof/goroutine?debug=1');
like($r->{content}, qr/goroutine profile: total \d+/, 'goroutine?debug=1: Go\'s header');
$r = $s->get('/debug/pprof/goroutine?debug=2');
like($r->{content}, qr/^# thread: worker-\d+\ngoroutine \d+ \[[^\]]+\]:$/m,
    'goroutine?debug=2: every thread on its own, Go\'s "goroutine N [state]:", the name in a comment');
unlike($r->{content}, qr/^goroutine .*\]:./m, '  nothing after Go\'s goroutine line');
like($r->{content}, qr/^worker_main\(\)\n\t\S+pool\.c:\d+ \+0x[0-9a-f]+$/m,
    '  a real function as Go prints one: name(), then file:line +0xOFF');
like($r->{content}, qr/^\w+\(\.\.\.\)\n\t\S+\.c:\d+$/m, '  an inlined one: name(...), file:line alone');
for my $k (qw(block mutex)) {
    $r = $s->get("/debug/pprof/$k?debug=1");
    my $head = $k eq 'block' ? qr/\A--- contention:\ncycles\/second=1000000000\n(?!sampling)/
                             : qr/\A--- mutex:\ncycles\/second=1000000000\nsampling period=\d+\n/;
    like($r->{content}, $head, "$k?debug=1: runtime/pprof's header") or diag(substr($r->{content}, 0, 300));
    unlike($r->{content}, qr/ms since reset|cycles\/second = /, '  and no gperftools line');
}
$r = $s->get('/debug/pprof/trace?seconds=1');
is($r->{status}, 200, 'the trace by Go\'s path');
ok(json_decode($r->{content}), '  is JSON');

# --- cmdline and symbol ---------------------------------------------------------------------
$r = $s->get('/debug/pprof/cmdline');
my @argv = split /\0/, $r->{content};
like($argv[0], qr{orderd$}, 'cmdline: argv[0]');
is($argv[1], '-c', '  NUL-separated arguments');
$r = $s->get('/pprof/cmdline');
like((split /\n/, $r->{content})[0], qr{orderd$}, '/pprof/cmdline: the program on the first line');

is($s->get('/debug/pprof/symbol')->{content}, "num_symbols: 1\n", 'GET symbol: num_symbols: 1');
is($s->get('/pprof/symbol')->{content}, "num_symbols: 1\n", 'GET /pprof/symbol: num_symbols: 1');
SKIP: {
    # a real address of od_pipeline_run in the running server: load base + nm's offset
    my $bin = Orderd::build_dir() . '/orderd';
    my ($off) = map { /^([0-9a-f]+) T od_pipeline_run$/ ? $1 : () } `nm $bin 2>/dev/null`;
    open my $maps, '<', '/proc/' . $s->pid . '/maps' or skip 'no /proc maps', 4;
    my $base;
    while (<$maps>) {
        if (m{^([0-9a-f]+)-\S+ \S+ 0+ \S+ \S+\s+(\S*orderd\S*)}) { $base = hex $1; last }
    }
    skip 'cannot find od_pipeline_run', 4 unless defined $off && defined $base;
    my $addr = sprintf '0x%x', $base + hex($off) + 4;
    for my $path ('/debug/pprof/symbol', '/pprof/symbol') {
        $r = $s->request('POST', $path, "$addr+0x1+junk", { 'Content-Type' => 'text/plain' });
        like($r->{content}, qr/^num_symbols: 1\n/, "POST $path: num_symbols first");
        like($r->{content}, qr/^\Q$addr\E od_pipeline_run$/m, "  then \"0xADDR name\"");
    }
}

# --- gperftools' pages ------------------------------------------------------------------------
is($s->get('/pprof/nope')->{status}, 404, 'unknown /pprof page: 404');
is($s->get('/pprof/profile?seconds=0')->{status}, 400, '/pprof/profile?seconds=0: 400');
$r = $s->get('/pprof/contention');
like($r->{content}, qr/^--- contention:/, '/pprof/contention: gperftools contention text');
$r = $s->get('/pprof/growth');
like($r->{content}, qr/^heap profile: .*growth/, '/pprof/growth: a growth profile') unless $san;
# google-pprof appends its page to a URL that has a query
$r = $s->get('/pprof/profile?seconds=2/pprof/symbol');
is($r->{content}, "num_symbols: 1\n", 'google-pprof\'s ".../profile?seconds=2/pprof/symbol" is the symbol page');
$r = $s->get('/pprof/profile?seconds=1/pprof/profile?seconds=30');
is($r->{status}, 200, '".../profile?seconds=1/pprof/profile?seconds=30" is a profile');
like($r->{content}, qr/MAPPED_LIBRARIES:|\n[0-9a-f]+-[0-9a-f]+ /, '  in the legacy format with the maps');

is($s->request('PUT', '/profile/cpu')->{status}, 405, 'PUT /profile/cpu: 405');
is($s->get('/health')->{status}, 200, 'the server still serves');
my ($rc, $log) = $s->stop;
is($rc, 0, 'clean exit') or diag($log);
done_testing;
