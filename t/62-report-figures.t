#!/usr/bin/perl
# scripts/report.py's figures on real profiles of a real server, without the whole demo: a
# pool that keeps 64 KiB per order and one that also leaks 64 KiB per order, the heap profile
# of each after 300 orders, put in a run directory as start_profiling.sh lays it out.  The
# report must call od_stage_record the top in-use site in both, give the leak hint only for
# the leaking pool, say what the run config changes (computed, not assumed), print pprof's
# sizes in human units, and name the CPU engine from GET /profile.  About 30 s; skipped under the
# sanitizer suites (their builds have no tcmalloc, so no heap profile).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Path qw(make_path);
use JSON::PP;
use Orderd qw(order wait_until);

plan skip_all => 'the sanitizer builds have no heap profile (no tcmalloc)' if Orderd::sanitizer_build();
plan skip_all => 'go tool pprof is not installed' if system('command -v go >/dev/null 2>&1') != 0;
my $py = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';

sub slurp { my $p = shift; open my $f, '<', $p or return undef; local $/; scalar <$f> }
sub spit  { my ($p, $t) = @_; open my $f, '>', $p or die "$p: $!"; print $f $t; close $f }

# one server per pool: N orders, then its heap profile, /stats and /profile in a run directory
sub run_with {
    my ($name, $record) = @_;
    my $s = Orderd->start(workers => "return { workers = 2, price = { work_us = 0 }, pay = { ms_per_priority = 0 }, "
                                     . "reserve = { hold_us = 0 }, record = $record }",
                          raw_yaml => "listen: 127.0.0.1:PORT\nscenarios: []\npool:\n  script: DIR/workers.lua\n  results_kept: 100\n"
                                    . "profiling:\n  schedule: \"\"\n  heap_sample_bytes: 65536\n  output_dir: DIR/profiles\n");
    my $n = 300;
    my $ok = 0;
    for my $i (1 .. $n) { $ok++ if $s->post_json('/orders', order(id => "$name-$i", amount => 50))->{status} == 202 }
    is($ok, $n, "$name: $n orders accepted");
    ok(wait_until(30, sub { ($s->get_json('/stats') || {})->{total_processed} == $n }), "$name: ... and processed");
    my $run = $s->dir . "/run";
    make_path("$run/profiles");
    my $r = $s->get('/profile/memory');
    is($r->{status}, 200, "$name: GET /profile/memory");
    spit("$run/profiles/memory.pb.gz", $r->{content});
    spit("$run/stats.json", $s->get('/stats')->{content});
    spit("$run/profile.json", $s->get('/profile')->{content});
    spit("$run/profiles/goroutines.txt", $s->get('/profile/goroutines?format=text')->{content});
    # the run config: the server's own, the default config beside it (as the demo's is)
    my $yaml = slurp($s->dir . "/orderd.yaml");
    spit("$run/orderd.yaml", $yaml);
    (my $default = $yaml) =~ s/^listen:.*$/listen: 127.0.0.1:8080/m;
    spit("$run/default.yaml", $default);
    spit("$run/run.json", encode_json({ root => $s->dir, config => "run/default.yaml", quick => JSON::PP::false }));
    $s->stop;
    my $out = `$py scripts/report.py $run 2>&1`;
    my $fig = eval { decode_json(slurp("$run/summary.json") // '') } // {};
    ok($fig->{memory}, "$name: report.py wrote summary.json") or diag($out);
    return ($fig, slurp("$run/index.html") // '', $out, $s->port);
}

my ($kept, $khtml, $kout, $kport) = run_with('kept', '{ alloc_bytes = 65536 }');
my $km = $kept->{memory} // {};
is($km->{top_site}, 'od_stage_record', 'kept: od_stage_record is the top in-use site');
is($km->{records}, 100, 'kept: results_kept (100) bounds the records explained');
ok($km->{held_bytes} > 0.7 * $km->{explained_bytes} && $km->{held_bytes} < 1.3 * $km->{explained_bytes},
   sprintf('kept: in use %.1f MiB against the %.1f MiB results_kept x alloc_bytes explains', $km->{held_bytes} / 2**20,
           $km->{explained_bytes} / 2**20));
ok(!$km->{leak_hint}, 'kept: no leak hint');
unlike($khtml, qr/a leak\?/, '... and the card says none');

# the threads: the capture's own thread (prof-job-N) and the profiler's idle ones are not the server's
my $kt = $kept->{threads} // {};
is($kt->{workers}, 2, 'threads: the 2 workers');
is($kt->{server}, 3, '... of the server\'s 3 threads (2 workers, http-0): the profiler\'s are left out');
ok(($kt->{profiler} // 0) >= 1, "... which are counted apart ($kt->{profiler})");
my $prow = () = $khtml =~ /<b>the profiler's:<\/b> [^<]*prof-job-\d/g;
is($prow, 1, '... and shown as one row, with the capture\'s prof-job thread');

my ($leak, $lhtml) = run_with('leak', '{ alloc_bytes = 65536, leak_bytes = 65536 }');
my $lm = $leak->{memory} // {};
is($lm->{top_site}, 'od_stage_record', 'leak: od_stage_record is the top in-use site');
ok($lm->{held_bytes} > 2 * $lm->{explained_bytes},
   sprintf('leak: in use %.1f MiB, more than twice the %.1f MiB explained', $lm->{held_bytes} / 2**20, $lm->{explained_bytes} / 2**20));
ok($lm->{leak_hint}, 'leak: the leak hint is given');
like($lhtml, qr/a leak\?/, '... on the memory card');

# the rest of what the report says about a run, computed
like($khtml, qr/<td class="l"><code>listen<\/code><\/td><td class="l">127\.0\.0\.1:8080<\/td><td class="l">127\.0\.0\.1:$kport<\/td>/,
     'the run config table lists listen, default and this run');
like($kout, qr/run config: run\/default\.yaml with listen=127\.0\.0\.1:$kport$/m, '... and so does the summary, nothing else');
unlike($khtml, qr/\d(?:kB|MB|GB)\b/, 'no pprof kB/MB in the page: KiB and MiB');
like($khtml, qr/\d MiB/, '... MiB there are');
my $eng = $kept->{cpu}{engine} // '';
ok($eng eq 'itimer (gperftools)' || $kept->{cpu}{engine_reported}, "the CPU engine is named ($eng), from GET /profile when it says");

done_testing();
