package Orderload;
# Helpers for the orderload tests: run build/orderload, start build/hello_h2o on a free port,
# and the loop of the small HTTP servers the tests write to watch orderload from the other side.
# Every child registered with spawned() (start_hello does it) gets SIGCONT and SIGKILL at
# exit.  Core Perl modules only.
#
#   use lib 't/lib'; use Orderload qw(orderload start_hello wait_port);
#   my ($pid, $port) = start_hello();
#   wait_port($port) or die "hello_h2o did not start";
#   my ($rc, $out, $err) = orderload('-u', "http://127.0.0.1:$port", 'scenario.lua');
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use Time::HiRes ();

use Orderd qw(build_dir free_port);

our @EXPORT_OK = qw(build_dir free_port orderload orderload_bg orderload_output reaped serve slurp spawned start_server
                    start_hello wait_port);

my @children;
END { local $?; kill 'CONT', @children if @children; kill 'KILL', @children if @children; waitpid($_, 0) for @children }

# registers child pids to be killed at exit
sub spawned { push @children, @_ }

# forgets a child the test has waited for itself
sub reaped { my %gone = map { $_ => 1 } @_; @children = grep { !$gone{$_} } @children }

sub slurp { local $/; open my $f, '<', $_[0] or return ''; return scalar <$f> }

# 1 once 127.0.0.1:PORT accepts a connection, 0 after 5 s
sub wait_port {
    my ($p) = @_;
    for (1 .. 200) {
        return 1 if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$p");
        Time::HiRes::sleep(0.025);
    }
    return 0;
}

# starts build/hello_h2o on a free port (its stdout to /dev/null); returns (pid, port) at
# once: wait_port tells when it answers
sub start_hello {
    my $p   = free_port();
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        exec build_dir() . '/hello_h2o', '-p', $p;
        exit 127;
    }
    spawned($pid);
    return ($pid, $p);
}

my $out_dir;

# starts build/orderload with @args, its stdout and stderr going to files that
# orderload_output reads; returns its pid
sub orderload_bg {
    my @args = @_;
    $out_dir //= tempdir('orderload-t-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', "$out_dir/stdout";
        open STDERR, '>', "$out_dir/stderr";
        exec build_dir() . '/orderload', @args;
        exit 127;
    }
    return $pid;
}

# (stdout, stderr) of the last orderload run
sub orderload_output { return (slurp("$out_dir/stdout"), slurp("$out_dir/stderr")) }

# runs orderload with @args to its end; returns (exit code, stdout, stderr)
sub orderload {
    my $pid = orderload_bg(@_);
    waitpid($pid, 0);
    my $rc = $? >> 8;
    return ($rc, orderload_output());
}

# start_server(sub { my ($srv) = @_; ... }): a server of the test's own on its own process: a
# listening socket on a free 127.0.0.1 port, handed to the code in a forked child, which exits
# when the code returns; the parent gets (pid, port), the child recorded for cleanup (spawned)
sub start_server {
    my ($child) = @_;
    my $srv = IO::Socket::INET->new(Listen => 512, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
        or die $!;
    my $port = $srv->sockport;
    my $pid  = fork // die;
    if (!$pid) {
        $child->($srv);
        exit 0;
    }
    close $srv;
    spawned($pid);
    return ($pid, $port);
}

# serve($srv, on_read => sub { my ($sock, $bufref) = @_; ... }, timeout => SECS, stop => sub {...})
# The loop of a small keep-alive server, for a forked child: accepts connections on the
# listening socket $srv, appends what each sends to that connection's buffer and calls
# on_read with the socket and a reference to the buffer (it consumes and answers whole
# requests).  Waits at most `timeout` seconds at a time (undef: as long as it takes) and
# returns when stop->() is true; without `stop`, never.
sub serve {
    my ($srv, %o) = @_;
    my $sel = IO::Select->new($srv);
    my %buf;
    while (!($o{stop} && $o{stop}->())) {
        for my $s ($sel->can_read($o{timeout})) {
            if ($s == $srv) {
                my $c = $srv->accept or next;
                $sel->add($c);
                $buf{ fileno $c } = '';
                next;
            }
            my $n = sysread($s, my $chunk, 65536);
            if (!$n) {
                $sel->remove($s);
                delete $buf{ fileno $s };
                close $s;
                next;
            }
            my $b = \$buf{ fileno $s };
            $$b .= $chunk;
            $o{on_read}->($s, $b);
        }
    }
}

1;
