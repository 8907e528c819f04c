# lua/schedule.lua: timed, periodic and triggered captures written to the output directory
# with a manifest; a broken entry is logged with its line and the rest run; GET /profiles and
# downloads; path traversal refused; retention; an unwritable directory; --check.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use Orderd qw(build_dir json_decode wait_until);

my $bin = build_dir() . '/orderd';
my $dir = tempdir(CLEANUP => 1);
sub put { my ($name, $text) = @_; open my $f, '>', "$dir/$name" or die; print $f $text; close $f; "$dir/$name" }
sub run { my $out = `@_ 2>&1`; return ($? >> 8, $out) }
sub slurp { my $p = shift; open my $f, '<', $p or return undef; binmode $f; local $/; <$f> }
sub manifest {
    my $d = shift;
    my $t = slurp("$d/manifest.jsonl") // '';
    return [map { json_decode($_) } grep { length } split /\n/, $t];
}
sub captures { my $d = shift; opendir my $h, $d or return (); return sort grep { !/^\./ && $_ ne 'manifest.jsonl' } readdir $h }

# --- a schedule with each kind of entry, and a broken one --------------------------------------
my $out = "$dir/out";
my $sched = put('schedule.lua', <<'LUA');
return {
  { at = "1s", capture = "goroutines", label = "warm" },
  { every = "2s", capture = "gc" },
  { when = function(s)
      return s.scenario == "probe" and s.queue_fill >= 0 and s.p99_ms >= 0
    end,
    capture = { "cpu", "mutex" }, seconds = 1, cooldown = "1h", label = "probe" },
  { when = function(s)
      return s.no_such_field.x > 1
    end,
    capture = "memory", label = "never" },
  { at = 2, capture = "block", format = "text", label = "waits" },
}
LUA
my $s = Orderd->start(yaml => "profiling:\n  schedule: $sched\n  output_dir: $out\n  keep: { files: 100, bytes: 64MiB }\n");

is $s->post_json('/scenarios/probe/start', '')->{status}, 200, 'a scenario is announced';
ok wait_until(15, sub {
    my @c = captures($out);
    (grep { /-goroutines-warm\.pb\.gz$/ } @c) && (grep { /-gc\.json$/ } @c) >= 2 && (grep { /-cpu-probe\.pb\.gz$/ } @c)
        && (grep { /-mutex-probe\.pb\.gz$/ } @c) && (grep { /-block-waits\.txt$/ } @c)
}), 'timed, periodic and triggered captures appear' or diag join ' ', captures($out);
$s->post_json('/scenarios/probe/end', '');
sleep 0.3;

my @files = captures($out);
my $m = manifest($out);
like $_, qr/^\d{8}-\d{6}-(goroutines|gc|cpu|mutex|block)(-[a-z]+)?(-\d+)?\.(pb\.gz|json|txt)$/, "name $_" for @files;
is_deeply [sort map { $_->{name} } @$m], [@files], 'the manifest lists exactly the files';
my $bad = 0;
for my $e (@$m) {
    $bad++ unless -s "$out/$e->{name}" == $e->{bytes};
    $bad++ unless $e->{started_at} =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    $bad++ unless $e->{entry} eq "$sched:$e->{line}";
}
is $bad, 0, 'bytes, started_at and entry match for every line';
my %by = map { ("$_->{kind}-$_->{label}" => $_) } @$m;
is $by{'goroutines-warm'}{trigger}, 'at', 'goroutines: trigger at';
is $by{'goroutines-warm'}{line}, 2, 'goroutines: entry line 2';
is $by{'gc-'}{trigger}, 'every', 'gc: trigger every';
is $by{'gc-'}{line}, 3, 'gc: entry line 3';
is $by{'cpu-probe'}{trigger}, 'when', 'cpu: trigger when';
is $by{'cpu-probe'}{line}, 4, 'cpu: entry line 4';
is $by{'cpu-probe'}{seconds}, 1, 'cpu: a 1 s window';
is $by{'mutex-probe'}{trigger}, 'when', 'mutex captured with it';
is $by{'block-waits'}{format}, 'text', 'format = "text"';
is scalar(grep { $_->{kind} eq 'cpu' } @$m), 1, 'the cooldown keeps the trigger from firing again';
ok !grep({ $_->{label} eq 'never' } @$m), 'the broken entry captured nothing';
like $s->log_text, qr/\Q$sched\E:8: schedule: when\(s\) failed: \Q$sched\E:9: attempt to index a nil value/,
    'the broken entry is logged with schedule.lua:LINE';
my $gz = slurp("$out/$by{'cpu-probe'}{name}");
is substr($gz, 0, 2), "\x1f\x8b", 'the CPU capture is gzipped pprof';
like slurp("$out/$by{'block-waits'}{name}"), qr/^--- contention:/, 'the text block profile reads as text';

# --- GET /profiles ------------------------------------------------------------------------------
my $r = $s->get('/profiles');
is $r->{status}, 200, 'GET /profiles';
my $list = json_decode($r->{content});
is ref $list, 'ARRAY', 'a JSON list';
ok scalar(@$list) >= scalar(@$m), 'with every manifest line';
is $list->[0]{url}, "/profiles/$list->[0]{name}", 'each with its URL';
$r = $s->get("/profiles/$by{'cpu-probe'}{name}");
is $r->{status}, 200, 'a download';
is $r->{content}, $gz, 'the same bytes';
like $r->{headers}{'content-disposition'}, qr/attachment; filename="\Q$by{'cpu-probe'}{name}\E"/, 'Content-Disposition';
$r = $s->get("/profiles/$by{'gc-'}{name}");
like $r->{headers}{'content-type'}, qr{application/json}, 'the content type follows the kind';

for my $evil ('/profiles/..', '/profiles/../orderd.yaml', '/profiles/..%2Forderd.yaml', '/profiles/%2e%2e%2forderd.yaml',
              '/profiles/a%00b', '/profiles/.manifest.jsonl.tmp', '/profiles/x/y', '/profiles/%2Fetc%2Fpasswd') {
    my $c = $s->get($evil)->{status};
    ok $c == 400 || $c == 404, "$evil refused ($c)";
}
is $s->get('/profiles/manifest.jsonl')->{status}, 404, 'only listed captures are served';
is $s->get('/profiles/20990101-000000-cpu.pb.gz')->{status}, 404, 'an unknown capture is 404';
is $s->get('/health')->{status}, 200, 'healthy throughout';
my ($rc, $log) = $s->stop;
is $rc, 0, 'clean shutdown with the scheduler running' or diag $log;

# --- retention: keep 3 files -------------------------------------------------------------------
my $rout = "$dir/retained";
my $rs = put('retain.lua', "return { { every = '1s', capture = 'gc', label = 'r' } }\n");
$s = Orderd->start(yaml => "profiling:\n  schedule: $rs\n  output_dir: $rout\n  keep: { files: 3, bytes: 64MiB }\n");
ok wait_until(12, sub { $s->log_text =~ /pruned .*pruned/s }), 'older captures are pruned';
sleep 0.2;
my @kept = captures($rout);
ok @kept <= 3 && @kept >= 2, 'at most 3 files kept (' . scalar(@kept) . ')';
is_deeply [sort map { $_->{name} } @{ manifest($rout) }], [@kept], 'the manifest follows the pruning';
$s->stop;
# bytes: a gc capture is ~600 bytes; 2 KiB keep 3 at most
$s = Orderd->start(yaml => "profiling:\n  schedule: $rs\n  output_dir: $rout\n  keep: { files: 100, bytes: 2KiB }\n");
ok wait_until(8, sub { my $t = 0; $t += $_->{bytes} for @{ manifest($rout) }; @{ manifest($rout) } >= 2 && $s->log_text =~ /pruned/ }),
    'byte retention prunes too';
my $total = 0;
$total += -s "$rout/$_" for captures($rout);
ok $total <= 2048, "the files stay within 2 KiB ($total bytes)";
$s->stop;

# --- a when(s) whose globals grow without bound: the state is rebuilt, the others go on -------
my $gs = put('grow.lua', <<'LUA');
return {
  { when = function(s)
      hoard = hoard or {}
      hoard[#hoard + 1] = string.rep("h", 6 * 1024 * 1024) .. #hoard
      return false
    end, capture = "gc", label = "grow" },
  { when = function(s) return true end, capture = "gc", cooldown = "1s", label = "ok" },
}
LUA
my $gout = "$dir/grown";
$s = Orderd->start(yaml => "profiling:\n  schedule: $gs\n  output_dir: $gout\n");
ok wait_until(15, sub { $s->log_text =~ /\Q$gs\E:2: schedule: when\(s\) failed: when\(s\) exceeded its memory limit/ }),
    'the hoarding entry fails with the memory error and its line';
ok wait_until(5, sub { $s->log_text =~ /what the script keeps \(globals\) fills .* reloading the script into a new state/ }),
    'the state is rebuilt';
my $mark = length $s->log_text;
ok wait_until(6, sub { substr($s->log_text, $mark) =~ /\Q$gs\E:7: wrote/ }), 'and the other when(s) goes on capturing';
$s->stop;

# --- an unwritable directory: logged with the entry's line, the server carries on ---------------
put('afile', "not a directory\n");
my $us = put('unwritable.lua', "return {\n  { every = '1s', capture = 'gc' },\n}\n");
$s = Orderd->start(yaml => "profiling:\n  schedule: $us\n  output_dir: $dir/afile/sub\n");
ok wait_until(8, sub { $s->log_text =~ /\Q$us\E:2: schedule: cannot create \Q$dir\E\/afile\/sub: Not a directory/ }),
    'an unwritable directory is logged with schedule.lua:LINE' or diag $s->log_text;
is $s->get('/health')->{status}, 200, 'and the server is healthy';
like $s->get('/profiles')->{content}, qr/^\[\]\s*$/, 'GET /profiles is an empty list';
$s->stop;

# --- --check ----------------------------------------------------------------------------------
my $w = put('w.lua', "return { workers = 1 }\n");
sub check_schedule {
    my ($text) = @_;
    my $p = put('check.lua', $text);
    my $y = put('check.yaml', "listen: 127.0.0.1:1\npool: { script: $w }\nscenarios: []\n"
                            . "profiling: { schedule: $p, max_seconds: 60 }\n");
    my ($code, $o) = run("$bin -c $y --check");
    return ($code, $o, $p);
}
my ($code, $o, $p) = check_schedule("return {\n  { at = '10s', capture = 'cpu' },\n  { every = 60, capture = { 'memory', 'goroutines' } },\n}\n");
is $code, 0, 'a good schedule passes' or diag $o;
($code, $o, $p) = check_schedule(<<'LUA');
return {
  { at = "10s", capture = "cpu" },
  { every = "soon",
    capture = "heapz" },
  { when = "queue > 0.8", capture = "cpu" },
  { capture = "cpu" },
  { every = "1m" },
  {
    at = "5s",
    capture = { "cpu", "trace" },
    seconds = 600,
    colour = "red",
    label = "bad label",
  },
  { at = "1s", every = "2s", capture = "gc", cooldown = "5s" },
}
LUA
is $code, 2, 'a broken schedule: exit 2';
like $o, qr/\Q$p\E:3: entry 2: every must be a duration/, 'a bad duration with FILE:LINE';
like $o, qr/\Q$p\E:4: entry 2: capture names an unknown kind "heapz" \(known: cpu, memory/, 'an unknown kind on its own line';
like $o, qr/\Q$p\E:5: entry 3: when must be a function/, 'when not a function';
like $o, qr/\Q$p\E:6: entry 4: needs one of at \(once\), every \(periodic\) or when/, 'a missing trigger';
like $o, qr/\Q$p\E:7: entry 5: needs capture/, 'a missing capture';
like $o, qr/\Q$p\E:11: entry 6: seconds must be from 1 to 60/, 'seconds beyond max_seconds';
like $o, qr/\Q$p\E:12: entry 6: unknown key "colour"/, 'an unknown key';
like $o, qr/\Q$p\E:13: entry 6: label must be/, 'a bad label';
like $o, qr/\Q$p\E:15: entry 7: takes only one of at, every and when/, 'two triggers';
like $o, qr/\Q$p\E:15: entry 7: cooldown applies to when entries only/, 'cooldown without when';
($code, $o, $p) = check_schedule("return {\n  { at = '1s', capture = 'cpu' }\n  { at = '2s' },\n}\n");
like $o, qr/\Q$p\E:3: .*'}' expected \(to close '\{' at line 1\)/, 'a syntax error with FILE:LINE';
($code, $o, $p) = check_schedule("return { cpu = { at = '1s' } }\n");
like $o, qr/\Q$p\E:1: the schedule is a list of entries/, 'a map is not a list';
($code, $o, $p) = check_schedule("return 'cpu'\n");
like $o, qr/\Q$p\E:1: the schedule must return a list of captures/, 'not a table';
($code, $o) = run("$bin -c config/orderd.yaml --check");
is $code, 0, 'the shipped schedule passes --check' or diag $o;

done_testing;
