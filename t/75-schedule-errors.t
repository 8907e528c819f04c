#!/usr/bin/perl
# Faults: the profiling scheduler survives every kind of script error in a `when(s)`
# function — a non-string error object, error(nil), an endless loop, deep recursion, a
# yield outside a coroutine, a string too large, a garbage-collector hook that fails, a
# memory bomb, a global cache that grows without bound — each logged with its
# schedule.lua:LINE, while the periodic entry and a healthy `when` go on capturing, orders
# go on, and the server stops cleanly.  (t/41-schedule.t covers a plain runtime error.)
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use Orderd qw(order wait_until);

my $dir = tempdir('orderd-t75-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $sched = "$dir/schedule.lua";
open my $f, '>', $sched or die;
print $f <<'LUA';
return {
  { when = function(s) error({ code = 42 }) end, capture = "gc", label = "tableerr" },
  { when = function(s) error(nil) end, capture = "gc", label = "nilerr" },
  { when = function(s) while true do end end, capture = "gc", label = "loop" },
  { when = function(s) local function f(n) return 1 + f(n + 1) end return f(1) end, capture = "gc", label = "recurse" },
  { when = function(s) coroutine.yield(1) end, capture = "gc", label = "yield" },
  { when = function(s) return #string.rep("x", 1 << 40) > 0 end, capture = "gc", label = "huge" },
  { when = function(s)
      setmetatable({}, { __gc = function() error("gc hook fails") end })
      collectgarbage()
      return false
    end, capture = "gc", label = "gchook" },
  { when = function(s) local t = {} for i = 1, 1e9 do t[i] = ("y"):rep((1 << 20) + i) end end, capture = "gc", label = "bomb" },
  { when = function(s) return s.uptime > 0 end, capture = "goroutines", cooldown = "2s", label = "healthy" },
  { every = "1s", capture = "gc", label = "tick" },
}
LUA
close $f;
my $out = "$dir/out";
my $s = Orderd->start(yaml => "profiling:\n  schedule: $sched\n  output_dir: $out\n  keep: { files: 1000, bytes: 1GiB }\n");

my %err_line = (tableerr => 2, nilerr => 3, loop => 4, recurse => 5, yield => 6, huge => 7, bomb => 13);
ok wait_until(20, sub { my $l = $s->log_text; !grep { $l !~ /schedule\.lua:$err_line{$_}: schedule: when\(s\) failed/ } keys %err_line }),
    'every failing when(s) is logged with its schedule.lua:LINE'
    or diag $s->log_text;
my $log = $s->log_text;
like $log, qr/schedule\.lua:2: schedule: when\(s\) failed: .*error object is a table/, 'a table error object is named as such';
like $log, qr/schedule\.lua:3: schedule: when\(s\) failed: .*nil/, 'error(nil) too';
like $log, qr/schedule\.lua:4: schedule: when\(s\) failed: .*budget|instructions/i, 'the endless loop hits the instruction budget';
like $log, qr/schedule\.lua:5: schedule: when\(s\) failed: .*(stack overflow|budget|memory)/i, 'deep recursion: a stack overflow, the budget or the memory limit';
like $log, qr/schedule\.lua:6: schedule: when\(s\) failed: .*yield/, 'a yield outside a coroutine';
like $log, qr/schedule\.lua:7: schedule: when\(s\) failed: .*(too large|memory)/, 'a string too large';
like $log, qr/schedule\.lua:13: schedule: when\(s\) failed: .*memory/, 'the memory bomb hits the memory limit';

# the rest goes on: periodic captures, the healthy when(s), orders
sleep 1;
my $marker = length $s->log_text;
ok wait_until(12, sub {
    my $new = substr($s->log_text, $marker);
    $new =~ /schedule\.lua:14: schedule: when\(s\) is true/ && captures($out, qr/-gc-tick\.json$/) >= 4;
}), 'periodic and healthy when(s) captures go on after all those errors' or diag substr($s->log_text, $marker);
my $n = captures($out, qr/-gc-tick\.json$/);
ok wait_until(4, sub { captures($out, qr/-gc-tick\.json$/) > $n }), 'the periodic entry keeps capturing';
ok !captures($out, qr/-(tableerr|nilerr|loop|recurse|yield|huge|gchook|bomb)\./), 'no failing entry captured anything';
is $s->get('/health')->{status}, 200, 'healthy';
is $s->post_json('/orders', order())->{status}, 202, 'orders are taken';
my ($rc, $final) = $s->stop;
is $rc, 0, 'clean exit with the scheduler running';
unlike $final, qr/panic|fatal|abort/i, 'no panic, no fatal error';

# a global cache that grows by 4 MiB a call: it fills the schedule's state (32 MiB) and fails;
# the healthy when(s) and the periodic entry go on after that
open $f, '>', $sched or die;
print $f <<'LUA';
return {
  { when = function(s)
      cache = cache or {}
      cache[#cache + 1] = ("z"):rep((4 << 20) + #cache)
      return false
    end, capture = "gc", label = "grow" },
  { when = function(s) return s.uptime > 0 end, capture = "goroutines", cooldown = "2s", label = "healthy" },
  { every = "1s", capture = "gc", label = "tick" },
}
LUA
close $f;
$out = "$dir/out2";
$s = Orderd->start(yaml => "profiling:\n  schedule: $sched\n  output_dir: $out\n  keep: { files: 1000, bytes: 1GiB }\n");
ok wait_until(30, sub { $s->log_text =~ /schedule\.lua:2: schedule: when\(s\) failed: .*memory/ }),
    'the growing global cache hits the memory bound' or diag $s->log_text;
my $after_grow = length $s->log_text;
ok wait_until(8, sub { substr($s->log_text, $after_grow) =~ /schedule\.lua:7: schedule: when\(s\) is true/ }),
    'and the healthy when(s) still fires after that'
    or diag substr($s->log_text, $after_grow);
$n = captures($out, qr/-gc-tick\.json$/);
ok wait_until(4, sub { captures($out, qr/-gc-tick\.json$/) > $n }), 'the periodic entry keeps capturing';
($rc, $final) = $s->stop;
is $rc, 0, 'clean exit';
done_testing;

sub captures { my ($d, $re) = @_; opendir my $h, $d or return 0; return scalar grep { $_ =~ $re } readdir $h }
