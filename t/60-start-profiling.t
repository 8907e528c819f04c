#!/usr/bin/perl
# scripts/start_profiling.sh --quick --out DIR, end to end: with 127.0.0.1:8080 held (by this
# test when it is free, so the free-port path runs and a developer's server is never touched),
# it exits 0, says which port it used, leaves every profile kind and the report's pictures in
# DIR, stops the orderd it started, and the report renders in headless Chromium to a page that
# is not blank.  Each planted problem must dominate its profile by the report's own figures
# (summary.json, against the targets it states), and GUIDE.md's quoted figures (its
# demo-figures block, from a full-length default run) must agree with this --quick run's
# within the tolerance each line states.  About 80 s; skipped under the sanitizer suites (the script runs the normal build).
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use IO::Socket::INET;
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use Compress::Zlib ();
use JSON::PP;
use Time::HiRes qw(time sleep);

my $html_early;

plan skip_all => 'the sanitizer suites run other builds; start_profiling.sh runs the normal one' if $ENV{ORDERD_SAN};
plan skip_all => 'Linux only' unless $^O eq 'linux';

my $root = "$FindBin::Bin/..";
chdir $root or die "$root: $!";
my $dir = tempdir('start-profiling-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $out = "$dir/run";

# hold 8080 if nobody does: the script must then move to a free port and say so
my $hold = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 8080, ReuseAddr => 1);
diag($hold ? 'holding 127.0.0.1:8080 for the test' : '127.0.0.1:8080 is already taken by another process');

sub slurp {
    my ($path, $binary) = @_;
    open my $f, '<', $path or return undef;
    binmode $f if $binary;
    local $/;
    return scalar <$f>;
}

my $t0  = time;
my $pid = open(my $fh, '-|') // die "fork: $!";
if (!$pid) {
    open STDERR, '>&', \*STDOUT;
    exec './scripts/start_profiling.sh', '--quick', '--out', $out;
    exit 127;
}
my $output = do { local $/; <$fh> };
close $fh;
my $rc      = $? >> 8;
my $elapsed = time - $t0;
is($rc, 0, sprintf('start_profiling.sh --quick exits 0 (%.0f s)', $elapsed)) or diag($output);
ok($elapsed < 150, 'in under 2.5 minutes');
close $hold if $hold;

my $run = JSON::PP->new->decode(slurp("$out/run.json") // '{}');
ok($run->{port} && $run->{port} != 8080, "it moved off the taken 8080 (to $run->{port})");
like($output, qr/port 8080 is taken.*free port \Q$run->{port}\E/, '... and says so');
like($output, qr/listen: 127\.0\.0\.1:\Q$run->{port}\E/, 'it prints what the run config changes');
like(slurp("$out/orderd.yaml") // '', qr/^listen: 127\.0\.0\.1:\Q$run->{port}\E(?:\s|$)/m, 'the run config listens there');
like($output, qr/summary: accepted=(\d+) processed=\1 .*nothing lost/, 'the server drained: its summary is shown');
like($output, qr/planted problems.*cpu\s+od_stage_price\s+[\d.]+%.*mutex\s+inventory_take\s+[\d.]+%.*block\s+od_stage_pay\s+[\d.]+%.*memory\s+od_stage_record\s+top in-use site/s,
     'the plain-text summary states every planted problem\'s figure');
like($output, qr/run config: config\/orderd\.yaml with .*listen=127\.0\.0\.1:\Q$run->{port}\E/, '... and what the run config really changed');
like($output, qr/report:\s+\Q$out\E\/index\.html/, 'and where the report is');

# each planted problem dominates its profile, by the figures the report computed (summary.json)
my $fig = eval { decode_json(slurp("$out/summary.json") // '') } // {};
my $th  = $fig->{thresholds} // {};
ok(($fig->{cpu}{share} // 0) >= $th->{cpu_share}, sprintf('cpu: od_stage_price %.1f%% of the samples (>= %s%%)', $fig->{cpu}{share} // 0, $th->{cpu_share} // '?'));
ok(($fig->{mutex}{share} // 0) >= $th->{mutex_share}, sprintf('mutex: inventory_take %.1f%% of the lock waits (>= %s%%)', $fig->{mutex}{share} // 0, $th->{mutex_share} // '?'));
ok(($fig->{mutex}{wait_pct} // 0) >= $th->{mutex_wait_pct},
   sprintf('... the waits %.1f%% of %s workers\' time over %s s (>= %s%%)', $fig->{mutex}{wait_pct} // 0, $fig->{mutex}{workers} // '?',
           $fig->{mutex}{window_s} // '?', $th->{mutex_wait_pct} // '?'));
ok(($fig->{block}{busy_share} // 0) >= $th->{block_busy_share}, sprintf('block: od_stage_pay %.1f%% without idle waits (>= %s%%)', $fig->{block}{busy_share} // 0, $th->{block_busy_share} // '?'));
is($fig->{memory}{top_site}, 'od_stage_record', 'memory: od_stage_record is the top in-use site');
ok(!$fig->{memory}{leak_hint}, sprintf('... and no leak hint: it holds %.1f MiB, results_kept x alloc_bytes explains %.1f MiB',
                                       ($fig->{memory}{held_bytes} // 0) / 2**20, ($fig->{memory}{explained_bytes} // 0) / 2**20));
ok($fig->{cpu}{engine}, "the CPU engine is named ($fig->{cpu}{engine} at $fig->{cpu}{hz} Hz)");

# the threads: the profiler's own (a "# profiler: yes" group, or only prof-*/scheduler names) are
# left out of the server's count, and the table shows them as one row
{
    my ($total, $prof, $groups) = (0, 0, 0);
    my $text = slurp("$out/profiles/goroutines.txt") // '';
    ($total) = $text =~ /^goroutine profile: total (\d+)/m;
    for my $g (split /\n(?=\d+ @ )/, $text) {
        my ($n) = $g =~ /^(\d+) @ /m or next;
        my ($names) = $g =~ /^# threads: (.*)$/m;
        my @names = split /,/, $names // '';
        $prof += $n if $g =~ /^# profiler: yes/m || (@names && !grep { !/^prof-/ && $_ ne 'scheduler' } @names);
    }
    my $t = $fig->{threads} // {};
    ok($total && $prof > 0, "goroutines.txt: $total threads, $prof of them the profiler's");
    is($t->{profiler}, $prof, "summary.json counts the profiler's $prof threads apart");
    is($t->{server}, $total - $prof, "... and the server's as the rest (" . ($total - $prof) . ")");
    is($t->{workers}, $fig->{knobs}{workers}, "... the workers among them ($t->{workers})");
    my $rows = () = slurp("$out/index.html") =~ /<td class="l"><b>the profiler's:<\/b> /g;
    is($rows, 1, "the threads table shows the profiler's threads as one row");
}

# GUIDE.md's quoted figures (its "demo-figures" block, from a full-length default run) against this run's
my $guide = slurp('GUIDE.md') // '';
my ($block) = $guide =~ /<!-- demo-figures: begin -->\s*```\w*\n(.*?)```\s*<!-- demo-figures: end -->/s;
ok($block, "GUIDE.md has the demo-figures block");
my $nfig = 0;
for my $line (split /\n/, $block // '') {
    next if $line =~ /^\s*(#|$)/;
    my ($key, $quoted, $op, $tol) = $line =~ /^(\S+)\s+(\S+)\s+(\+-|>=|==)\s*(\S*)/ or do { fail("unreadable figure line: $line"); next };
    my $v = $fig;
    $v = ref($v) eq 'HASH' ? $v->{$_} : undef for split /\./, $key;
    $nfig++;
    if ($op eq '==') {
        is($v, $quoted, "GUIDE's $key ($quoted) is this run's");
    } elsif ($op eq '>=') {
        ok(defined $v && $v >= $tol && $quoted >= $tol, "GUIDE's $key ($quoted) and this run's (" . ($v // 'none') . ") both >= $tol");
    } else {
        ok(defined $v && abs($v - $quoted) <= $tol, "GUIDE's $key $quoted within $tol of this run's (" . ($v // 'none') . ')');
    }
}
ok($nfig >= 6, "$nfig figures compared");

# the report: units for people, nothing hard-coded about the run config
unlike($html_early = slurp("$out/index.html") // '', qr/\d(?:kB|MB|GB)\b/, 'the report prints sizes in KiB/MiB, not pprof\'s kB/MB');
unlike($html_early, qr/with only <code>listen<\/code>/, 'the run-config text is computed, not the old fixed sentence');
like($html_early, qr/<td class="l"><code>listen<\/code><\/td><td class="l">127\.0\.0\.1:8080<\/td><td class="l">127\.0\.0\.1:\Q$run->{port}\E<\/td>/,
     '... it lists listen: 8080 -> the port used');
like($html_early, qr/PROFILE: interrupts\/evictions\/bytes/, 'the report explains the PROFILE: log lines');

# no orderd left behind: its PID is gone and its port is free
my $spid = $run->{pid};
ok($spid, "the run recorded the server's PID ($spid)");
ok(!kill(0, $spid) || !-e "/proc/$spid" || (readlink("/proc/$spid/exe") // '') !~ /orderd/,
   'no orderd left running under that PID');
ok(!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$run->{port}", Timeout => 2), 'nothing listens on its port any more');

# every kind, readable
my $p = "$out/profiles";
for my $k (qw(cpu memory goroutines block mutex)) {
    my $gz = slurp("$p/$k.pb.gz", 1) // '';
    my $raw;
    ok(length($gz) > 100 && gunzip(\$gz => \$raw) && length($raw) > 100, "$k.pb.gz: a gzipped profile");
    ok(-s "$p/$k.prof", "$k.prof: the legacy format");
    my $svg = slurp("$p/$k.svg") // '';
    if (system('command -v xmllint >/dev/null 2>&1') == 0) {
        is(system('xmllint', '--noout', "$p/$k.svg"), 0, "$k.svg: a flame graph that parses as XML");
    } else {
        like($svg, qr/<svg/, "$k.svg: a flame graph");
    }
}
my $trace = eval { decode_json(slurp("$p/trace.json") // '') };
ok($trace && @{ $trace->{traceEvents} || [] } > 10, 'trace.json: Chrome trace events');
my $gc = eval { decode_json(slurp("$p/gc.json") // '') };
ok($gc && $gc->{before} && $gc->{after}, 'gc.json: before and after');
my $load = eval { decode_json(slurp("$out/load.json") // '') };
ok($load && (keys %{ $load->{scenarios} || {} }) == 3, 'load.json: the three scenarios of all.lua');
ok(!(grep { !@{ $_->{timeline} || [] } } values %{ $load->{scenarios} || {} }), '... each with a timeline');

# the report
my $html = slurp("$out/index.html") // '';
ok(length $html > 10000, 'index.html written');
for my $k (qw(cpu memory goroutines block mutex trace gc)) {
    like($html, qr/id="\Q$k\E"/, "the report has a $k section");
}
for my $f (qw(cpu.pb.gz memory.pb.gz goroutines.pb.gz block.pb.gz mutex.pb.gz trace.json gc.json cpu.prof)) {
    like($html, qr/href="profiles\/\Q$f\E"/, "... and links $f");
}
like($html, qr/id="self-check">orderload's self-check: (?:&#10003; these figures measure the server|&#10007; these figures may measure orderload)[^<]*send delay p99 [^<]*busiest worker thread/,
    "the report carries orderload's self-check verdict");
my $flames = () = $html =~ /<svg id="flame-/g;
is($flames, 5, 'five flame graphs inline');
my $charts = () = $html =~ /<svg class="chart"/g;
ok($charts >= 4, "latency charts inline ($charts)");
like($html, qr/go tool pprof -http=: \S+cpu\.pb\.gz/, 'the command to open the CPU profile');
like($html, qr/google-pprof --text \S+orderd \S+cpu\.prof/, '... and the legacy one with google-pprof');
like($html, qr/ui\.perfetto\.dev/, 'how to open the trace');
unlike($html, qr/<(?:script|img|link|iframe)[^>]+(?:src|href)="(?:https?:)?\/\//i, 'nothing loaded from the network');
like($html, qr/od_stage_price.*od_stage_reserve.*od_stage_pay.*od_stage_record/s, 'the hotspots are named');
if (system('command -v dot >/dev/null 2>&1') == 0) {
    ok(-s "$out/analysis/cpu-callgraph.svg", 'a call graph from go tool pprof -svg (graphviz present)');
}

# headless Chromium: the report renders to a page that is not blank
my ($chromium) = grep { system("command -v $_ >/dev/null 2>&1") == 0 } qw(chromium chromium-browser);
SKIP: {
    skip 'chromium is not installed (scripts/install-deps.sh installs it)', 4 unless $chromium;
    my @flags = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--window-size=1280,2000');
    my $shot = sub {
        my ($url, $png) = @_;
        my $profile = tempdir('chromium-XXXXXX', TMPDIR => 1, CLEANUP => 1);
        system("timeout 90 $chromium @flags --user-data-dir=$profile --screenshot=$png '$url' >/dev/null 2>&1");
        return -s $png;
    };
    open my $b, '>', "$dir/blank.html" or die;
    print $b "<!DOCTYPE html><html><body></body></html>\n";
    close $b;
    my $blank = $shot->("file://$dir/blank.html", "$dir/blank.png") || 0;
    my $size  = $shot->("file://$out/index.html", "$dir/report.png") || 0;
    ok($size > 20000, "the report renders to a screenshot ($size bytes)");
    ok($blank > 0 && $size > 10 * $blank, "... far larger than a blank page's ($blank bytes)");
    my ($w, $h, $colours) = png_colours("$dir/report.png");
    is("$w x $h", '1280 x 2000', '... at the window size');
    ok($colours > 50, "... with many colours, not one ($colours)");
}

done_testing();

# decodes an 8-bit RGB or RGBA PNG; returns (width, height, number of distinct colours)
sub png_colours {
    my $data = slurp(shift, 1) // return (0, 0, 0);
    return (0, 0, 0) unless substr($data, 0, 8) eq "\x89PNG\r\n\x1a\n";
    my ($pos, $idat, $w, $h, $depth, $type) = (8, '');
    while ($pos + 8 <= length $data) {
        my ($len, $kind) = unpack('N a4', substr($data, $pos, 8));
        my $body = substr($data, $pos + 8, $len);
        ($w, $h, $depth, $type) = unpack('N N C C', $body) if $kind eq 'IHDR';
        $idat .= $body if $kind eq 'IDAT';
        $pos += 12 + $len;
    }
    return ($w // 0, $h // 0, 0) unless $depth && $depth == 8 && ($type == 2 || $type == 6);
    my $bpp = $type == 6 ? 4 : 3;
    my $raw = Compress::Zlib::uncompress($idat) // return ($w, $h, 0);
    my $stride = $w * $bpp;
    my (%seen, @prev);
    @prev = (0) x $stride;
    my $rows = $h < 800 ? $h : 800;    # the top of the page: header, hotspot cards, the load chart
    for my $y (0 .. $rows - 1) {
        my $off    = $y * ($stride + 1);
        my $filter = ord substr($raw, $off, 1);
        my @cur    = unpack('C*', substr($raw, $off + 1, $stride));
        for my $i (0 .. $#cur) {
            my $a = $i >= $bpp ? $cur[$i - $bpp] : 0;
            my $b = $prev[$i];
            my $c = $i >= $bpp ? $prev[$i - $bpp] : 0;
            my $v = $cur[$i];
            if    ($filter == 1) { $v += $a }
            elsif ($filter == 2) { $v += $b }
            elsif ($filter == 3) { $v += int(($a + $b) / 2) }
            elsif ($filter == 4) {
                my $pp = $a + $b - $c;
                my ($pa, $pb, $pc) = (abs($pp - $a), abs($pp - $b), abs($pp - $c));
                $v += ($pa <= $pb && $pa <= $pc) ? $a : ($pb <= $pc ? $b : $c);
            }
            $cur[$i] = $v & 255;
        }
        if ($y % 8 == 0) {    # every 8th row is plenty to count colours
            for (my $i = 0; $i < $stride; $i += $bpp * 4) { $seen{ join ',', @cur[$i .. $i + 2] } = 1 }
        }
        @prev = @cur;
    }
    return ($w, $h, scalar keys %seen);
}
