# orderd's command line: --help, --version, --check on good and broken configs, refusing to start.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Orderd qw(build_dir free_port);

my $bin = build_dir() . '/orderd';
my $dir = tempdir(CLEANUP => 1);
sub put { my ($name, $text) = @_; open my $f, '>', "$dir/$name" or die; print $f $text; close $f; "$dir/$name" }
sub run { my $out = `@_ 2>&1`; return ($? >> 8, $out) }

my ($rc, $out) = run("$bin --help");
is $rc, 0, '--help exits 0';
like $out, qr/usage: orderd .*--check/s, '--help shows usage';
($rc, $out) = run("$bin --version");
like $out, qr/^orderd \d+\.\d+/, '--version';
($rc, $out) = run("$bin --bogus");
is $rc, 2, 'an unknown option exits 2';

($rc, $out) = run("$bin -c config/orderd.yaml --check");
is $rc, 0, 'the shipped config passes --check' or diag $out;
is $out, "ok\n", '--check prints ok';

my $w = put('w.lua', "return { workers = 1 }\n");
my $good = put('good.yaml', "listen: 127.0.0.1:1\npool: { script: $w }\nscenarios: []\nprofiling: { schedule: \"\" }\n");
($rc, $out) = run("$bin -c $good --check");
is $rc, 0, 'a minimal config passes' or diag $out;

my $bad = put('bad.yaml', "listen: 127.0.0.1:1\nhttp:\n  threads: 100\n  colour: red\npool: { script: $w }\nscenarios: []\n");
($rc, $out) = run("$bin -c $bad --check");
is $rc, 2, 'a broken config: --check exits 2';
like $out, qr/\Q$bad\E:3:12: http\.threads must be from 1 to 64/, 'range problem with FILE:LINE:COL';
like $out, qr/\Q$bad\E:4:3: unknown key "http\.colour"/, 'unknown key with FILE:LINE:COL';

# a cpu_hz the itimer engine cannot deliver (the kernel tick) is refused where it is written
my $tick = `(zcat /proc/config.gz 2>/dev/null || cat /boot/config-\$(uname -r) 2>/dev/null) | sed -n 's/^CONFIG_HZ=//p'`;
chomp $tick;
SKIP: {
    skip 'no kernel config readable: the tick is measured', 3 unless $tick =~ /^\d+$/ && $tick < 1000;
    my $hz = put('hz.yaml', "listen: 127.0.0.1:1\npool: { script: $w }\nscenarios: []\nprofiling:\n"
                          . "  schedule: \"\"\n  cpu_engine: itimer\n  cpu_hz: 1000\n");
    ($rc, $out) = run("$bin -c $hz --check");
    is $rc, 2, 'cpu_engine itimer with cpu_hz 1000: --check exits 2';
    like $out, qr/^\Q$hz\E:7:11: cpu_hz 1000 exceeds the itimer engine's limit of $tick Hz \(the kernel tick, CONFIG_HZ\); use cpu_engine: perf_event or cpu_hz <= $tick$/m,
        '  at the cpu_hz value, with the reason' or diag $out;
    my $eng = put('eng.yaml', "listen: 127.0.0.1:1\npool: { script: $w }\nscenarios: []\nprofiling: { schedule: \"\", cpu_engine: gperf }\n");
    ($rc, $out) = run("$bin -c $eng --check");
    like $out, qr/^\Q$eng\E:4:40: profiling\.cpu_engine must be auto, perf_event or itimer, got "gperf"$/m,
        'an unknown cpu_engine: FILE:LINE:COL' or diag $out;
}

my $badlua = put('badw.lua', "return {\n  workers = 2,\n  queue = 'big',\n}\n");
my $bad2 = put('bad2.yaml', "listen: 127.0.0.1:1\npool: { script: $badlua }\nscenarios: []\nprofiling: { schedule: \"\" }\n");
($rc, $out) = run("$bin -c $bad2 --check");
is $rc, 2, 'a broken workers.lua: exit 2';
like $out, qr/\Q$badlua\E:3: queue must be a number/, 'workers.lua problem with FILE:LINE';

my $synlua = put('syn.lua', "return {\n  workers = ,\n}\n");
my $bad3 = put('bad3.yaml', "listen: 127.0.0.1:1\npool: { script: $synlua }\nscenarios: []\nprofiling: { schedule: \"\" }\n");
($rc, $out) = run("$bin -c $bad3 --check");
like $out, qr/\Q$synlua\E:2: unexpected symbol/, 'Lua syntax error with FILE:LINE';

# never starts on a config that fails --check
my $port = free_port();
my $bad4 = put('bad4.yaml', "listen: 127.0.0.1:$port\nhttp: { threads: 0 }\npool: { script: $w }\nscenarios: []\n");
($rc, $out) = run("timeout 10 $bin -c $bad4");
is $rc, 2, 'the server does not start on a broken config';
like $out, qr/not starting/, 'and says so';

# profiling beyond loopback without a token is refused
my $open = put('open.yaml', "listen: 0.0.0.0:$port\npool: { script: $w }\nscenarios: []\nprofiling: { schedule: \"\" }\n");
($rc, $out) = run("timeout 10 $bin -c $open --check");
is $rc, 2, 'profiling on 0.0.0.0 without a token is refused';
like $out, qr/refusing to serve the profiling paths on 0\.0\.0\.0:\d+ .*without profiling\.token/, 'with a clear reason';
my $open2 = put('open2.yaml', "listen: 0.0.0.0:$port\npool: { script: $w }\nscenarios: []\nprofiling: { schedule: \"\", token: abc }\n");
($rc, $out) = run("$bin -c $open2 --check");
is $rc, 0, 'with a token it is allowed' or diag $out;
my $open3 = put('open3.yaml', "listen: 0.0.0.0:$port\npool: { script: $w }\nscenarios: []\nprofiling: { schedule: \"\", listen: \"127.0.0.1:1\" }\n");
($rc, $out) = run("$bin -c $open3 --check");
is $rc, 0, 'or with profiling on its own loopback listener' or diag $out;

# a port already taken: a clear error, not a crash
my $sock = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:$port", ReuseAddr => 1) or die;
my $busy = put('busy.yaml', "listen: 127.0.0.1:$port\npool: { script: $w }\nscenarios: []\nprofiling: { schedule: \"\" }\n");
($rc, $out) = run("timeout 10 $bin -c $busy");
isnt $rc, 0, 'a taken port: non-zero exit';
like $out, qr/cannot listen on 127\.0\.0\.1:$port: Address already in use/, 'a taken port is named';

done_testing;
