#!/usr/bin/perl
# orderload driving the real orderd: the announcements reach it (GET /scenarios shows the
# running scenario during the run and none after), a profiling schedule entry whose `when`
# tests s.scenario fires during it, and the bundled burst orders are all accepted (202).
# Skipped until build/orderd exists.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes ();

my $B    = $ENV{ORDERD_BUILD} // 'build';
my $LOAD = "$B/orderload";
plan skip_all => "$LOAD or $B/orderd not built" unless -x $LOAD && -x "$B/orderd";
plan skip_all => 'run from the project root' unless -f 'lua/scenarios/burst.lua' && -f 'lua/workers.lua';

my $dir = tempdir(CLEANUP => 1);
my @kill;
END { local $?; kill 'TERM', @kill if @kill; waitpid($_, 0) for @kill }

sub slurp { local $/; open my $f, '<', $_[0] or return ''; return scalar <$f> }

my $port = do {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1) or die;
    my $p = $s->sockport;
    close $s;
    $p;
};
open my $f, '>', "$dir/schedule.lua" or die;
print $f <<'EOF';
return {
  { when = function(s) return s.scenario == "burst" end, capture = "goroutines", cooldown = "60s", label = "burst" },
}
EOF
close $f;
open $f, '>', "$dir/orderd.yaml" or die;
print $f <<"EOF";
listen: 127.0.0.1:$port
profiling:
  schedule: $dir/schedule.lua
  output_dir: $dir/profiles
scenarios: [lua/scenarios/burst.lua]
EOF
close $f;

my $opid = fork // die;
if (!$opid) {
    open STDOUT, '>', "$dir/orderd.out";
    open STDERR, '>', "$dir/orderd.err";
    exec "$B/orderd", '-c', "$dir/orderd.yaml";
    exit 127;
}
push @kill, $opid;
my $http = HTTP::Tiny->new(timeout => 5);
my $base = "http://127.0.0.1:$port";
my $up;
for (1 .. 200) {
    my $r = $http->get("$base/health");
    if ($r->{status} == 200) { $up = 1; last }
    Time::HiRes::sleep(0.05);
}
ok($up, 'orderd starts with the test config') or do { diag(slurp("$dir/orderd.err")); done_testing(); exit };

my $before = decode_json($http->get("$base/scenarios")->{content});
ok(!@{ $before->{running} // [] }, 'no scenario runs before orderload');

my $lpid = fork // die;
if (!$lpid) {
    open STDOUT, '>', "$dir/load.out";
    open STDERR, '>', "$dir/load.err";
    exec $LOAD, '-u', $base, '-d', '3s', '--progress', '0', '--json', "$dir/burst.json", 'burst';
    exit 127;
}
Time::HiRes::sleep(1.5);
my $during = decode_json($http->get("$base/scenarios")->{content});
waitpid($lpid, 0);
my $rc = $? >> 8;
is($rc, 0, 'orderload burst against orderd exits 0') or diag(slurp("$dir/load.err"));
is_deeply($during->{running}, ['burst'], 'GET /scenarios shows burst running during the run');
my $after = decode_json($http->get("$base/scenarios")->{content});
ok(!@{ $after->{running} // [] }, '... and nothing running after its end');

my $j = decode_json(slurp("$dir/burst.json") || '{}');
my $s = $j->{scenarios}{burst};
is($s->{counts}{completed}, 300, 'burst scaled to 3 s: 300 orders completed');
is($s->{status_codes}{202}, 300, '... all accepted with 202');

my @caps;
for (1 .. 40) {
    @caps = glob("$dir/profiles/*-goroutines-burst.*");
    last if @caps;
    Time::HiRes::sleep(0.1);
}
ok(scalar @caps, 'the schedule entry on s.scenario == "burst" captured during the burst') or diag(slurp("$dir/orderd.err"));

done_testing();
