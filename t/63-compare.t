#!/usr/bin/perl
# scripts/start_profiling.sh --set / --base, end to end.  Refused settings first: a --set with
# a wrong-typed value or an unknown key (YAML and workers.lua alike), a --base that is not a
# run, a --set that is not KEY=VALUE: each exits 2 naming the problem and starts nothing.  Then
# two real --quick runs: the first with reserve.stripes=16 (the inventory lock spread out), the
# second with reserve.stripes=1 and --base the first.  The second's report must hold a
# well-formed differential flame graph per kind (red frames that grew, blue that shrank; the
# inventory lock red), go tool pprof -diff_base tables, both runs' latency on one chart, a
# settings table naming reserve.stripes 16 -> 1 and nothing else, and a lock-contention verdict
# that grew; the summary prints the verdicts.  Tracked files are never edited.  Completion
# latency (orderload's follow = true) is shown where load.json has it.  About 1.5 minutes;
# skipped under the sanitizer suites (the script runs the normal build).
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use FindBin;
use JSON::PP;

# the verdicts' text (from compare.json) has arrows and x signs
binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

plan skip_all => 'the sanitizer suites run other builds; start_profiling.sh runs the normal one' if $ENV{ORDERD_SAN};
plan skip_all => 'Linux only' unless $^O eq 'linux';

my $root = "$FindBin::Bin/..";
chdir $root or die "$root: $!";
my $dir = tempdir('compare-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $py  = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';

sub slurp {
    my ($path) = @_;
    open my $f, '<', $path or return undef;
    local $/;
    return scalar <$f>;
}

# runs start_profiling.sh with ARGS; returns (exit status, stdout and stderr together)
sub script {
    my @args = @_;
    my $pid  = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec './scripts/start_profiling.sh', @args;
        exit 127;
    }
    my $out = do { local $/; <$fh> };
    close $fh;
    return ($? >> 8, $out);
}

my %tracked = map { $_ => slurp($_) } qw(lua/workers.lua config/orderd.yaml);

# ---- refused before anything starts ------------------------------------------------------------
{
    my $bad = "$dir/bad";
    my ($rc, $out) = script('--quick', '--out', $bad, '--set', 'reserve.stripes=many', '--set', 'profiling.cpu_hz=fast',
                            '--set', 'nosuch.knob=1', '--set', 'profiling.nosuch=1');
    is($rc, 2, 'wrong-typed and unknown --set: exit 2') or diag($out);
    like($out, qr/--set reserve\.stripes=many: reserve\.stripes must be a number/, '... naming the wrong-typed workers.lua value');
    like($out, qr/--set profiling\.cpu_hz=fast: profiling\.cpu_hz must be a whole number/, '... the wrong-typed YAML value');
    like($out, qr/--set nosuch\.knob=1: unknown key "nosuch"/, '... the unknown workers.lua key');
    like($out, qr/--set profiling\.nosuch=1: unknown key "profiling\.nosuch"/, '... and the unknown YAML key');
    ok(!-e $bad, '... and nothing started: no run directory');
    unlike($out, qr/starting build\/orderd/, '... no server');

    ($rc, $out) = script('--quick', '--base', $dir);
    is($rc, 2, '--base on a directory that is not a run: exit 2');
    like($out, qr/--base \Q$dir\E: not a run directory/, '... saying so');
    ($rc, $out) = script('--quick', '--base', "$dir/nowhere");
    is($rc, 2, '--base on no directory: exit 2');
    like($out, qr/no such directory/, '... saying so');
    ($rc, $out) = script('--quick', '--set', 'reserve.stripes');
    is($rc, 2, '--set without =VALUE: exit 2');
    like($out, qr/--set reserve\.stripes: expected KEY=VALUE/, '... saying what it expects');
    # --config and --workers files: their own problems are named by file and line
    open my $w, '>', "$dir/w.lua" or die;
    print $w "return {\n  workers = \"many\",\n}\n";
    close $w;
    ($rc, $out) = script('--quick', '--out', $bad, '--workers', "$dir/w.lua");
    is($rc, 2, '--workers FILE that does not pass --check: exit 2');
    like($out, qr/\Q$dir\E\/w\.lua:\d+: workers must be a number/, '... naming the file and the problem');
    ok(!-e $bad, '... nothing started');
    (my $yaml = $tracked{'config/orderd.yaml'}) =~ s/^(\s*cpu_hz:)\s*\d+/$1 fast/m or die;
    open my $y, '>', "$dir/c.yaml" or die;
    print $y $yaml;
    close $y;
    ($rc, $out) = script('--quick', '--out', $bad, '--config', "$dir/c.yaml");
    is($rc, 2, '--config FILE that does not pass --check: exit 2');
    like($out, qr/\Q$dir\E\/c\.yaml:\d+:\d+: profiling\.cpu_hz must be a whole number/, '... naming FILE:LINE:COL');
    ($rc, $out) = script('--quick', '--config', "$dir/none.yaml");
    is($rc, 2, '--config with no such file: exit 2');
    like($out, qr/--config \S*none\.yaml: no such readable file/, '... saying so');
    ($rc, $out) = script('--seconds', '5');
    is($rc, 2, '--seconds out of range: exit 2');
    like($out, qr/--seconds 5: out of range/, '... saying so');
    ($rc, $out) = script('--help');
    is($rc, 0, '--help exits 0');
    like($out, qr/^(?=.*^\s+--base RUN_DIR\s+\S)(?=.*^\s+--set KEY=VALUE\s+\S)(?=.*^\s+--config FILE\s+\S)(?=.*^\s+--workers FILE\s+\S)/sm,
     '... and documents --base, --set, --config, --workers');
}

# ---- two runs: the lock spread over 16 stripes, then one stripe against it ---------------------------
my ($a, $b) = ("$dir/a", "$dir/b");
# --seconds 25: the scenarios scaled to 25 s (the burst's lock-wait window 3 s), enough for the
# lock waits to differ by far more than their noise, and the test stays short
my ($rc, $out) = script('--seconds', '25', '--out', $a, '--set', 'reserve.stripes=16');
is($rc, 0, 'first run (--set reserve.stripes=16) exits 0') or diag($out);
($rc, $out) = script('--seconds', '25', '--out', $b, '--set', 'reserve.stripes=1', '--base', $a);
is($rc, 0, 'second run (--set reserve.stripes=1 --base FIRST) exits 0') or diag($out);

for my $f (keys %tracked) { is(slurp($f), $tracked{$f}, "$f is not edited") }
my $sa = eval { decode_json(slurp("$a/settings.json") // '') } // {};
my $sb = eval { decode_json(slurp("$b/settings.json") // '') } // {};
is($sa->{workers}{'reserve.stripes'}, 16, 'the first run records reserve.stripes 16 (settings.json)');
is($sb->{workers}{'reserve.stripes'}, 1, '... the second 1');
like(slurp("$b/orderd.yaml") // '', qr/^\s*script:\s*\Q$b\E\/workers\.lua/m, "the second run's server read the run directory's workers.lua");

# the differential flame graphs: one per kind, well-formed, red and blue frames
my $xmllint = system('command -v xmllint >/dev/null 2>&1') == 0;
my ($red, $blue) = (0, 0);
for my $k (qw(cpu memory goroutines block mutex)) {
    my $svg = slurp("$b/profiles/$k-diff.svg") // '';
    ok($svg =~ /<svg/ && $svg =~ /<\/svg>\s*$/, "profiles/$k-diff.svg written");
    if ($xmllint) {
        is(system('xmllint', '--noout', "$b/profiles/$k-diff.svg"), 0, "... and well-formed XML");
    }
    while ($svg =~ /fill="rgb\((\d+),(\d+),(\d+)\)"/g) {
        $red++  if $1 == 255 && $2 == $3 && $2 < 250;
        $blue++ if $3 == 255 && $1 == $2 && $1 < 250;
    }
}
ok($red > 0 && $blue > 0, "the graphs have frames that grew (red: $red) and shrank (blue: $blue)");
my $msvg = slurp("$b/profiles/mutex-diff.svg") // '';
my ($inv) = $msvg =~ /<g class="f"[^>]*data-n="inventory_take"><title>[^<]*<\/title><rect [^>]*fill="rgb\((\d+,\d+,\d+)\)"/;
like($inv // '', qr/^255,(\d+),\1$/, "the inventory lock's frame is red: it grew (rgb(" . ($inv // "none") . "))");

# the report: -diff_base tables, the overlays, the settings table, the verdicts
my $html = slurp("$b/index.html") // '';
like($html, qr/id="compare"/, 'the report has a comparison section');
like($html, qr/go tool pprof -top -diff_base \S*\/a\/profiles\/mutex\.pb\.gz \S*\/b\/profiles\/mutex\.pb\.gz/, '... with the -diff_base command');
my $dtop = slurp("$b/analysis/mutex-top-diff.txt") // '';
# a row: flat flat% sum% cum cum% function; inventory_take's cum (what it and its callees waited) grew
like($dtop, qr/^\s*\S+\s+\S+%\s+\S+%\s+[\d.]+(?:ns|us|µs|ms|s)\s+\S+%\s+inventory_take\b/m,
     'go tool pprof -diff_base: inventory_take grew (analysis/mutex-top-diff.txt)') or diag($dtop);
like($html, qr/-diff_base.*<code>inventory_take<\/code>/s, '... and the table is in the report');
like($html, qr/<code>reserve\.stripes<\/code><\/td><td class="l">workers\.lua<\/td><td class="l">16<\/td><td class="l">1<\/td>/,
     'the settings table: reserve.stripes 16 -> 1');
my $cmp = eval { decode_json(slurp("$b/compare.json") // '') } // {};
is(join(',', map { $_->{key} } @{ $cmp->{settings} || [] }), 'reserve.stripes', '... and no other setting differs');
my ($lock) = grep { $_->{kind} eq 'mutex' } @{ $cmp->{verdicts} || [] };
is($lock->{trend}, 'grew', "the lock-contention verdict: grew ($lock->{text})");
ok(($lock->{this} // 0) > 3 * ($lock->{base} // 1e18), '... by more than 3 times');
like($out, qr/lock contention\s+lock waits \S+ \S+ → \S+ \S+, ×\d+\s+\[grew\]/, 'the summary prints the verdicts');
# the heap: both runs hold the same records (success x alloc_bytes), so its verdict is "the
# same", within three standard deviations of the two sampled figures (report_compare.py)
my ($heap) = grep { $_->{kind} eq 'memory' } @{ $cmp->{verdicts} || [] };
my @n = map { (eval { decode_json(slurp("$_/summary.json") // '') } // {})->{memory}{sampled} } $a, $b;
my $band = (grep { !$_ } @n) ? 1.25 : exp(3 * sqrt(1 / $n[0] + 1 / $n[1]));
$band = 1.25 if $band < 1.25;
ok(abs(($heap->{noise} // 0) - $band) < 0.01, sprintf('the heap verdict\'s noise is its sampling\'s (%.0f and %.0f samples: x%.2f)', $n[0] // 0, $n[1] // 0, $band))
    or diag explain $heap;
is($heap->{trend}, 'same', "the heap verdict: the same records in both runs, the same ($heap->{text})");
like($out, qr/settings that differ: reserve\.stripes 16 -> 1\n/, '... and the settings that differ');
like($html, qr/<svg class="chart"[^>]*>\s*<text[^>]*>Time-to-202 per second: this run \(solid\) and the base \(dashed\)/,
     'a latency overlay chart');
my ($overlay) = $html =~ /(Time-to-202 per second: this run.*?<\/svg>)/s;
ok(($overlay // '') =~ /<polyline class="o_t99"/ && $overlay =~ /<polyline class="o_b99"/, "... with this run's and the base's p99 lines");
like($html, qr/All scenarios, by percentile/, '... and a percentile one');

# completion latency (orderload follow = true): shown where load.json has it.  When this build's
# demo does not follow its orders yet, the field is added to a copy of the run in the documented
# shape (that of latency_us), and the report read again.
{
    my $load = decode_json(slurp("$b/load.json") // '{}');
    my $c = $b;
    unless ($load->{total}{completion_us}) {
        $c = "$dir/c";
        system('cp', '-a', $b, $c) == 0 or die "cp: $!";
        for my $s (values(%{ $load->{scenarios} }), $load->{total}) {
            $s->{completion_us} = { map { $_ => ($_ eq 'count' ? $s->{latency_us}{$_} : 25 * $s->{latency_us}{$_}) } keys %{ $s->{latency_us} } };
            $_->{completion_p99_us} = 25 * $_->{p99_us} for @{ $s->{timeline} || [] };
        }
        open my $f, '>', "$c/load.json" or die;
        print $f encode_json($load);
        close $f;
        my $r = `$py scripts/report.py $c 2>&1`;
        like($r, qr/completion \(accepted -> finished, [\d ]+ orders followed\): p50\s+\S+ \S+\s+p99/, 'completion latency in the summary');
    }
    my $h = slurp("$c/index.html") // '';
    like($h, qr/<th[^>]*>completion p50<\/th><th>completion p99<\/th>/, "completion latency in the load table, beside time-to-202");
    like($h, qr/<polyline class="lcomp"/, '... in the load chart');
    like($h, qr/<polyline class="o_tc"/, '... and in the overlay');
}

done_testing();
