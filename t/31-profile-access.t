#!/usr/bin/perl
# Who may profile: the Bearer token (401 without it or with a wrong one), the separate
# profiling listener, profiling.enabled: false, and the refusal to expose profiling beyond
# loopback without a token.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Orderd qw(free_port json_decode);

my $tmp = tempdir('orderd-t31-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my @paths = ('/profile/mutex', '/profile/cpu?seconds=1', '/debug/pprof/', '/debug/pprof/block',
             '/debug/pprof/cmdline', '/pprof/symbol', '/pprof/contention', '/profile');

# --- token ------------------------------------------------------------------------------------
{
    my $s = Orderd->start(yaml => "profiling:\n  schedule: \"\"\n  output_dir: $tmp/p1\n  token: s3cret-t0ken\n");
    for my $p (@paths) {
        my $r = $s->get($p);
        is($r->{status}, 401, "$p without a token: 401");
        like($r->{headers}{'www-authenticate'} // '', qr/^Bearer/, '  asking for a Bearer token');
        is($s->get($p, { Authorization => 'Bearer wrong' })->{status}, 401, "$p with a wrong token: 401");
        is($s->get($p, { Authorization => 'Bearer s3cret-t0ke' })->{status}, 401, "$p with a prefix of the token: 401");
        is($s->get($p, { Authorization => 'Basic s3cret-t0ken' })->{status}, 401, "$p with another scheme: 401");
        is($s->get($p, { Authorization => 'Bearer s3cret-t0ken' })->{status}, 200, "$p with the token: 200");
    }
    my $r = $s->request('POST', '/pprof/symbol', '0x1', { Authorization => 'Bearer nope' });
    is($r->{status}, 401, 'POST /pprof/symbol with a wrong token: 401');
    my $cmd = $s->get('/debug/pprof/cmdline', { Authorization => 'Bearer s3cret-t0ken' })->{content};
    unlike($cmd, qr/s3cret/, 'cmdline never shows the token');
    is($s->get('/health')->{status}, 200, 'the order API needs no token');
    is($s->post_json('/orders', Orderd::order())->{status}, 202, '  nor do orders');
    my ($rc) = $s->stop;
    is($rc, 0, 'clean exit');
}

# --- a separate profiling listener ---------------------------------------------------------------
{
    my $pport = free_port();
    my $s = Orderd->start(yaml => "profiling:\n  schedule: \"\"\n  output_dir: $tmp/p2\n  listen: 127.0.0.1:$pport\n");
    my $http = HTTP::Tiny->new(timeout => 10);
    my $pbase = "http://127.0.0.1:$pport";
    for my $p (@paths) {
        is($s->get($p)->{status}, 404, "$p on the main listener: 404");
        is($http->get("$pbase$p")->{status}, 200, "$p on the profiling listener: 200");
    }
    is($http->get("$pbase/health")->{status}, 404, 'the profiling listener serves nothing else');
    is($s->get('/health')->{status}, 200, 'the main listener still serves the API');
    my ($rc) = $s->stop;
    is($rc, 0, 'clean exit');
}

# --- profiling.enabled: false -------------------------------------------------------------------
{
    my $s = Orderd->start(yaml => "profiling:\n  enabled: false\n  schedule: \"\"\n  output_dir: $tmp/p3\n");
    for my $p (@paths, '/profile/trace?seconds=1', '/pprof/profile?seconds=1', '/debug/pprof') {
        is($s->get($p)->{status}, 404, "$p with profiling disabled: 404");
    }
    is($s->get('/health')->{status}, 200, 'the API still serves');
    my ($rc) = $s->stop;
    is($rc, 0, 'clean exit');
}

# --- beyond loopback without a token: refused -------------------------------------------------------
{
    my $port = free_port();
    open my $f, '>', "$tmp/exposed.yaml" or die $!;
    print $f "listen: 127.0.0.1:$port\nscenarios: []\nprofiling:\n  schedule: \"\"\n  listen: 0.0.0.0:"
        . free_port() . "\n";
    close $f;
    my $out = `${\ Orderd::build_dir()}/orderd -c $tmp/exposed.yaml --check 2>&1`;
    is($? >> 8, 2, 'profiling on 0.0.0.0 without a token fails --check');
    like($out, qr/token/, '  saying a token is needed');
}
done_testing;
