#!/usr/bin/perl
# Access control, beyond t/31-profile-access.t (missing, wrong and right token; the separate
# listener's profiling paths; loopback refusal): near-miss tokens are refused; the token —
# and whatever a client offered instead — never shows in the log, in 401 answers, or in
# /debug/pprof/cmdline and /pprof/cmdline even when an argument contains it; and the order
# API is not served on the profiling listener.
#
# The comparison (http/router.c token_ok) is constant-time in the length of the expected token:
# every byte is compared, differences are OR-ed together, and a length mismatch only sets
# one more bit, so the time does not say how much of a guess was right.  That is checked by
# reading the code, not by timing here (a timing test on a shared machine would be noise).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use File::Path qw(make_path);
use HTTP::Tiny;
use Orderd qw(free_port order wait_until);

my $token = 'T0k3n-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 24);
my $guess = 'G4ess-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 24);
my $tmp = tempdir('orderd-t76-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# the config lives in a directory whose name holds the token, so that an argument does
my $cdir = "$tmp/conf-$token";
make_path($cdir);
my ($mport, $pport) = (free_port(), free_port());
open my $sf, '>', "$tmp/schedule.lua" or die;
print $sf "return { { every = '1s', capture = 'gc', label = 'tick' } }\n";
close $sf;
open my $wf, '>', "$cdir/workers.lua" or die;
print $wf "return { workers = 1, pay = { ms_per_priority = 0 } }\n";
close $wf;
open my $yf, '>', "$cdir/orderd.yaml" or die;
print $yf <<"YAML";
listen: 127.0.0.1:$mport
scenarios: []
pool:
  script: $cdir/workers.lua
profiling:
  listen: 127.0.0.1:$pport
  token: "$token"
  schedule: $tmp/schedule.lua
  output_dir: $tmp/profiles
YAML
close $yf;

my $bin = Orderd::build_dir() . '/orderd';
my $log = "$tmp/orderd.log";
my $pid = fork // die;
if (!$pid) {
    open STDOUT, '>>', $log or die;
    open STDERR, '>>', $log or die;
    exec $bin, '-c', "$cdir/orderd.yaml" or die;
}
my $stopped;
END { if ($pid && !$stopped) { kill 'KILL', $pid; waitpid($pid, 0) } }
my $main = "http://127.0.0.1:$mport";
my $prof = "http://127.0.0.1:$pport";
my $http = HTTP::Tiny->new(timeout => 10);
ok wait_until(15, sub { ($http->get("$main/health")->{status} // 0) == 200 }), 'orderd up, its config in a directory named after the token';

my $auth = sub { { headers => { Authorization => $_[0] } } };
# near misses
my %near = ('the token and one more byte' => "Bearer ${token}x",
            'the last byte changed'       => 'Bearer ' . substr($token, 0, -1) . (substr($token, -1) eq 'a' ? 'b' : 'a'),
            'the first byte changed'      => 'Bearer x' . substr($token, 1),
            'an empty token'              => 'Bearer ',
            'the scheme in lower case'    => "bearer $token",
            'two spaces'                  => "Bearer  $token",
            'a trailing space'            => "Bearer $token ",
            'another guess'               => "Bearer $guess");
for my $what (sort keys %near) {
    my $r = $http->get("$prof/debug/pprof/cmdline", $auth->($near{$what}));
    is $r->{status}, 401, "$what: 401";
    unlike $r->{content}, qr/\Q$token\E|\Q$guess\E/, '  the answer shows neither the token nor the guess';
}
my $r = $http->get("$prof/debug/pprof/cmdline", $auth->("Bearer $token"));
is $r->{status}, 200, 'the token: 200';
like $r->{content}, qr/\[redacted\]/, '/debug/pprof/cmdline redacts the argument that holds the token';
unlike $r->{content}, qr/\Q$token\E/, '  and never shows it';
$r = $http->get("$prof/pprof/cmdline", $auth->("Bearer $token"));
is $r->{status}, 200, '/pprof/cmdline: 200';
unlike $r->{content}, qr/\Q$token\E/, '  never shows it either';
$r = $http->get("$prof/debug/pprof/", $auth->("Bearer $token"));
unlike $r->{content}, qr/\Q$token\E/, 'nor does the index page';
$r = $http->get("$prof/profiles", $auth->("Bearer $token"));
is $r->{status}, 200, '/profiles with the token: 200';
is $http->get("$prof/profiles")->{status}, 401, '/profiles without it: 401';

# the order API is not on the profiling listener, the profiling paths not on the main one
for my $p ('/orders/x', '/stats', '/metrics', '/scenarios', '/health') {
    is $http->get("$prof$p", $auth->("Bearer $token"))->{status}, 404, "GET $p on the profiling listener: 404";
}
is $http->post("$prof/orders", { headers => { 'Content-Type' => 'application/json', Authorization => "Bearer $token" },
                                 content => Orderd::json_encode(order()) })->{status}, 404,
    'POST /orders on the profiling listener: 404';
is $http->get("$main/debug/pprof/cmdline", $auth->("Bearer $token"))->{status}, 404, 'profiling on the main listener: 404, token or not';
is $http->post("$main/orders", { headers => { 'Content-Type' => 'application/json' }, content => Orderd::json_encode(order()) })->{status},
    202, 'orders on the main listener need no token';

# a capture or two, then stop: nothing in the log has the token or the guesses
ok wait_until(5, sub { -d "$tmp/profiles" && grep { /gc-tick/ } glob("$tmp/profiles/*") }), 'scheduled captures run';
kill 'TERM', $pid;
waitpid($pid, 0);
$stopped = 1;
is $? >> 8, 0, 'clean exit';
my $text = do { local $/; open my $f, '<', $log or die; <$f> };
like $text, qr/summary:/, 'the log has the summary';
unlike $text, qr/\Q$token\E/, 'the log never prints the token';
unlike $text, qr/\Q$guess\E/, 'nor a token a client offered';
done_testing;
