#!/usr/bin/perl
# The CPU engine where perf_event_open is refused (a seccomp filter making it fail with EACCES,
# as container runtimes' default profiles do):
#   --check with cpu_engine auto refuses cpu_hz over the tick, saying why itimer was chosen
#   cpu_engine auto starts on itimer and says so (log, GET /profile, the profile's comment)
#   cpu_engine perf_event: each profile falls back to itimer, the log says so once, the server
#   keeps serving
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Orderd;

plan skip_all => 'the seccomp filter is written for x86_64' unless (POSIX::uname())[4] eq 'x86_64';
my $tmp = tempdir('orderd-t34-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bin = Orderd::build_dir() . '/orderd';
my $deny = sub { Orderd::deny_perf_event_open() or POSIX::_exit(97) };

# --check under the filter
my $cfg = "$tmp/hz.yaml";
open my $f, '>', $cfg or die $!;
print $f "listen: 127.0.0.1:1\nscenarios: []\nprofiling:\n  schedule: \"\"\n  cpu_hz: 1000\n";
close $f;
my $pid = open(my $out, '-|') // die "fork: $!";
if (!$pid) {
    open STDERR, '>&', \*STDOUT;
    $deny->();
    exec $bin, '-c', $cfg, '--check' or POSIX::_exit(98);
}
my $text = do { local $/; <$out> };
close $out;
is($? >> 8, 2, '--check: cpu_hz 1000 with auto where perf_event_open is refused exits 2');
like($text, qr/^\Q$cfg\E:5:11: cpu_hz 1000 exceeds the itimer engine's limit of \d+ Hz \(the kernel tick, CONFIG_HZ\); cpu_engine auto chose itimer because perf_event_open is not permitted/m,
     '  at the cpu_hz value, saying why auto chose itimer') or diag($text);

my $cpu_text = sub { # a 1 s CPU profile in text form (its comments at the top)
    my ($s) = @_;
    my $r = $s->get('/profile/cpu?seconds=1&format=text');
    return $r->{status} == 200 ? $r->{content} : "status $r->{status}: $r->{content}";
};

# auto: itimer from the start
{
    my $s = Orderd->start(pre_exec => $deny);
    like($s->log_text, qr/profiling: cpu engine itimer at 100 Hz \(auto: perf_event_open is not permitted/,
         'auto where perf_event_open is refused: the log says itimer, and why');
    my $st = $s->get_json('/profile');
    is_deeply([$st->{cpu_engine}, $st->{cpu_hz}], ['itimer', 100], '  GET /profile: itimer, 100 Hz');
    my $t = $cpu_text->($s);
    like($t, qr/cpu engine: itimer \(gperftools, process-wide ITIMER_PROF\), 100 Hz, period 10 ms/,
         '  the profile says itimer') or diag($t);
    unlike($t, qr/refused/, '  and no fallback (it was chosen at startup)');
    my ($rc, $log) = $s->stop;
    is($rc, 0, '  clean exit') or diag($log);
}

# perf_event asked for, refused at run time: each profile falls back, one log line
{
    my $s = Orderd->start(pre_exec => $deny, yaml => "profiling:\n  schedule: \"\"\n  output_dir: $tmp/profiles\n  cpu_engine: perf_event\n  cpu_hz: 200\n");
    like($s->log_text, qr/profiling: cpu engine perf_event at 200 Hz/, 'cpu_engine perf_event: the log says so at startup');
    my $t1 = $cpu_text->($s);
    my $t2 = $cpu_text->($s);
    like($t1, qr/cpu engine: perf_event refused \(perf_event_open refused: Permission denied\): fell back to itimer/,
         '  the first profile falls back to itimer and says so') or diag($t1);
    like($t1, qr/cpu engine: itimer \(gperftools, process-wide ITIMER_PROF\), 100 Hz/,
         '  at the itimer engine\'s own rate (CPUPROFILE_FREQUENCY was not set for perf_event)') or diag($t1);
    like($t2, qr/fell back to itimer/, '  so does the second') or diag($t2);
    my @warn = $s->log_text =~ /(falls back to the itimer engine)/g;
    is(scalar @warn, 1, '  one log line for both') or diag($s->log_text);
    is($s->get('/health')->{status}, 200, '  the server keeps serving');
    my ($rc, $log) = $s->stop;
    is($rc, 0, '  clean exit') or diag($log);
}

done_testing;
