# Drain feedback: a deep queue of slow orders, then SIGTERM: a progress line every second; a
# second SIGTERM (or SIGINT) prints what remains and how to abandon it; SIGQUIT exits 3 and
# writes exactly the unprocessed ids to the file it named.  SIGQUIT while serving drains
# gracefully (nothing lost).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use Orderd qw(order wait_until);

my $slow = "return { workers = 1, queue = 1000, reserve = { hold_us = 0 }, price = { work_us = 0 }, "
         . "pay = { ms_per_priority = 0, fixed_ms = 20 } }";

{
    my $s = Orderd->start(workers => $slow);
    my $n = 300;    # 6 s of work for the one worker
    my @codes = $s->post_many('/orders', map { order(id => "q$_", priority => 2) } 1 .. $n);
    is scalar(grep { $_ == 202 } @codes), $n, "$n slow orders accepted";

    kill 'TERM', $s->pid;
    my @progress;
    ok wait_until(15, sub { @progress = $s->log_text =~ /^orderd: info: draining: (\d+) queued, (\d+) in flight, (\d+) done so far$/mg; @progress >= 6 }),
        'two progress lines within a few seconds' or diag $s->log_text;
    my ($q1, $f1, $d1, $q2, $f2, $d2) = @progress;
    ok $q1 > $q2 && $d2 > $d1, "the queue shrinks ($q1 -> $q2) and done grows ($d1 -> $d2)";
    ok $f1 <= 1 && $f2 <= 1, 'in flight: at most the one worker';
    # done counts from the drain's start; a line's figures are read one after the other, so a
    # worker finishing meanwhile can show in two of them
    ok $q1 + $f1 + $d1 <= $n, 'queued + in flight + done: at most what was accepted';
    ok abs(($q1 + $f1 + $d1) - ($q2 + $f2 + $d2)) <= 2, 'and the same in both lines (nothing vanishes)';

    kill 'INT', $s->pid;
    my ($hint, $path);
    ok wait_until(10, sub { ($hint) = $s->log_text =~ /^(orderd: info: SIGINT again: .*)$/m }), 'a second SIGINT prints a hint'
        or diag $s->log_text;
    my $pid = $s->pid;
    like $hint, qr/SIGINT again: \d+ queued and [01] in flight remain; nothing is lost if you wait\. To abandon them: kill -QUIT $pid \(exits 3 .*writing the ids of the unprocessed orders to (\S+)\)$/,
        'what remains, and how to abandon it';
    ($path) = $hint =~ / to (\S+)\)$/;
    is substr($path // '', 0, length($s->dir . '/profiles/')), $s->dir . '/profiles/', "the file is in the profiling output directory ($path)";

    kill 'TERM', $s->pid;
    ok wait_until(10, sub { $s->log_text =~ /SIGTERM again: / }), 'a second SIGTERM too';
    ok !-e $path, 'nothing written while it drains';

    my ($rc, $log) = $s->stop('QUIT', 60);
    is $rc, 3, 'SIGQUIT: exit 3';
    my ($acc, $proc, $ab, $file) = $log =~ /summary: accepted=(\d+) processed=(\d+) .* abandoned=(\d+) \(the ids of the abandoned orders are in (\S+)\)$/m;
    ok defined $ab, 'the summary says how many were abandoned and where' or diag $log;
    is $file, $path, 'in the file the hint named';
    is $acc, $n, 'accepted';
    is $proc + $ab, $n, 'processed + abandoned == accepted';
    ok $ab > 0, "$ab abandoned";
    like $log, qr/SIGQUIT: abandoning $ab queued orders; waiting for the [01] in flight/, 'the abandon is logged';
    open my $f, '<', $path or die "no $path: $!";
    my @ids = map { chomp; $_ } <$f>;
    close $f;
    # one worker, one priority: the queue is FIFO, so the unprocessed ones are the last $ab
    is_deeply \@ids, [map { "q$_" } $proc + 1 .. $n], 'the file holds exactly the unprocessed ids, in queue order';
}

{
    my $s = Orderd->start(workers => $slow);
    my @codes = $s->post_many('/orders', map { order(id => "g$_") } 1 .. 50);
    is scalar(grep { $_ == 202 } @codes), 50, '50 orders accepted';
    my ($rc, $log) = $s->stop('QUIT', 60);
    is $rc, 0, 'SIGQUIT while serving: a graceful drain, exit 0';
    like $log, qr/^orderd: info: Quit: draining \d+ queued and \d+ in-flight orders; new orders get 503$/m, 'announced as a drain';
    like $log, qr/summary: accepted=50 processed=50 .*\(nothing lost\)$/m, 'nothing lost';
    unlike $log, qr/abandon/, 'nothing abandoned';
}
done_testing;
