# SIGUSR2 hand-over under orderload's open model at 200 orders/s: the new orderd inherits the
# sockets and serves, the old one stops accepting, finishes its connections (a POST on one of
# them is still accepted, answered with Connection: close), drains and exits 0; no request
# fails, every accepted order is processed, orders accepted before the hand-over are found
# by the new process; a second SIGUSR2 meanwhile is refused; a new process that cannot start
# leaves the old one serving.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(sleep time);
use Orderd qw(build_dir json_decode json_encode order wait_until);

my $san = Orderd::sanitizer_build();

# whether orderd may start the new process at idle priority: it may when it could raise it
# back (base/sched_idle.h: CAP_SYS_NICE, or RLIMIT_NICE >= 20)
sub idle_possible {
    open my $f, '<', '/proc/self/status' or return 0;
    my ($eff) = join('', <$f>) =~ /^CapEff:\s*([0-9a-f]+)/mi;
    return 1 if defined $eff && (hex(substr($eff, -8)) >> 23) & 1;
    chomp(my $lim = `sh -c 'ulimit -e' 2>/dev/null`);
    return $lim eq 'unlimited' || ($lim =~ /^\d+$/ && $lim >= 20);
}
# the scheduling policy of each thread of pid (name => policy: 0 SCHED_OTHER, 5 SCHED_IDLE)
sub policies {
    my $pid = shift;
    my %p;
    for my $t (glob "/proc/$pid/task/*") {
        open my $f, '<', "$t/stat" or next;
        my $st = <$f>;
        my ($name, $rest) = $st =~ /\((.*)\) (.*)/s or next;
        $p{"$name/" . ($t =~ m{(\d+)$})[0]} = (split ' ', $rest)[38];
    }
    return \%p;
}
my $fast = "return { workers = 2, queue = 5000, reserve = { hold_us = 0 }, price = { work_us = 0 }, "
         . "pay = { ms_per_priority = 0, fixed_ms = 1 }, record = { alloc_bytes = 256 } }";

sub alive { my $pid = shift; return kill(0, $pid) ? 1 : 0 }
sub stop_pid {    # the new process is not our child: SIGTERM, then wait until it is gone
    my ($pid, $secs) = @_;
    kill 'TERM', $pid;
    wait_until($secs, sub { !alive($pid) });
    kill 'KILL', $pid if alive($pid);
}

# one POST on a raw keep-alive socket: (status, headers text)
sub raw_post {
    my ($sock, $body) = @_;
    syswrite $sock, "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  . "Content-Length: " . length($body) . "\r\n\r\n$body" or return (0, '');
    my $buf = '';
    while ($buf !~ /\r\n\r\n/) { sysread($sock, $buf, 4096, length $buf) or return (0, $buf) }
    my ($head) = $buf =~ /\A(.*?)\r\n\r\n/s;
    my ($len) = $head =~ /^content-length:\s*(\d+)/mi;
    my $need = index($buf, "\r\n\r\n") + 4 + ($len // 0);
    while (length($buf) < $need) { sysread($sock, $buf, 4096, length $buf) or last }
    my ($code) = $head =~ /\AHTTP\/1\.1 (\d+)/;
    return ($code // 0, $head);
}

# --- under load ---------------------------------------------------------------------------------
{
    my $s = Orderd->start(workers => $fast, yaml => "http: { threads: 2 }\n");
    my $dir = $s->dir;
    my $secs = 10;
    open my $sf, '>', "$dir/handover.lua" or die;
    print $sf <<"LUA";
return {
  scenarios = { ho = { executor = "constant-arrival-rate", rate = 200, duration = "${secs}s", connections = 64 } },
  request = function(ctx)
    return "POST", "/orders", { ["Content-Type"] = "application/json" },
      string.format('{"id":"ho-%s-%d","customer":"Ada","items":["SKU-1"],"amount":10,"address":"x","priority":%d}',
                    ctx.run, ctx.seq, 1 + ctx.seq % 3)
  end,
}
LUA
    close $sf;
    my $lpid = fork // die;
    if ($lpid == 0) {
        open STDOUT, '>', "$dir/load.out";
        open STDERR, '>&', \*STDOUT;
        exec build_dir() . '/orderload', '-u', $s->base, '--json', "$dir/load.json", '--quiet', '--no-announce',
             '-t', '1', "$dir/handover.lua" or POSIX::_exit(127);
    }
    sleep 2;
    # orders accepted before the hand-over, looked up afterwards
    my @pre = map { "pre-$_" } 1 .. 20;
    my $pre_ok = grep { $s->post_json('/orders', order(id => $_))->{status} == 202 } @pre;
    is $pre_ok, 20, '20 orders accepted before the hand-over';
    # a keep-alive connection to the old process, kept busy across the hand-over
    my $old = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->port) or die;
    setsockopt($old, IPPROTO_TCP, TCP_NODELAY, 1);
    my ($c0) = raw_post($old, json_encode(order(id => 'keep-0')));
    is $c0, 202, 'a keep-alive connection to the old process';

    my $old_pid = $s->pid;
    kill 'USR2', $old_pid;
    # more SIGUSR2 while it is under way: refused (the old process is our child: its pid
    # cannot be reused before we reap it)
    for (1 .. 3) { sleep 0.03; kill 'USR2', $old_pid }
    my ($k, @codes, $closed_by) = (0);
    my $t0 = time;
    while (time - $t0 < ($san ? 60 : 30)) {
        my ($code, $head) = raw_post($old, json_encode(order(id => 'keep-' . ++$k)));
        push @codes, $code;
        if ($head =~ /^connection:\s*close/mi) { $closed_by = $k; last }
        last unless $code;
        sleep 0.1;
    }
    ok defined $closed_by, "the old process answered on its open connection with Connection: close (after $k POSTs)"
        or diag $s->log_text;
    is_deeply [grep { $_ != 202 } @codes], [], 'every POST on the old connection during the hand-over: 202, none 503';
    my $eof = sysread($old, my $x, 1);
    is $eof, 0, 'then the old process closed that connection cleanly (EOF, no reset)';

    my ($rc, $log) = $s->stop('ZERO', $san ? 120 : 60);    # it exits by itself
    is $rc, 0, 'the old process exits 0 after the hand-over';
    my ($new_pid) = $log =~ /SIGUSR2: hand-over: pid (\d+) serves/;
    ok $new_pid && alive($new_pid), 'the new process serves' or diag $log;
    is scalar(() = $log =~ /hand-over: started /g), 1, 'one hand-over started';
    like $log, qr/SIGUSR2: refused: (a hand-over is under way|this process handed over)/, 'a second SIGUSR2 is refused with a log line';
    like $log, qr/listening on 127\.0\.0\.1:\d+: inherited \(fd \d+\)/, 'the new process inherited the listener';
    if (idle_possible()) {
        like $log, qr/hand-over: started .*, at idle priority until it is up;/, 'the new process started at idle priority';
    } else {
        unlike $log, qr/at idle priority/, 'the new process started at normal priority (this user could not raise it back)';
    }
    my $pol = policies($new_pid);
    is_deeply [grep { $pol->{$_} != 0 } sort keys %$pol], [], 'and serves with every thread at normal priority (SCHED_OTHER)'
        or diag explain $pol;
    my ($acc, $proc) = $log =~ /summary: accepted=(\d+) processed=(\d+) .*\(nothing lost\)/;
    ok defined $acc && $acc == $proc, "old process: accepted $acc == processed, nothing lost";

    waitpid($lpid, 0);
    my $lrc = $? >> 8;
    my $j = json_decode(do { local $/; open my $f, '<', "$dir/load.json" or die; <$f> }) || {};
    my ($sc) = values %{ $j->{scenarios} || {} };
    my $c = $sc->{counts} || {};
    is $lrc, 0, 'orderload exits 0' or diag do { local $/; open my $f, '<', "$dir/load.out"; <$f> };
    ok $c->{sent} >= 200 * $secs * 0.9, "orderload sent $c->{sent} orders at 200/s";
    is $c->{dropped} // -1, 0, 'none dropped';
    my %errs = %{ $sc->{errors} || {} };
    is_deeply { map { $_ => $errs{$_} } grep { $errs{$_} } keys %errs }, {}, 'no request failed (no connect, read, write, timeout or status errors)'
        or diag explain $sc->{errors};
    is_deeply [keys %{ $sc->{status_codes} || {} }], ['202'], 'every answer 202';
    is $sc->{status_codes}{202}, $c->{sent}, 'as many 202 as sent';

    # the new process: what it accepted is processed; old orders are found
    my $base = $s->base;
    my $h = HTTP::Tiny->new(timeout => 30);
    my $st;
    ok wait_until(30, sub { $st = json_decode($h->get("$base/stats")->{content}); $st && $st->{total_processed} == $st->{accepted} && !$st->{queue_length} }),
        'new process: every accepted order processed' or diag explain $st;
    is $acc + $st->{accepted}, $c->{sent} + 20 + $k + 1, 'old + new accepted == every POST (orderload, the 20, the old connection)';
    my @found = grep { my $r = $h->get("$base/orders/$_"); $r->{status} == 200 && (json_decode($r->{content}) || {})->{state} =~ /^(done|failed)$/ }
        @pre, 'keep-0', "keep-$k";
    is scalar(@found), 22, 'orders accepted by the old process are found, finished, by the new one';
    is $h->get("$base/orders/never-seen")->{status}, 404, 'an unknown id still answers 404';
    my $r = $h->post("$base/orders", { headers => { 'Content-Type' => 'application/json' }, content => json_encode(order()) });
    is $r->{status}, 202, 'the new process takes new orders';
    stop_pid($new_pid, $san ? 60 : 30);
    ok !alive($new_pid), 'the new process stops on SIGTERM';
}

# --- the new process re-executes itself for the profilers' settings: the sockets survive it -----
{
    my $s = Orderd->start(workers => $fast);
    open my $f, '>>', $s->dir . '/orderd.yaml' or die;
    print $f "  heap_sample_bytes: 1048576\n";    # under profiling:, the file's last section
    close $f;
    kill 'USR2', $s->pid;
    my ($rc, $log) = $s->stop('ZERO', $san ? 120 : 60);
    is $rc, 0, 'hand-over to a process with other profiler settings: the old one exits 0';
    my ($new_pid) = $log =~ /SIGUSR2: hand-over: pid (\d+) serves/;
    ok $new_pid && alive($new_pid), 'the new one serves' or diag $log;
    my $env = do { local $/; open my $e, '<', "/proc/$new_pid/environ" or die; <$e> };
    like $env, qr/(^|\0)TCMALLOC_SAMPLE_PARAMETER=1048576\0/, 'it re-executed itself with the new sampling setting';
    like $env, qr/(^|\0)OD_PROF_REEXEC=1\0/, '(the re-exec marker is in its exec-time environment)';
    my $r = HTTP::Tiny->new(timeout => 10)->post($s->base . '/orders',
        { headers => { 'Content-Type' => 'application/json' }, content => json_encode(order()) });
    is $r->{status}, 202, 'and answers on the inherited socket';
    stop_pid($new_pid, $san ? 60 : 30);
}

# --- a busy machine: the new process, started idle, is raised after a second -----------------------
SKIP: {
    skip 'this user cannot start a process at idle priority and raise it back', 4 unless idle_possible();
    my $s = Orderd->start(workers => $fast);
    chomp(my $ncpu = `nproc` || 2);
    my @busy;
    for (0 .. $ncpu) {    # one more than the CPUs, at normal priority: an idle task gets no spare moment
        my $k = fork // die;
        if ($k == 0) { my $t = time; 1 while time - $t < 60; POSIX::_exit(0) }
        push @busy, $k;
    }
    my $t0 = time;
    kill 'USR2', $s->pid;
    my $served = wait_until($san ? 60 : 30, sub { $s->log_text =~ /SIGUSR2: hand-over: pid \d+ serves/ });
    my $took = time - $t0;
    kill 'KILL', @busy;
    waitpid($_, 0) for @busy;
    ok $served, sprintf('with every CPU busy, the hand-over completes (%.1f s)', $took) or diag $s->log_text;
    my ($rc, $log) = $s->stop('ZERO', $san ? 120 : 60);
    is $rc, 0, 'the old process exits 0';
    like $log, qr/hand-over: pid \d+ not serving after 1000 ms at idle priority \(a busy machine\): raised to normal priority/,
        'the new process was raised to normal priority after a second';
    my ($new_pid) = $log =~ /SIGUSR2: hand-over: pid (\d+) serves/;
    my $pol = policies($new_pid // 0);
    ok(($new_pid && %$pol && !grep { $_ != 0 } values %$pol), 'and serves with every thread at normal priority') or diag explain $pol;
    stop_pid($new_pid, $san ? 60 : 30) if $new_pid;
}

# --- a new process that cannot start -----------------------------------------------------------
{
    my $s = Orderd->start(workers => $fast);
    is $s->post_json('/orders', order(id => 'before'))->{status}, 202, 'serving';
    my $yaml = do { local $/; open my $f, '<', $s->dir . '/orderd.yaml' or die; <$f> };
    open my $f, '>', $s->dir . '/orderd.yaml' or die;
    print $f "listen: [broken\n";
    close $f;
    kill 'USR2', $s->pid;
    ok wait_until($san ? 60 : 30, sub { $s->log_text =~ /hand-over to pid \d+ failed/ }), 'the failed hand-over is logged';
    like $s->log_text, qr/hand-over to pid \d+ failed: it exited with status 2 before serving .*keeps serving/, 'with why';
    my $r = $s->post_json('/orders', order(id => 'after'));
    is $r->{status}, 202, 'the old process keeps accepting';
    is $s->get('/health')->{status}, 200, 'and is healthy (not draining)';
    my $fresh = HTTP::Tiny->new(timeout => 5)->get($s->base . '/health');
    is $fresh->{status}, 200, 'new connections still reach it';
    open $f, '>', $s->dir . '/orderd.yaml' or die;
    print $f $yaml;
    close $f;
    my ($rc, $log) = $s->stop('TERM', 60);
    is $rc, 0, 'and stops as usual';
    like $log, qr/summary: accepted=2 processed=2 .*\(nothing lost\)/, 'with both orders processed';
}
done_testing;
