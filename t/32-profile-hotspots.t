#!/usr/bin/perl
# Under load, every kind of profile shows its planted hotspot, read by the real tool without
# the binary: `go tool pprof -symbolize=none -top FILE` names od_stage_price/price_fraud_score
# in the CPU profile, inventory_take/od_stage_reserve in the mutex profile, od_stage_pay in the
# block profile, od_stage_record in the heap profile, and the worker threads in the
# goroutine profile; the trace holds thread names, stage spans with order ids, and flows.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(sleep time);
use Orderd;

my $go = `command -v go 2>/dev/null`;
plan skip_all => 'go (golang-go) is not installed' unless $go;

my $tmp = tempdir('orderd-t32-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $san = Orderd::sanitizer_build(); # no tcmalloc: no heap profile
local $ENV{HOME} = $tmp;                 # go needs a writable home and cache
local $ENV{GOCACHE} = "$tmp/gocache";
local $ENV{PPROF_TMPDIR} = "$tmp/pprof";
# a private copy of the binary: symbols are read from it while the tree may be rebuilt meanwhile
Orderd::private_build($tmp);

my $s = Orderd->start(Orderd::hotspots());

sub fetch {
    my ($path, $file) = @_;
    my $r = HTTP::Tiny->new(timeout => 60)->get($s->base . $path);
    is($r->{status}, 200, "GET $path: 200") or diag($r->{content});
    open my $f, '>:raw', "$tmp/$file" or die $!;
    print $f $r->{content};
    close $f;
    return "$tmp/$file";
}

# the `go tool pprof -top` table's function names, heaviest flat first
sub top {
    my ($file, @opts) = @_;
    my $out = `go tool pprof -symbolize=none -top @opts $file 2>&1`;
    my @names;
    for (split /\n/, $out) {
        push @names, $1 if /^\s*-?[\d.]+\S*\s+-?[\d.]+%\s+-?[\d.]+%\s+-?[\d.]+\S*\s+-?[\d.]+%\s+(\S.*?)\s*$/;
    }
    return ($out, @names);
}

sub names_in_top {
    my ($what, $file, $re, $n, @opts) = @_;
    my ($out, @names) = top($file, @opts);
    ok(@names > 0, "$what: go tool pprof reads it without the binary") or diag($out);
    my @head = grep { defined } @names[0 .. $n - 1];
    ok((grep { /$re/ } @head), "$what: $re among the top $n by flat") or diag($out);
    return $out;
}

my $load = $s->start_load(25, 20000);
sleep 1.5; # the pool is busy, every wait and lock has happened a few times

my $cpu = fetch('/profile/cpu?seconds=3', 'cpu.pb.gz');
names_in_top('cpu', $cpu, qr/^(price_fraud_score|od_stage_price)\b/, 3);

my $mutex = fetch('/profile/mutex', 'mutex.pb.gz');
names_in_top('mutex', $mutex, qr/^(inventory_take|od_stage_reserve)\b/, 2);

my $block = fetch('/profile/block', 'block.pb.gz');
names_in_top('block', $block, qr/^od_stage_pay\b/, 2);

SKIP: {
    skip 'no heap profile in sanitizer builds', 9 if $san;
    my $heap = fetch('/profile/memory', 'heap.pb.gz');
    names_in_top('memory (inuse_space)', $heap, qr/^od_stage_record\b/, 2);
    names_in_top('memory (alloc_space)', $heap, qr/^od_stage_record\b/, 2, '-sample_index=alloc_space');
    my $allocs = fetch('/debug/pprof/allocs', 'allocs.pb.gz');
    my ($aout) = top($allocs);
    like($aout, qr/^Type: alloc_space$/m, '/debug/pprof/allocs defaults to alloc_space, as Go');
}

my $gor = fetch('/profile/goroutines', 'goroutines.pb.gz');
my ($gout) = top($gor, '-nodecount=1000');
like($gout, qr/^Type: goroutine$/m, 'goroutines: the goroutine sample type');
like($gout, qr/\bworker_main\b/, 'goroutines: the worker threads\' stacks (worker_main)');
my $tags = `go tool pprof -tags $gor 2>&1`;
like($tags, qr/worker-0/, 'goroutines: thread names as labels (worker-0)');
like($tags, qr/http-0/, '  (http-0)');
like($tags, qr/state:/, '  and their states');

# the same hotspots through Go's paths
my $gblock = fetch('/debug/pprof/block', 'gblock.pb.gz');
names_in_top('/debug/pprof/block', $gblock, qr/^od_stage_pay\b/, 2);
my $gmutex = fetch('/debug/pprof/mutex?seconds=2', 'gmutex.pb.gz');
names_in_top('/debug/pprof/mutex?seconds=2 (delta)', $gmutex, qr/^(inventory_take|od_stage_reserve)\b/, 2);

# folded and text show the same
my $folded = HTTP::Tiny->new(timeout => 30)->get($s->base . '/profile/mutex?format=folded')->{content};
like($folded, qr/inventory_take \d+$/m, 'mutex folded: stacks ending in inventory_take');
my $text = HTTP::Tiny->new(timeout => 30)->get($s->base . '/profile/block?format=text')->{content};
like($text, qr/od_stage_pay\+0x[0-9a-f]+\s+\S+pipeline\.c:\d+/, 'block text: od_stage_pay with file and line');

# --- the trace ------------------------------------------------------------------------------------
my $trace = HTTP::Tiny->new(timeout => 30)->get($s->base . '/profile/trace?seconds=2');
is($trace->{status}, 200, 'trace: 200');
like($trace->{headers}{'content-type'}, qr{^application/json}, '  JSON');
my $j = eval { JSON::PP->new->decode($trace->{content}) };
ok($j && ref $j->{traceEvents} eq 'ARRAY', '  parses as Chrome Trace Event JSON') or diag($@);
my @ev = @{ $j->{traceEvents} || [] };
my %tname = map { $_->{tid} => $_->{args}{name} } grep { $_->{ph} eq 'M' && $_->{name} eq 'thread_name' } @ev;
ok((grep { /^worker-\d+$/ } values %tname), 'thread_name metadata for the workers');
ok((grep { $_ eq 'http-0' } values %tname), '  and the HTTP thread');
for my $stage (qw(validate reserve price pay record)) {
    my @spans = grep { $_->{ph} eq 'X' && $_->{name} eq $stage } @ev;
    ok(@spans > 0, "spans for the $stage stage");
    ok(!(grep { !defined $_->{args}{order_id} || $_->{args}{order_id} eq '' } @spans), '  each with its order id');
}
ok((grep { $_->{ph} eq 'X' && $_->{name} =~ /^lock wait: inventory/ } @ev), 'lock waits on the inventory stripe');
my %s_ids = map { $_->{id} => $_ } grep { $_->{ph} eq 's' } @ev;
my @f = grep { $_->{ph} eq 'f' } @ev;
ok(@f > 0, 'flow ends (order taken by a worker)');
my @linked = grep { $s_ids{ $_->{id} } } @f;
ok(@linked > 0, 'flows link a start and an end by id');
ok((grep { ($tname{ $s_ids{ $_->{id} }{tid} } // '') =~ /^http-/ && ($tname{ $_->{tid} } // '') =~ /^worker-/ } @linked),
   '  from the HTTP thread to a worker');

kill 'TERM', $load;
waitpid($load, 0);
my ($rc, $log) = $s->stop;
is($rc, 0, 'clean exit after the load') or diag($log);
done_testing;
