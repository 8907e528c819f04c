#!/usr/bin/perl
# Hostile clients: clients that vanish — mid-headers, mid-body, before reading an answer,
# with pipelined requests in flight, mid-profile — leave nothing held: descriptors and
# threads return to where they were, every accepted order is processed, and each kind of
# long profile (CPU, trace; each family's path) and every deferred-job slot is free again
# within about two seconds of the client leaving.  (t/30 covers /profile/cpu itself; under
# `make test-asan` the server's exit checks that the memory was freed too.)
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use HTTP::Tiny;
use POSIX ();
use Time::HiRes qw(sleep time);
use Orderd qw(order json_encode wait_until);

my $s = Orderd->start(yaml => "http:\n  threads: 2\n");
my $pid = $s->pid;
# descriptors but the symbolizer's cache: the ELF files (binary, libraries, .debug files) it
# keeps open once a profile has named their functions
my $exe = readlink("/proc/$pid/exe") // '';
sub fds {
    opendir my $d, "/proc/$pid/fd" or return -1;
    return scalar grep { my $l = readlink("/proc/$pid/fd/$_") // ''; $l ne $exe && $l !~ /\.so(\.[\d.]+)?$|\.debug$/ }
        grep { /^\d+$/ } readdir $d;
}
sub threads { opendir my $d, "/proc/$pid/task" or return -1; return scalar grep { /^\d+$/ } readdir $d }
sub connect_ { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->port, Timeout => 5) or die "connect: $!" }
sub status_of { my $j = $s->get_json('/profile'); return $j // {} }

is $s->get('/health')->{status}, 200, 'up';
# the first symbolizing capture starts the symbolizer for good (a thread and its helper's
# socket): start it before counting, so that the counts measure what comes and goes
$s->get('/profile/goroutines?format=text')->{status} == 200 or die 'warm-up capture failed';
my ($fd0, $th0) = (fds(), threads());

# --- vanishing mid-request -----------------------------------------------------------------
my $post = "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
my $body = json_encode(order());
local $SIG{PIPE} = 'IGNORE';
for my $i (1 .. 50) {
    my $c = connect_();
    print $c "GET /health HTTP/1.1\r\nHost:";                                          # mid-headers
    close $c;
    $c = connect_();
    print $c $post . "Content-Length: 500\r\n\r\n{\"customer\":";                     # mid-body
    close $c;
    $c = connect_();
    print $c $post . "Content-Length: " . length($body) . "\r\n\r\n$body";            # never reads the 202
    close $c;
    $c = connect_();
    print $c "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" x 20;                           # 20 pipelined, unread
    close $c;
    $c = connect_();
    print $c ($post . "Content-Length: " . length($body) . "\r\n\r\n$body") x 10;     # 10 orders pipelined
    shutdown($c, 2);
    close $c;
}
ok wait_until(10, sub { fds() <= $fd0 }), "descriptors back to where they were ($fd0 -> " . fds() . ')';
is $s->get('/health')->{status}, 200, 'healthy after 250 vanishing clients';
my $st;
ok wait_until(15, sub { $st = $s->get_json('/stats'); $st && $st->{accepted} == $st->{total_processed} && $st->{queue_length} == 0 }),
    'whatever was accepted of the orders they sent was processed (' . ($st->{accepted} // '?') . ')';

# --- vanishing mid-profile: the profiler is free again at once ----------------------------
sub leave_after {
    my ($path, $secs) = @_;
    my $c = connect_();
    print $c "GET $path HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    sleep $secs;
    close $c;
    return time;
}
for my $case (['/profile/trace?seconds=30', 'trace_running', '/profile/trace?seconds=1'],
              ['/debug/pprof/profile?seconds=30', 'cpu_busy', '/debug/pprof/profile?seconds=1'],
              ['/debug/pprof/trace?seconds=30', 'trace_running', '/debug/pprof/trace?seconds=1'],
              ['/pprof/profile?seconds=30', 'cpu_busy', '/pprof/profile?seconds=1'],
              ['/profile/cpu?seconds=30&format=svg', 'cpu_busy', '/profile/cpu?seconds=1&format=text']) {
    my ($path, $flag, $again) = @$case;
    my $c = connect_();
    print $c "GET $path HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    ok wait_until(5, sub { status_of()->{$flag} }), "$path started";
    sleep 1;
    close $c;
    my $left = time;
    ok wait_until(5, sub { !status_of()->{$flag} }), '  ended when its client left';
    my $freed = time - $left;
    cmp_ok $freed, '<', 2.0, sprintf('  within 2 s (%.2f s)', $freed);
    my $code = HTTP::Tiny->new(timeout => 20)->get($s->base . $again)->{status};
    is $code, 200, "  and $again is accepted";
}

# --- every deferred-job slot comes back ---------------------------------------------------
# 16 delta windows of 30 s (the most that run at once), abandoned after a second
my @c;
for (1 .. 16) {
    my $c = connect_();
    print $c "GET /profile/block?seconds=30 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    push @c, $c;
}
sleep 1;
my $r = $s->get('/profile/goroutines');
is $r->{status}, 503, 'with 16 profiles running a 17th is refused (503)';
close $_ for @c;
my $left = time;
my @kids;
ok wait_until(5, sub { $s->get('/profile/goroutines')->{status} == 200 }), 'the slots come back';
cmp_ok time - $left, '<', 2.5, '  within about 2 s';
for (1 .. 16) {
    my $k = fork // die;
    if (!$k) { POSIX::_exit(HTTP::Tiny->new(timeout => 20)->get($s->base . '/profile/mutex?seconds=1')->{status} == 200 ? 0 : 1) }
    push @kids, $k;
}
my $fine = 0;
for (@kids) { waitpid($_, 0); $fine++ if $? == 0 }
is $fine, 16, 'all 16 are usable again at once';

ok wait_until(10, sub { fds() <= $fd0 }), "descriptors back to where they were ($fd0 -> " . fds() . ')'
    or diag `ls -l /proc/$pid/fd`;
ok wait_until(10, sub { threads() <= $th0 }), "threads back to where they were ($th0 -> " . threads() . ')';
my ($rc, $log) = $s->stop;
is $rc, 0, 'clean exit';
like $log, qr/\(nothing lost\)/, 'the summary: nothing lost';
done_testing;
