package Orderd;
# Test helpers: start the real build/orderd on a free port with a config written by the test,
# talk real HTTP to it, stop it with SIGTERM.  Core Perl modules only.
#
#   use lib 't/lib'; use Orderd;
#   my $s = Orderd->start(yaml => "http: { threads: 2 }\n", workers => "return { workers = 1 }");
#   my $res = $s->post_json('/orders', {customer => 'a', ...});   # HTTP::Tiny response
#   my ($rc, $log) = $s->stop;                                      # exit code, stderr text
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(build_dir free_port json_decode json_encode order wait_until);

sub build_dir { $ENV{ORDERD_BUILD} || 'build' }

# true for a sanitizer build (no tcmalloc there, so no heap profile)
sub sanitizer_build { ($ENV{ORDERD_SAN} // "") ne "" || build_dir() =~ m{(^|/)(asan|tsan)/?$} }

# Copies build_dir()/orderd to DIR/build/orderd and points ORDERD_BUILD there for the rest of
# the test, so that tools reading the binary's symbols are not upset by a rebuild meanwhile;
# returns the copy's path.
sub private_build {
    my ($dir) = @_;
    mkdir "$dir/build";
    system('cp', build_dir() . '/orderd', "$dir/build/orderd") == 0 or die "cannot copy orderd";
    $ENV{ORDERD_BUILD} = "$dir/build";
    return "$dir/build/orderd";
}

# Orderd->start options for a server whose every hotspot is strong: 3 ms of pricing CPU, one
# inventory stripe held 500 us per item by 4 workers, the seed's 10 ms x priority payment
# wait, 64 KiB recorded per order (heap sampled every 64 KiB)
sub hotspots {
    return (
        workers => <<'LUA',
return { workers = 4, queue = 200,
         reserve = { stripes = 1, hold_us = 500 }, price = { work_us = 3000 },
         pay = { ms_per_priority = 10 }, record = { alloc_bytes = 65536 } }
LUA
        raw_yaml => "listen: 127.0.0.1:PORT\nscenarios: []\npool:\n  script: DIR/workers.lua\n  results_kept: 500\n"
                  . "profiling:\n  schedule: \"\"\n  output_dir: DIR/profiles\n  heap_sample_bytes: 65536\n",
    );
}

# In the calling process (a child about to exec, normally): a seccomp filter that makes
# perf_event_open fail with EACCES, as container runtimes' default profiles do; everything else
# is allowed.  x86_64 only (the system call numbers); returns 1 if installed, 0 if not.
sub deny_perf_event_open {
    return 0 unless (POSIX::uname())[4] eq 'x86_64';
    my $ld = 0x20, my $jeq = 0x15, my $ret = 0x06;      # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_RET|K
    my $f = pack('SCCL', $ld, 0, 0, 0)                  # A = seccomp_data.nr
          . pack('SCCL', $jeq, 0, 1, 298)               # perf_event_open?
          . pack('SCCL', $ret, 0, 0, 0x00050000 | 13)   #   SECCOMP_RET_ERRNO | EACCES
          . pack('SCCL', $ret, 0, 0, 0x7fff0000);       # SECCOMP_RET_ALLOW
    my $prog = pack('S x6 P', 4, $f);                   # struct sock_fprog
    syscall(157, 38, 1, 0, 0, 0) == 0 or return 0;      # prctl(PR_SET_NO_NEW_PRIVS, 1)
    syscall(317, 1, 0, $prog) == 0 or return 0;         # seccomp(SECCOMP_SET_MODE_FILTER, 0, prog)
    return 1;
}

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

my $json = JSON::PP->new->canonical->allow_nonref;
sub json_decode { my $t = shift; return eval { $json->decode($t) } }
sub json_encode { $json->encode(shift) }

# a valid order, with overrides
sub order {
    my %o = (customer => 'Ada Lovelace', items => ['SKU-1', 'SKU-2'], amount => 99.5,
             address => '1 Analytical Way', priority => 2, @_);
    delete $o{$_} for grep { !defined $o{$_} } keys %o;
    return \%o;
}

sub wait_until {
    my ($secs, $cond) = @_;
    my $end = time + $secs;
    while (time < $end) { return 1 if $cond->(); sleep 0.05 }
    return $cond->() ? 1 : 0;
}

# Orderd->start(%opts)
#   yaml     extra YAML appended to the generated config (keys it sets must not repeat
#            generated ones: listen, scenarios, pool.script, profiling.schedule/output_dir are
#            generated unless `raw_yaml` replaces the whole file)
#   workers  Lua text for the pool script (default: a fast pool)
#   raw_yaml the whole config (PORT is replaced by the chosen port, DIR by the temp dir)
#   env      hashref of environment variables for the server
#   pre_exec code run in the child just before exec (e.g. deny_perf_event_open)
#   wait     seconds to wait for /health (default 10); 0 = do not wait
sub start {
    my ($class, %o) = @_;
    my $dir = tempdir('orderd-t-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $port = $o{port} || free_port();
    my $workers = $o{workers} // <<'LUA';
return { workers = 2, queue = 1000,
         reserve = { hold_us = 0 }, price = { work_us = 0 }, pay = { ms_per_priority = 0 },
         record = { alloc_bytes = 256 } }
LUA
    open my $wf, '>', "$dir/workers.lua" or die $!;
    print $wf $workers;
    close $wf;
    my $yaml;
    if (defined $o{raw_yaml}) {
        $yaml = $o{raw_yaml};
        $yaml =~ s/PORT/$port/g;
        $yaml =~ s/DIR/$dir/g;
    } else {
        $yaml = "listen: 127.0.0.1:$port\nscenarios: []\n";
        my $extra = $o{yaml} // '';
        $yaml .= "pool:\n  script: $dir/workers.lua\n" unless $extra =~ /^pool:/m;
        $yaml .= "profiling:\n  schedule: \"\"\n  output_dir: $dir/profiles\n" unless $extra =~ /^profiling:/m;
        $yaml .= $extra;
    }
    open my $yf, '>', "$dir/orderd.yaml" or die $!;
    print $yf $yaml;
    close $yf;

    my $log = "$dir/orderd.log";
    my $bin = build_dir() . '/orderd';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        %ENV = (%ENV, %{ $o{env} || {} });
        $o{pre_exec}->() if $o{pre_exec};
        open STDOUT, '>>', $log or die;
        open STDERR, '>>', $log or die;
        exec $bin, '-c', "$dir/orderd.yaml", @{ $o{args} || [] } or die "exec $bin: $!";
    }
    my $self = bless { owner => $$, pid => $pid, port => $port, dir => $dir, log => $log,
                       base => "http://127.0.0.1:$port",
                       http => HTTP::Tiny->new(timeout => $o{timeout} || 30, keep_alive => 1) }, $class;
    my $wait = $o{wait} // 10;
    if ($wait) {
        my $ok = wait_until($wait, sub {
            return 0 if waitpid($pid, WNOHANG) == $pid && ($self->{exited} = $? >> 8, 1);
            my $r = HTTP::Tiny->new(timeout => 1)->get("$self->{base}/health");
            return $r->{status} == 200 || $r->{status} == 503;
        });
        die "orderd did not come up on port $port:\n" . $self->log_text unless $ok && !defined $self->{exited};
    }
    return $self;
}

sub port { $_[0]{port} }
sub base { $_[0]{base} }
sub dir  { $_[0]{dir} }
sub pid  { $_[0]{pid} }
sub log_text { my $s = shift; open my $f, '<', $s->{log} or return ''; local $/; <$f> }

sub request {
    my ($s, $method, $path, $body, $headers) = @_;
    my %opt = (headers => $headers || {});
    $opt{content} = $body if defined $body;
    return $s->{http}->request($method, $s->{base} . $path, \%opt);
}
sub get { my ($s, $p, $h) = @_; $s->request('GET', $p, undef, $h) }
sub post_json {
    my ($s, $path, $data, $headers) = @_;
    my $body = ref $data ? json_encode($data) : $data;
    return $s->request('POST', $path, $body, { 'Content-Type' => 'application/json', %{ $headers || {} } });
}
# POSTs every body (hashrefs or JSON text) to PATH pipelined on one connection, fast;
# returns the list of status codes in order
sub post_many {
    my ($s, $path, @bodies) = @_;
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->{port}) or die "connect: $!";
    my $out = '';
    for my $b (@bodies) {
        my $body = ref $b ? json_encode($b) : $b;
        $out .= "POST $path HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              . "Content-Length: " . length($body) . "\r\n\r\n$body";
    }
    my $pid = fork // die;
    if ($pid == 0) { print $c $out; POSIX::_exit(0) }
    my ($buf, @codes) = ('');
    while (@codes < @bodies) {
        if ($buf =~ s/\AHTTP\/1\.1 (\d+)[^\r]*\r\n(.*?)\r\n\r\n//s) {
            my ($code, $head) = ($1, $2);
            my ($len) = $head =~ /content-length: *(\d+)/i;
            while (length($buf) < ($len // 0)) { sysread($c, $buf, 65536, length $buf) or last }
            substr($buf, 0, $len // 0) = '';
            push @codes, $code;
            next;
        }
        sysread($c, $buf, 65536, length $buf) or last;
    }
    waitpid($pid, 0);
    close $c;
    return @codes;
}

# $s->start_load(SECS, MAX): a bounded background load, one child POSTing valid orders
# (about 300/s) for at most SECS seconds or MAX orders; returns the child's pid.  A raw
# keep-alive socket with TCP_NODELAY and one write per request: HTTP::Tiny writes the body
# separately and waits out the delayed ACK (40 ms a request).
sub start_load {
    my $s = shift;
    my ($secs, $max) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    my $end = time + $secs;
    my $sock;
    for (my $i = 0; $i < $max && time < $end; $i++) {
        $sock ||= IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->port) or POSIX::_exit(1);
        setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
        my $body = Orderd::json_encode(Orderd::order(items => ["SKU-$i", 'SKU-' . ($i % 7), 'SKU-X'],
                                                     priority => 1 + $i % 3, amount => 10 + $i % 500));
        syswrite $sock, "POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      . "Content-Length: " . length($body) . "\r\n\r\n$body";
        my $buf = '';
        while ($buf !~ /\r\n\r\n/) { sysread($sock, $buf, 4096, length $buf) or last }
        my ($len) = $buf =~ /^content-length:\s*(\d+)/mi;
        my $need = index($buf, "\r\n\r\n") + 4 + ($len // 0);
        while (length($buf) < $need) { sysread($sock, $buf, 4096, length $buf) or last }
        undef $sock if length($buf) < $need || $buf =~ /^connection:\s*close/mi;
        sleep 0.003;
    }
    POSIX::_exit(0);
}

sub get_json { my ($s, $p, $h) = @_; my $r = $s->get($p, $h); return json_decode($r->{content}) }

# SIGTERM (or the given signal), wait for exit; returns (exit code, log text)
sub stop {
    my ($s, $sig, $timeout) = @_;
    return ($s->{rc}, $s->log_text) if defined $s->{rc};
    kill $sig || 'TERM', $s->{pid};
    my $end = time + ($timeout || 60);
    while (time < $end) {
        my $w = waitpid($s->{pid}, WNOHANG);
        if ($w == $s->{pid}) { $s->{rc} = $? & 127 ? 128 + ($? & 127) : $? >> 8; last }
        sleep 0.05;
    }
    unless (defined $s->{rc}) { kill 'KILL', $s->{pid}; waitpid($s->{pid}, 0); $s->{rc} = -1 }
    return ($s->{rc}, $s->log_text);
}

sub DESTROY {
    my $s = shift;
    return if defined $s->{rc} || !$s->{pid} || $s->{owner} != $$;   # not in forked children
    kill 'KILL', $s->{pid};
    waitpid($s->{pid}, 0);
}

1;
