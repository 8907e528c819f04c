#!/usr/bin/perl
# Hostile clients: 1000 connections that never finish a request — 500 idle, 500 slowloris
# dripping one header byte per half second — do not starve real requests: GET /health is
# answered within a second and orders are taken while they are open.  The server raised its
# open-file limit to the hard limit and logged it; it closes the stalled connections after
# h2o's request timeout (10 s), and once they are gone it holds none of their sockets
# (its connections on its port are counted, by inode in /proc/net/tcp).
#
# The 1000 sockets live in two child processes of 500 each, so that this test needs no
# more than the usual 1024 descriptors itself; the server needs more than 1000 and raises
# its own soft limit (the test is skipped when the hard limit does not allow it).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use IO::Handle;
use POSIX ();
use Time::HiRes qw(sleep time);
use Orderd qw(order wait_until);

my $N_EACH = 500;    # per child: idle, slowloris
chomp(my $hard = `sh -c 'ulimit -Hn'`);
plan skip_all => "the hard open-file limit ($hard) is too low for 1000 connections"
    if $hard ne 'unlimited' && $hard < 2 * $N_EACH + 200;

my $s = Orderd->start(yaml => "http:\n  threads: 1\n");
my $pid = $s->pid;

# the limit it got, and that it said so
my ($got) = $s->log_text =~ /open-file limit: (\d+)/;
ok defined $got, 'the server logs its open-file limit' or diag $s->log_text;
if ($hard eq 'unlimited') {
    ok(($got // 0) >= 2 * $N_EACH + 200, "raised as far as it could ($got)");
} else {
    is $got, $hard, "raised to the hard limit ($hard)";
}

# the server's connections on its port: sockets it holds whose local end is the port, in
# any state but LISTEN (/proc/net/tcp, matched by inode).  A pipe or file it opens for a
# moment elsewhere is not counted, nor is a socket of its own to somewhere else.
sub conns {
    opendir my $d, "/proc/$pid/fd" or return -1;
    my %mine = map { (readlink("/proc/$pid/fd/$_") // '') =~ /^socket:\[(\d+)\]/ ? ($1 => 1) : () }
               grep { /^\d+$/ } readdir $d;
    open my $t, '<', '/proc/net/tcp' or return -1;
    my $n = 0;
    while (<$t>) {
        my @f = split;
        next unless @f > 9 && $f[1] =~ /:([0-9A-F]{4})$/ && hex($1) == $s->port;
        $n++ if $f[3] ne '0A' && $mine{ $f[9] };
    }
    return $n;
}
# (the health checks that saw it start may still be closing on its side)
ok wait_until(5, sub { conns() == 0 }), 'no connections open before the test (' . conns() . ')';

# a child that opens $N_EACH connections, says "ready", then either sits or drips; at the end
# it reports how many of its connections the server closed, and after how long
sub hold {
    my ($mode, $secs) = @_;
    pipe(my $r, my $w) or die $!;
    my $kid = fork // die $!;
    if ($kid == 0) {
        close $r;
        $w->autoflush(1);
        my @c;
        for (1 .. $N_EACH) {
            my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->port, Timeout => 5) or last;
            print $c "GET /health HTTP/1.1\r\nHost: x\r\n" if $mode eq 'slowloris';
            push @c, $c;
        }
        print $w "ready " . scalar(@c) . "\n";
        my ($start, %closed) = (time);
        local $SIG{PIPE} = 'IGNORE';
        while (time - $start < $secs && keys(%closed) < @c) {
            for my $i (0 .. $#c) {
                next if $closed{$i};
                my $rin = '';
                vec($rin, fileno($c[$i]), 1) = 1;
                if (select(my $rout = $rin, undef, undef, 0)) {
                    my $n = sysread($c[$i], my $buf, 4096);
                    $closed{$i} = time - $start if !$n;    # EOF or reset: the server let go
                    next;
                }
                if ($mode eq 'slowloris') {
                    syswrite($c[$i], 'X') or $closed{$i} = time - $start;
                }
            }
            sleep 0.5;
        }
        my @t = sort { $a <=> $b } values %closed;
        printf $w "done %d %.1f\n", scalar(@t), @t ? $t[-1] : -1;
        POSIX::_exit(0);
    }
    close $w;
    return { pid => $kid, fh => $r };
}
sub line_of { my $h = shift; my $l = readline($h->{fh}); chomp $l if defined $l; return $l // '' }

my $idle = hold('idle', 16);
my $slow = hold('slowloris', 16);
my ($ri, $rs) = (line_of($idle), line_of($slow));
is $ri, "ready $N_EACH", "$N_EACH idle connections open";
is $rs, "ready $N_EACH", "$N_EACH slowloris connections open and dripping";
# (the first accepted is closed after 10 s: a slow sanitizer build has until then)
ok wait_until(9, sub { conns() >= 2 * $N_EACH }), 'the server accepted all 1000 (' . conns() . ' open)';

# real requests while they are open: fresh connections, each answered within a second
my ($slowest, $bad) = (0, 0);
for (1 .. 10) {
    my $t0 = time;
    my $r = HTTP::Tiny->new(timeout => 5, keep_alive => 0)->get($s->base . '/health');
    my $dt = time - $t0;
    $slowest = $dt if $dt > $slowest;
    $bad++ unless $r->{status} == 200;
    sleep 0.3;
}
is $bad, 0, 'GET /health: 200 every time while 1000 stalled connections are open';
cmp_ok $slowest, '<', 1.0, sprintf('GET /health answered within a second (slowest %.3f s)', $slowest);
my $t0 = time;
my $r = HTTP::Tiny->new(timeout => 5, keep_alive => 0)->post($s->base . '/orders',
    { headers => { 'Content-Type' => 'application/json' }, content => Orderd::json_encode(order()) });
is $r->{status}, 202, 'an order is accepted meanwhile';
cmp_ok time - $t0, '<', 1.0, '  within a second';

# h2o's request timeout (10 s) closes what never completes a request
my ($di, $ds) = (line_of($idle), line_of($slow));
waitpid($_->{pid}, 0) for $idle, $slow;
like $di, qr/^done $N_EACH /, "the server closed every idle connection ($di: count, seconds)";
like $ds, qr/^done $N_EACH /, "the server closed every slowloris connection ($ds), dripping or not";

# nothing held once they are gone
ok wait_until(10, sub { conns() == 0 }), 'every connection closed once they are gone (' . conns() . ' open)';
is $s->get('/health')->{status}, 200, 'still healthy';
my ($rc, $log) = $s->stop;
is $rc, 0, 'clean exit';
my ($acc) = $log =~ /accepted=(\d+)/;
is $acc, 1, 'the summary counts the one order';
done_testing;
