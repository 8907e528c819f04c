#!/usr/bin/perl
# A profile capture that cannot be written whole: orderload runs with a 4 KiB file-size limit
# (prlimit, SIGXFSZ ignored, so write(2) comes back short, then with EFBIG) and fetches a
# 64 KiB capture.  The capture fails with the write's own error, no temporary file is left, and
# orderload holds no descriptor to it while the run goes on (it used to keep the one it
# opened, still writing into an unlinked file).  No root needed.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use File::Temp qw(tempdir);
use Time::HiRes ();
use Orderload qw(build_dir reaped serve slurp spawned);

my $B    = build_dir();
my $LOAD = "$B/orderload";
plan skip_all => "$LOAD not built" unless -x $LOAD;
plan skip_all => 'needs prlimit (util-linux)' unless system('prlimit --version >/dev/null 2>&1') == 0;
plan skip_all => 'needs /proc/PID/fd' unless -d "/proc/$$/fd";

my $dir = tempdir(CLEANUP => 1);
my $BIG = 'P' x 65536;

# answers /profile/* with 64 KiB, everything else 200 with a short body
my $srv = IO::Socket::INET->new(Listen => 128, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1) or die $!;
my $port = $srv->sockport;
my $spid = fork // die;
if (!$spid) {
    serve($srv, on_read => sub {
        my ($s, $b) = @_;
        while ($$b =~ /\A(.*?)\r\n\r\n/s) {
            my $head = $1;
            my ($cl) = $head =~ /\r\ncontent-length:\s*(\d+)/i;
            my $len = length($head) + 4 + ($cl // 0);
            last if length($$b) < $len;
            substr($$b, 0, $len) = '';
            my ($p) = $head =~ /\A\S+ (\S+)/;
            my $body = $p =~ m{^/profile/} ? $BIG : 'ok';
            syswrite($s, "HTTP/1.1 200 OK\r\nContent-Length: " . length($body) . "\r\n\r\n$body");
        }
    });
    exit 0;
}
close $srv;
spawned($spid);

open my $f, '>', "$dir/cap.lua" or die;
print $f <<'EOF';
return {
  scenarios = { steady = { executor = "constant-arrival-rate", rate = 20, duration = "4s" } },
  profile = { { at = "0.1s", path = "/profile/heap", save = "heap.out" } },
}
EOF
close $f;
mkdir "$dir/out" or die;

my $lpid = fork // die;
if (!$lpid) {
    $SIG{XFSZ} = 'IGNORE';    # inherited through exec: the write fails instead of killing
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', "$dir/stderr";    # small: the warnings fit under the limit
    exec 'prlimit', '--fsize=4096', $LOAD, '-u', "http://127.0.0.1:$port", '--no-announce', '--progress', '0',
        '--profile-dir', "$dir/out", "$dir/cap.lua";
    exit 127;
}
spawned($lpid);

# while the scenario still runs (it lasts 4 s), well after the capture (due at 0.1 s, written
# in microseconds) has failed: a descriptor seen at two instants half a second apart is held
sub held { return grep { defined && m{/out/\.?heap\.out} } map { readlink $_ } glob("/proc/$lpid/fd/*") }
Time::HiRes::sleep(2.0);
my %first = map { $_ => 1 } held();
Time::HiRes::sleep(0.5);
my @held = grep { $first{$_} } held();
ok(-d "/proc/$lpid", 'orderload is still running its scenario when the descriptors are read');
is_deeply(\@held, [], 'no descriptor to the capture file is left open after the failed write')
    or diag explain \@held;

waitpid($lpid, 0);
reaped($lpid);
my $rc  = $? >> 8;
my $err = slurp("$dir/stderr");
is($rc, 0, 'the run itself succeeds (a failed capture is a warning)') or diag($err);
like($err, qr{profile /profile/heap: cannot write \S*/out/heap\.out: File too large},
    'the capture fails with the write error (EFBIG), naming the file') or diag($err);
opendir my $d, "$dir/out" or die;
my @left = grep { !/^\.\.?$/ } readdir $d;
is_deeply(\@left, [], 'neither the capture nor its part file is left') or diag explain \@left;

done_testing();
