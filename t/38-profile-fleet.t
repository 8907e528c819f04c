#!/usr/bin/perl
# Continuous profiling of a fleet: the Grafana Alloy (pyroscope.scrape) and Parca scrape
# configs in GUIDE.md section 7 are read from the guide itself; every path they enable is
# fetched from a loaded server with the parameters the collector sends (a delta profile's
# seconds: scrape_interval - 1 s for Alloy, scrape_interval for Parca), and each answer is
# decoded by an independent decoder, npm's pprof-format (the one of Datadog's and Pyroscope's
# Node profilers), and checked as a profile store needs it (t/lib/pprof_check.cjs).
#
# pprof-format is installed here, once, into build/npm (never committed); the test skips
# only if node or npm is not installed.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use CPAN::Meta::YAML;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(sleep time);
use Orderd;

my $have = sub { system("command -v $_[0] >/dev/null 2>&1") == 0 };
plan skip_all => 'node is not installed (nodejs)' unless $have->('node');
plan skip_all => 'npm is not installed' unless $have->('npm');

# --- the decoder: npm's pprof-format, pinned, installed once ----------------------------------
my $npm_dir = 'build/npm';
my $modules = "$npm_dir/node_modules";
unless (-f "$modules/pprof-format/package.json") {
    system('mkdir', '-p', $npm_dir);
    my $log = `npm install --no-save --no-audit --no-fund --prefix $npm_dir pprof-format\@2.3.2 2>&1`;
    diag("npm install pprof-format failed:\n$log") if $? != 0;
}
ok(-f "$modules/pprof-format/package.json", "npm's pprof-format is installed in $npm_dir") or do { done_testing; exit 1 };

# --- the configs, from the guide --------------------------------------------------------------
open my $g, '<', 'GUIDE.md' or die "GUIDE.md: $!";
my $guide = do { local $/; <$g> };
my ($section) = $guide =~ /^## 7\. Continuous profiling of a fleet\n(.*?)(?=^## |\z)/ms;
ok($section, 'GUIDE.md has section 7, continuous profiling') or do { done_testing; exit 1 };
my ($alloy) = $section =~ /^```alloy\n(.*?)^```/ms;
my ($parca) = $section =~ /^```yaml\n(# parca\.yaml.*?)^```/ms;
ok($alloy && $alloy =~ /pyroscope\.scrape "orderd"/, 'an Alloy pyroscope.scrape config') or diag($section);
ok($parca, 'a Parca config (parca.yaml)') or diag($section);

# Alloy: scrape_interval and each profile.NAME block (enabled, path, delta)
my @fetch;    # [collector, kind, path, seconds or undef]
{
    my ($interval) = ($alloy // '') =~ /^\s*scrape_interval\s*=\s*"(\d+)s"/m;
    ok($interval && $interval >= 2, "Alloy: scrape_interval ${\($interval // '?')}s");
    my $n = 0;
    while (($alloy // '') =~ /^\s*profile\.(\w+)\s*\{\n(.*?)^\s*\}/msg) {
        my ($kind, $body) = ($1, $2);
        next unless $body =~ /^\s*enabled\s*=\s*true/m;
        my ($path) = $body =~ /^\s*path\s*=\s*"([^"]+)"/m;
        my $delta = $body =~ /^\s*delta\s*=\s*true/m;
        push @fetch, ['alloy', $kind, $path, $delta ? $interval - 1 : undef];
        $n++;
    }
    is($n, 5, 'Alloy: five profiles enabled (process_cpu, memory, goroutine, block, mutex)');
}
# Parca: YAML, every enabled pprof_config entry of the orderd job
{
    my $y = eval { CPAN::Meta::YAML->read_string($parca // '')->[0] };
    ok($y, 'parca.yaml parses') or diag($@);
    my ($job) = grep { ($_->{job_name} // '') eq 'orderd' } @{ $y->{scrape_configs} // [] };
    my ($interval) = ($job->{scrape_interval} // '') =~ /^(\d+)s$/;
    ok($interval, "Parca: scrape_interval ${\($interval // '?')}s");
    ok(@{ $job->{static_configs}[0]{targets} // [] } == 2, 'Parca: two targets');
    my $pc = $job->{profiling_config}{pprof_config} // {};
    my $n = 0;
    for my $kind (sort keys %$pc) {
        next unless ($pc->{$kind}{enabled} // '') eq 'true';
        push @fetch, ['parca', $kind, $pc->{$kind}{path}, ($pc->{$kind}{delta} // '') eq 'true' ? $interval : undef];
        $n++;
    }
    is($n, 5, 'Parca: five profiles enabled');
}

# --- fetch each, as the collector would, from a loaded server ---------------------------------
my $tmp = tempdir('orderd-t38-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $s = Orderd->start(Orderd::hotspots());
my $load = $s->start_load(60, 60000);
sleep 1;
my $http = HTTP::Tiny->new(timeout => 60, agent => 'Go-http-client/1.1');
my (@files, %want);
my $san = Orderd::sanitizer_build(); # no tcmalloc there: no memory profile to fetch
for my $f (@fetch) {
    my ($who, $kind, $path, $sec) = @$f;
    if ($san && $kind eq 'memory') {
        SKIP: { skip "$who $kind: no heap profile in sanitizer builds", 1 }
        next;
    }
    my $url = $s->base . $path . (defined $sec ? "?seconds=$sec" : '');
    my $t0 = time;
    my $r = $http->get($url, { headers => { 'Accept-Encoding' => 'gzip' } });
    my $took = time - $t0;
    my $what = "$who $kind: GET $path" . (defined $sec ? "?seconds=$sec" : '');
    is($r->{status}, 200, "$what: 200") or diag($r->{content});
    ok(!defined $sec || $took >= $sec - 0.5, sprintf('  a %ss window, answered after %.1f s', $sec, $took)) if defined $sec;
    my $file = "$tmp/$who-$kind.pb.gz";
    open my $o, '>:raw', $file or die $!;
    print $o $r->{content} // '';
    close $o;
    push @files, $file;
    $want{$file} = [$what, $kind, $sec];
}
kill 'TERM', $load;
waitpid $load, 0;

# --- decoded by pprof-format ----------------------------------------------------------------------
my %types = (process_cpu => qr{^cpu/nanoseconds$}, memory => qr{^alloc_space/bytes$}, goroutine => qr{^goroutine/count$},
             block => qr{^delay/nanoseconds$}, mutex => qr{^delay/nanoseconds$});
my %funcs = (process_cpu => qr/^(od_stage_price|price_fraud_score)$/, memory => qr/^od_stage_record$/,
             goroutine => qr/^worker_main$/, block => qr/^od_stage_pay$/, mutex => qr/^(inventory_take|od_stage_reserve)$/);
local $ENV{NODE_PATH} = $modules;
my $out = `node t/lib/pprof_check.cjs @files 2>&1`;
my %got = map { my $j = eval { decode_json($_) }; $j ? ($j->{file} => $j) : () } split /\n/, $out;
for my $file (@files) {
    my ($what, $kind, $sec) = @{ $want{$file} };
    my $p = $got{$file};
    ok($p && $p->{ok}, "$what: a valid pprof to pprof-format") or diag($p ? join("\n", @{ $p->{errors} }) : $out);
    $p //= { sample_types => [], functions_named => [] };
    ok((grep { $_ =~ $types{$kind} } @{ $p->{sample_types} }), "  sample types @{ $p->{sample_types} }");
    ok(($p->{samples} // 0) > 0 && (grep { $_ =~ $funcs{$kind} } @{ $p->{functions_named} }),
        "  $p->{samples} samples, symbolized ($funcs{$kind} among the functions)") or diag(explain($p));
    ok(abs(($p->{duration_ns} // 0) / 1e9 - $sec) < 1.5, sprintf('  duration %.2f s', ($p->{duration_ns} // 0) / 1e9))
        if defined $sec;
}

# the decoder can fail: a text form is no pprof to it
my $txt = "$tmp/text.txt";
open my $t, '>', $txt or die $!;
print $t $http->get($s->base . '/debug/pprof/block?debug=1')->{content};
close $t;
my $bad = eval { decode_json(`node t/lib/pprof_check.cjs $txt 2>&1`) } // {};
ok(defined $bad->{ok} && !$bad->{ok}, "a text form is refused by pprof-format (@{ $bad->{errors} // [] })");

my ($rc, $log) = $s->stop;
is($rc, 0, 'the server exits cleanly') or diag($log);
done_testing;
