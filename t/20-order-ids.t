# Order ids and the results store's index: a generated id never takes one a client chose, a
# client's id is refused once known (409) however far the index has grown, and every id stays
# findable after the index grows.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Orderd qw(json_decode json_encode order);

# one worker that sleeps a second per order: what is posted stays queued, in the index
my $s = Orderd->start(workers => "return { workers = 1, queue = 10000, price = { work_us = 0 }, "
                                 . "pay = { ms_per_priority = 0, fixed_ms = 1000 }, reserve = { hold_us = 0 }, "
                                 . "record = { alloc_bytes = 0 } }",
                      raw_yaml => "listen: 127.0.0.1:PORT\nscenarios: []\npool:\n  script: DIR/workers.lua\n  results_kept: 10\n"
                                . "profiling:\n  schedule: \"\"\n");

# learn the generated form, ord-BOOT-N, then take the next two generated ids as a client
my $r = $s->post_json('/orders', order());
is $r->{status}, 202, 'an order without an id is accepted';
my ($boot, $n) = json_decode($r->{content})->{id} =~ /^ord-([0-9a-f]{8})-(\d+)$/;
ok defined $n, "the generated id has the form ord-BOOT-N";
my @taken = map { "ord-$boot-" . ($n + $_) } 1, 2;
is $s->post_json('/orders', order(id => $_))->{status}, 202, "a client takes the next generated id $_" for @taken;
$r = $s->post_json('/orders', order());
is $r->{status}, 202, 'the next order without an id is still accepted';
my $id = json_decode($r->{content})->{id};
ok !(grep { $_ eq $id } @taken), "and gets an id no client holds ($id)";
is $s->get_json("/orders/$_")->{id}, $_, "the client's order $_ is still its own" for @taken;

# results_kept 10 sizes the index at 2048 buckets: 2500 queued orders grow it
my @ids = map {"grow-$_"} 1 .. 2500;
my @codes = $s->post_many('/orders', map { order(id => $_) } @ids);
is scalar(grep { $_ == 202 } @codes), 2500, '2500 more orders accepted (pipelined)';
is $s->post_json('/orders', order(id => 'grow-1'))->{status}, 409, 'an early id is refused after growth';
is $s->post_json('/orders', order(id => 'grow-2500'))->{status}, 409, 'a late id is refused after growth';
is $s->post_json('/orders', order(id => $taken[0]))->{status}, 409, 'an id from before growth is refused';
my @sample = (@ids[0 .. 9], @ids[map { $_ * 97 } 1 .. 20], @ids[-10 .. -1]);
my $missing = grep { (($s->get_json("/orders/$_") || {})->{id} // '') ne $_ } @sample;
is $missing, 0, scalar(@sample) . ' orders from the first to the last are all found after growth';

done_testing;
