#!/usr/bin/perl
# The flame graph in a real browser: headless Chromium, driven through the DevTools protocol
# (t/lib/flame_browser.js), clicks "Search" and types a term at the prompt, presses Ctrl-F and
# types another, resets the search, clicks a frame to zoom and "Reset Zoom".  What the page
# shows is checked against the SVG's own frames, computed here: the matched share (nested
# matches counted once), the highlighted frames, the faded ancestors.  Names: as the pprof's
# (unknown code as "[module]", "[vdso]" without a PID).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(sleep);
use Orderd;

my ($chromium) = grep { system("command -v $_ >/dev/null 2>&1") == 0 } qw(chromium chromium-browser);
plan skip_all => 'chromium is not installed (scripts/install-deps.sh installs it)' unless $chromium;
my $node_ok = system(q{node --experimental-websocket -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' >/dev/null 2>&1}) == 0;
plan skip_all => 'node with WebSocket (20+ with --experimental-websocket) is not installed' unless $node_ok;

my $tmp = tempdir('orderd-t37-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $s = Orderd->start(Orderd::hotspots());
my $http = HTTP::Tiny->new(timeout => 60);
my $load = $s->start_load(30, 30000);
sleep 1.5;

my $r = $http->get($s->base . '/profile/cpu?seconds=2&format=svg');
is($r->{status}, 200, 'GET /profile/cpu?seconds=2&format=svg: 200');
my $svg = $r->{content} // '';
open my $f, '>:raw', "$tmp/cpu.svg" or die $!;
print $f $svg;
close $f;

# the frames as the SVG carries them: name, start and width (fractions), depth
my @frames;
while ($svg =~ /<g class="f" data-x="([\d.]+)" data-w="([\d.]+)" data-d="(\d+)" data-n="([^"]*)"/g) {
    my ($x, $w, $d, $n) = ($1, $2, $3, $4);
    $n =~ s/&lt;/</g; $n =~ s/&gt;/>/g; $n =~ s/&quot;/"/g; $n =~ s/&apos;/'/g; $n =~ s/&amp;/&/g;
    push @frames, { x => $x, w => $w, d => $d, n => $n };
}
ok(@frames > 5, scalar(@frames) . ' frames in the SVG') or diag(substr($svg, 0, 2000));

# the share of the whole under frames matching RE, nested ranges counted once; and the matches
sub matched {
    my ($re) = @_;
    my @iv = sort { $a->[0] <=> $b->[0] } map { [$_->{x}, $_->{x} + $_->{w}] } grep { $_->{n} =~ $re } @frames;
    my ($sum, $end) = (0, -1);
    for (@iv) {
        if ($_->[0] >= $end) { $sum += $_->[1] - $_->[0]; $end = $_->[1] }
        elsif ($_->[1] > $end) { $sum += $_->[1] - $end; $end = $_->[1] }
    }
    return (100 * $sum, scalar @iv, [sort map { $_->{n} } grep { $_->{n} =~ $re } @frames]);
}

my ($t1, $t2, $zoom) = ('price', 'od_stage_(price|record)', 'od_stage_price');
my $out = `timeout 120 node --experimental-websocket t/lib/flame_browser.js $chromium $tmp/cpu.svg '$t1' '$t2' '$zoom' 2>&1`;
my $page = eval { decode_json($out) };
ok($page, 'the browser drove the page') or diag($out);
$page //= {};
is($page->{dialogs}, 2, '  two search prompts: the Search button and Ctrl-F');
is($page->{initial}{matched}, undef, 'before a search: no "Matched"');
is($page->{initial}{search}, 'Search', '  and a "Search" button');

for my $step (['search_button', $t1, 'the Search button'], ['ctrl_f', $t2, 'Ctrl-F']) {
    my ($k, $term, $how) = @$step;
    my ($pct, $n, $names) = matched(qr/$term/);
    my $got = $page->{$k} // {};
    my ($shown) = ($got->{matched} // '') =~ /^Matched: ([\d.]+)%$/;
    ok(defined $shown && abs($shown - $pct) < 0.051, sprintf('%s, "%s": Matched %s%%, the SVG says %.1f%%', $how, $term,
        $shown // '?', $pct)) or diag(explain($got));
    is_deeply([sort @{ $got->{highlighted} // [] }], $names, "  the $n matching frames highlighted, no other");
    is($got->{search}, 'Reset Search', '  the button now resets');
}
# nested matches counted once: od_stage_price holds price_fraud_score, both match "price"
my ($p1) = matched(qr/$t1/);
my $sum = 0;
$sum += 100 * $_->{w} for grep { $_->{n} =~ /$t1/ } @frames;
ok($p1 < $sum - 1, sprintf('  "%s": %.1f%%, less than the matches\' widths summed (%.1f%%)', $t1, $p1, $sum));

my $rs = $page->{reset_search} // {};
ok(!defined $rs->{matched} && !@{ $rs->{highlighted} // [1] } && ($rs->{search} // '') eq 'Search',
   'Reset Search: no highlight, no "Matched", the button says Search') or diag(explain($rs));

# zoom into the widest od_stage_price: its ancestors faded, full width; the rest hidden
my ($z) = sort { $b->{w} <=> $a->{w} } grep { $_->{n} eq $zoom } @frames;
my @anc = sort map { $_->{n} } grep { $_->{d} < $z->{d} && $_->{x} <= $z->{x} + 1e-9 && $_->{x} + $_->{w} >= $z->{x} + $z->{w} - 1e-9 } @frames;
my $zm = $page->{zoom} // {};
is_deeply([sort @{ $zm->{faded} // [] }], \@anc, "zoom into $zoom: its " . scalar(@anc) . ' ancestors faded (' . join(',', @anc) . ')')
    or diag(explain($zm));
ok(($zm->{frame_width} // 0) > 1170, "  $zoom spans the width ($zm->{frame_width} px)") or diag(explain($zm));
ok($zm->{unzoom_shown}, '  "Reset Zoom" shown');
ok(($zm->{hidden} // 0) > 0, "  frames outside it hidden ($zm->{hidden})");
my $rz = $page->{reset_zoom} // {};
ok(!@{ $rz->{faded} // [1] } && !$rz->{hidden} && !$rz->{unzoom_shown}, 'Reset Zoom: nothing faded or hidden, the button gone')
    or diag(explain($rz));
ok(abs(($rz->{frame_width} // 0) - ($page->{initial}{frame_width} // -1)) < 0.01, '  the frame back at its width');

# names as the pprof's: no PID in [vdso], unknown code as [module] of a mapping in the pprof
my @bad = grep { /\[vdso: \d+\]|\+0x[0-9a-f]+$/ } map { $_->{n} } @frames;
is_deeply(\@bad, [], 'no frame named "[vdso: PID]" or "module+0xOFF"');
# the pprof names a mapping by its path in /proc/PID/maps ("[vdso]" as is) and code without
# symbols by that name's base: so must the flame graph
{
    open my $m, '<', '/proc/' . $s->pid . '/maps' or die "maps: $!";
    my %mapped;
    while (<$m>) {
        next unless m{^\S+ \S*x\S* .*?(?:\S*/)?(\S+)$};
        my $name = $1;
        $mapped{ $name =~ /^\[/ ? $name : "[$name]" } = 1;
    }
    my @unmapped = grep { /^\[/ && !$mapped{$_} } map { $_->{n} } @frames;
    is_deeply(\@unmapped, [], 'every "[module]" frame is the base name of an executable mapping')
        or diag(join ' ', sort keys %mapped);
}

kill 'TERM', $load;
waitpid $load, 0;
my ($rc, $log) = $s->stop;
is($rc, 0, 'the server exits cleanly') or diag($log);
done_testing;
