#!/usr/bin/perl
# HEAD wherever GET is served (RFC 9110; google-pprof sends HEAD /pprof/symbol on every run):
# the same status and headers as GET, no body; a HEAD on a capture (CPU profile, trace, a
# delta profile) answers at once and starts nothing.  405s list HEAD beside GET.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time);
use Orderd qw(json_decode order);

my $s = Orderd->start(yaml => "profiling:\n  schedule: \"\"\n");
is $s->post_json('/orders', order(id => 'head-1'))->{status}, 202, 'an order to look at';

# the raw answer to one request on its own connection: (status, headers text, body bytes)
sub raw {
    my ($method, $path) = @_;
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->port, Timeout => 10) or die "connect: $!";
    print $c "$method $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    my $resp = '';
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 10;
    eval { while (sysread($c, my $buf, 65536)) { $resp .= $buf } };
    alarm 0;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($st) = ($head // '') =~ /^HTTP\/1\.1 (\d{3})/;
    return ($st // 0, $head // '', $body // '');
}
sub header { my ($head, $name) = @_; return $head =~ /^\Q$name\E: *([^\r\n]*)/mi ? $1 : undef }

# pages whose bytes do not change between two requests: Content-Length must match too
my @stable = ('/orders/head-1', '/scenarios', '/profile', '/debug/pprof/', '/debug/pprof/cmdline', '/pprof/cmdline',
              '/pprof/symbol', '/debug/pprof/symbol', '/profiles', '/debug/pprof', '/orders/nope');
# pages that change (counters, clocks): status and type
my @moving = ('/stats', '/health', '/metrics', '/debug/pprof/goroutine?debug=1');
# no tcmalloc in the sanitizer builds: the heap profile's GET is a 500 there, and so is its HEAD
if (Orderd::sanitizer_build()) { push @stable, '/debug/pprof/heap?debug=1' } else { push @moving, '/debug/pprof/heap?debug=1' }
for my $p (@stable, @moving) {
    my ($gs, $gh, $gb) = raw('GET', $p);
    my ($hs, $hh, $hb) = raw('HEAD', $p);
    ok $gs >= 200, "GET $p: $gs";
    is $hs, $gs, "HEAD $p: the same status";
    is header($hh, 'content-type'), header($gh, 'content-type'), '... the same Content-Type';
    is $hb, '', '... and no body';
    if (grep { $_ eq $p } @stable) {
        is header($hh, 'content-length'), header($gh, 'content-length'), '... the same Content-Length';
        is header($hh, 'location'), header($gh, 'location'), '... the same Location' if $gs == 301;
    }
}

# a HEAD on a capture starts none
for my $p ('/debug/pprof/profile?seconds=20', '/profile/cpu?seconds=20', '/pprof/profile?seconds=20',
           '/debug/pprof/trace?seconds=20', '/profile/trace?seconds=20',
           Orderd::sanitizer_build() ? () : '/debug/pprof/heap?seconds=20') {
    my $t0 = time;
    my ($st, $head, $body) = raw('HEAD', $p);
    my $dt = time - $t0;
    is $st, 200, "HEAD $p: 200";
    cmp_ok $dt, '<', 10, sprintf('... at once (%.2f s; the window is 20 s)', $dt);
    is $body, '', '... no body';
    ok !defined header($head, 'content-length'), '... no Content-Length (unknown until the capture is made)';
    ok header($head, 'content-type'), '... a Content-Type (' . (header($head, 'content-type') // 'none') . ')';
    my $pj = $s->get_json('/profile');
    ok !$pj->{cpu_busy} && !$pj->{trace_running}, '... and no profile or trace running after it';
}
my ($st, $head) = raw('HEAD', '/debug/pprof/profile?seconds=20');
like header($head, 'content-disposition') // '', qr/filename="profile"/, 'HEAD of a Go CPU profile: its download name';
# the connection stays usable after a HEAD without a length
{
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->port, Timeout => 10) or die;
    print $c "HEAD /debug/pprof/profile?seconds=20 HTTP/1.1\r\nHost: x\r\n\r\n"
           . "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    my $resp = '';
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 10;
    eval { while (sysread($c, my $buf, 65536)) { $resp .= $buf } };
    alarm 0;
    like $resp, qr/^HTTP\/1\.1 200 .*\r\n\r\nHTTP\/1\.1 200 .*"status":"healthy"/s,
        'a HEAD of a capture, then a GET on the same connection: both answered';
}
($st) = raw('HEAD', '/debug/pprof/profile?seconds=100000');
is $st, 400, 'a HEAD with a bad parameter: the 400 a GET gets';
($st) = raw('HEAD', '/debug/pprof/nosuch');
is $st, 404, 'a HEAD of an unknown profile: 404';

# 405s name HEAD where GET is served
my $r = $s->request('DELETE', '/stats');
is $r->{status}, 405, 'DELETE /stats: 405';
is $r->{headers}{allow}, 'GET, HEAD', '... Allow: GET, HEAD';
$r = $s->request('HEAD', '/orders');
is $r->{status}, 405, 'HEAD /orders (POST only): 405';

# counted as HEAD
my $m = $s->get('/metrics')->{content};
like $m, qr/^orderd_http_requests_total\{method="HEAD",route="\/stats",code="200"\} 1$/m, 'HEAD counted by method';
like $m, qr/^orderd_http_requests_total\{method="HEAD",route="\/debug\/pprof\/\{profile\}",code="200"\} [1-9]/m,
    '... on the profiling routes too';

is $s->get('/health')->{status}, 200, 'still serving';
my ($rc, $log) = $s->stop;
is $rc, 0, 'clean exit' or diag $log;

# heap profiling off (heap_sample_bytes 0): the GET is a 500, and the HEAD says the same
$s = Orderd->start(yaml => "profiling:\n  schedule: \"\"\n  heap_sample_bytes: 0\n");
for my $p ('/debug/pprof/heap?debug=1', '/debug/pprof/heap', '/profile/memory', '/debug/pprof/heap?seconds=20') {
    my ($gs, $gh, $gb) = raw('GET', $p);
    my ($hs, $hh, $hb) = raw('HEAD', $p);
    is $gs, 500, "heap profiling off: GET $p: 500";
    is $hs, $gs, '... HEAD: the same status';
    is header($hh, 'content-type'), header($gh, 'content-type'), '... the same Content-Type';
    is header($hh, 'content-length'), header($gh, 'content-length'), '... the same Content-Length';
    is $hb, '', '... and no body';
}
like((raw('GET', '/profile/memory'))[2], qr/heap profiling (is off|is unavailable)/, '... and the GET says why');
($rc, $log) = $s->stop;
is $rc, 0, 'clean exit' or diag $log;
done_testing;
