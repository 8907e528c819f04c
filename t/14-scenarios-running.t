# The scenario announcements as a real server keeps them (POST /scenarios/{name}/start and
# /end, GET /scenarios "running"): overlap, a name started twice, a name ended that was never
# started, more names than are held (the oldest forgotten), bad names and actions; and the
# current scenario as the profiling schedule's `when` sees it (s.scenario) follows them.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Orderd qw(json_decode wait_until);

my $dir = tempdir(CLEANUP => 1);
my $sched = "$dir/schedule.lua";
# one entry whose when(s) logs the scenario it sees at every tick, and never fires
open my $f, '>', $sched or die;
print $f <<'LUA';
return { { when = function(s) orderd.log("sees [" .. s.scenario .. "]") return false end,
           capture = "gc" } }
LUA
close $f;
my $s = Orderd->start(yaml => "profiling:\n  schedule: $sched\n  output_dir: $dir/out\n");

sub announce {
    my ($name, $what) = @_;
    my $r = $s->post_json("/scenarios/$name/$what", '');
    return ($r->{status}, json_decode($r->{content}));
}
sub running { $s->get_json('/scenarios')->{running} }
# the scenario when(s) sees at the second tick from now (the first may have begun before)
sub sees {
    my $want = shift;
    my $mark = length $s->log_text;
    my $got = '(no tick)';
    wait_until(10, sub {
        my @seen = substr($s->log_text, $mark) =~ /sees \[([^\]]*)\]/g;
        return 0 if @seen < 2;
        $got = $seen[1];
        return 1;
    });
    diag "when(s) saw [$got], not [$want]" if $got ne $want;
    return $got eq $want;
}

is_deeply running(), [], 'nothing running at first';
ok sees(''), 'the schedule sees no scenario';

my ($st, $j) = announce('a', 'start');
is $st, 200, 'start answers 200';
is_deeply $j, { scenario => 'a', state => 'running' }, 'and says the scenario is running';
is_deeply running(), ['a'], 'GET /scenarios lists it';
ok sees('a'), 'the schedule sees it';

announce('a', 'start');
is_deeply running(), ['a'], 'a second start of a running name keeps one copy';

announce('b', 'start');
is_deeply running(), ['a', 'b'], 'an overlapping scenario is listed after the first';
ok sees('b'), 'the schedule sees the later one';
announce('a', 'end');
is_deeply running(), ['b'], 'ending the first leaves the second';
announce('c', 'start');
is_deeply running(), ['c', 'b'], 'a new name takes the freed slot first';
ok sees('b'), 'so the schedule still sees the one in the later slot';
announce($_, 'end') for qw(b c);
is_deeply running(), [], 'all ended';

($st, $j) = announce('never', 'end');
is $st, 200, 'ending a name never started answers 200';
is_deeply $j, { scenario => 'never', state => 'ended' }, 'and says it ended';
is_deeply running(), [], 'and changes nothing';

announce("s$_", 'start') for 1 .. 9;
is_deeply running(), [map { "s$_" } 2 .. 9], 'eight are held: the ninth forgets the oldest';
ok sees('s9'), 'the schedule sees the latest';
announce("s$_", 'end') for 1 .. 9;
is_deeply running(), [], 'all ended again';

is $s->post_json('/scenarios/bad.name/start', '')->{status}, 400, 'a bad name is refused';
is $s->post_json('/scenarios/' . ('x' x 65) . '/start', '')->{status}, 400, 'so is a name over 64 bytes';
is $s->post_json('/scenarios/a/pause', '')->{status}, 404, 'an unknown action is not found';
is $s->post_json('/scenarios/a', '')->{status}, 404, 'so is a missing one';
is_deeply running(), [], 'none of them started anything';

$s->stop;
done_testing;
