# Overload: a tiny queue and one slow worker.  Every request gets 202 or 503 (with Retry-After),
# never anything else, and every 202 is processed; /health says 503 while the queue is full.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Orderd qw(json_decode json_encode order wait_until);

my $s = Orderd->start(workers => "return { workers = 1, queue = 5, pay = { ms_per_priority = 0, fixed_ms = 20 }, "
                                 . "price = { work_us = 0 }, reserve = { hold_us = 0 } }");

# 8 clients in parallel, 40 orders each, as fast as they can
my $clients = 8;
my $per = 40;
my @pipes;
for my $c (1 .. $clients) {
    pipe(my $rd, my $wr) or die;
    my $pid = fork // die;
    if ($pid == 0) {
        close $rd;
        my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 10);
        my %count;
        my @accepted;
        my $bad_503 = 0;
        for my $i (1 .. $per) {
            my $r = $http->request('POST', $s->base . '/orders',
                { headers => { 'Content-Type' => 'application/json' }, content => json_encode(order(id => "c$c-$i")) });
            $count{ $r->{status} }++;
            push @accepted, "c$c-$i" if $r->{status} == 202;
            $bad_503++ if $r->{status} == 503 && !($r->{headers}{'retry-after'} && $r->{content} =~ /"error"/);
        }
        print $wr join(',', map {"$_=$count{$_}"} sort keys %count), "|$bad_503|", join(',', @accepted), "\n";
        exit 0;
    }
    close $wr;
    push @pipes, $rd;
}
my (%total, @accepted, $bad_503);
my $saw_unhealthy = 0;
# while they run, /health should at some point say the queue is full
for (1 .. 40) {
    my $r = $s->get('/health');
    if ($r->{status} == 503) { $saw_unhealthy = json_decode($r->{content})->{pool}{healthy} ? 0 : 1; last }
    select undef, undef, undef, 0.02;
}
for my $rd (@pipes) {
    my $line = <$rd>;
    chomp $line;
    my ($counts, $bad, $ids) = split /\|/, $line, 3;
    for (split /,/, $counts) { my ($k, $v) = split /=/; $total{$k} += $v }
    $bad_503 += $bad;
    push @accepted, grep {length} split /,/, ($ids // '');
}
wait for 1 .. $clients;

my @codes = sort keys %total;
is_deeply [grep { $_ != 202 && $_ != 503 } @codes], [], 'every answer was 202 or 503 (' . join(', ', map {"$_: $total{$_}"} @codes) . ')';
ok $total{503} && $total{503} > 0, 'the overload produced explicit 503s';
ok $total{202} && $total{202} > 0, 'and some orders were accepted';
is $bad_503, 0, 'every 503 carried Retry-After and a JSON error';
ok $saw_unhealthy, '/health answered 503 (healthy: false) while the queue was full';

my $st = $s->get_json('/stats');
is $st->{accepted}, scalar(@accepted), 'the server counted exactly the 202s as accepted';
is $st->{rejected}, $total{503}, 'and exactly the 503s as rejected';

# every acknowledged order is processed
ok wait_until(60, sub { $s->get_json('/stats')->{total_processed} == @accepted }), 'every accepted order was processed';
my $missing = grep { my $j = $s->get_json("/orders/$_"); !($j && $j->{state} eq 'done') } @accepted;
is $missing, 0, 'each accepted id is done';
my ($rc, $log) = $s->stop;
is $rc, 0, 'clean exit';
like $log, qr/\(nothing lost\)/, 'summary: nothing lost';
done_testing;
