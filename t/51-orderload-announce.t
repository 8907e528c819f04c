#!/usr/bin/perl
# orderload against a recording HTTP server written here: scenario announcements
# (POST /scenarios/NAME/start and /end, in order around each scenario's requests), the
# bundled order bodies (valid orders as SPEC defines them), profile captures saved beside
# the JSON report, and a 404 on announcements taken silently (the target is not an orderd).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use Time::HiRes ();
use Orderload qw(build_dir orderload serve slurp start_server);

my $B    = build_dir();
my $LOAD = "$B/orderload";
plan skip_all => "$LOAD not built" unless -x $LOAD;
plan skip_all => 'run from the project root (needs lua/lib/orders.lua)' unless -f 'lua/lib/orders.lua';

my $dir = tempdir(CLEANUP => 1);

# A keep-alive HTTP/1.1 server on its own process: logs "time method path content-type body"
# per request to $log; answers /scenarios/* with $scen_status, /profile/* with a body, and
# everything else 202.
sub start_recorder {
    my ($log, $scen_status) = @_;
    return start_server(sub {
        my ($srv) = @_;
        open my $fh, '>>', $log or die;
        $fh->autoflush(1);
        serve($srv, on_read => sub {
            my ($s, $b) = @_;
            while ($$b =~ /\A(.*?)\r\n\r\n/s) {
                my $head = $1;
                my $hl   = length($head) + 4;
                my ($cl) = $head =~ /\r\ncontent-length:\s*(\d+)/i;
                $cl //= 0;
                last if length($$b) < $hl + $cl;
                my $body = substr($$b, $hl, $cl);
                substr($$b, 0, $hl + $cl) = '';
                my ($m, $p) = $head =~ /\A(\S+) (\S+)/;
                my ($ct) = $head =~ /\r\ncontent-type:\s*([^\r\n]*)/i;
                $ct //= '-';
                $ct =~ s/\s+//g;
                printf $fh "%.6f %s %s %s %s\n", Time::HiRes::time(), $m, $p, $ct, $body;
                my ($st, $rb) = (202, '{"id":"x","state":"queued"}');
                ($st, $rb) = ($scen_status, '{}') if $p =~ m{^/scenarios/};
                ($st, $rb) = (200, 'PROFILE-DATA') if $p =~ m{^/profile/};
                syswrite($s, "HTTP/1.1 $st X\r\nContent-Type: application/json\r\nContent-Length: "
                        . length($rb) . "\r\n\r\n$rb");
            }
        });
    });
}

open my $sf, '>', "$dir/two.lua" or die;
print $sf <<'EOF';
local orders = require("orders")
return {
  scenarios = {
    first = { executor = "constant-arrival-rate", rate = 40, duration = "0.5s" },
    second = { executor = "constant-arrival-rate", rate = 40, duration = "0.5s", start_time = "0.8s" },
  },
  profile = { { at = "0.2s", path = "/profile/cpu?seconds=1", save = "cpu.pb.gz" } },
  request = function(ctx)
    return orders.request(ctx, ctx.scenario == "first" and orders.shapes.normal or orders.shapes.burst)
  end,
}
EOF
close $sf;

my $log = "$dir/requests.log";
my ($pid, $port) = start_recorder($log, 200);
mkdir "$dir/report";
my ($rc, $out, $err) = orderload('-u', "http://127.0.0.1:$port", '--progress', '0', '--json', "$dir/report/two.json",
    "$dir/two.lua");
is($rc, 0, 'the run against the recorder exits 0') or diag($err);

my @lines = split /\n/, slurp($log);
my @ev    = map { [split / /, $_, 5] } @lines;    # time method path ctype body
my @seq   = map { "$_->[1] $_->[2]" } grep { $_->[2] =~ m{^/scenarios/} } @ev;
my @want  = ('POST /scenarios/first/start', 'POST /scenarios/first/end', 'POST /scenarios/second/start',
    'POST /scenarios/second/end');
my @got = grep { my $x = $_; grep { $_ eq $x } @want } @seq;
is_deeply([@got[-4 .. -1]], \@want, 'announcements: first start, first end, second start, second end');

# the orders sent between each start and end
sub idx { my ($w) = @_; my ($i) = grep { "$ev[$_][1] $ev[$_][2]" eq $w } reverse 0 .. $#ev; return $i // -1 }
my ($fs, $fe, $ss, $se) = map { idx($_) } @want;
my @first  = grep { $ev[$_][2] eq '/orders' } $fs + 1 .. $fe - 1;
my @second = grep { $ev[$_][2] eq '/orders' } $ss + 1 .. $se - 1;
# every order orderload sent for a scenario arrives between its announcements, and none
# outside; on a loaded machine orderload may drop a late arrival (counted as dropped), so the
# 20 scheduled are sent + dropped
my $rep = decode_json(slurp("$dir/report/two.json"));
for ([first => \@first], [second => \@second]) {
    my ($name, $in) = @$_;
    my $c = $rep->{scenarios}{$name}{counts} || {};
    is(scalar @$in, $c->{sent} // -1, "the $name scenario's orders all arrive between its start and end ($c->{sent} sent)");
    is(($c->{sent} // 0) + ($c->{dropped} // 0), 20, "  20 scheduled: sent + dropped ($c->{dropped} dropped)");
}
my $outside = grep { $ev[$_][2] eq '/orders' } grep { $_ < $fs || ($_ > $fe && $_ < $ss) || $_ > $se } 0 .. $#ev;
is($outside, 0, 'no order arrives outside its scenario\'s announcements');

my (%ids, $bad);
my %status = map { $_ => 1 } qw(pending paid shipped delivered cancelled);
for my $i (@first, @second) {
    my ($t, $m, $p, $ct, $body) = @{ $ev[$i] };
    my $o = eval { decode_json($body) };
    my $why
        = !$o                                                            ? "not JSON: $body"
        : $m ne 'POST'                                                   ? "method $m"
        : $ct !~ m{^application/json}                                    ? "content type $ct"
        : !defined $o->{id} || $o->{id} !~ /^[A-Za-z0-9_-]{1,64}$/      ? 'id'
        : !$o->{customer}                                                ? 'customer'
        : ref $o->{items} ne 'ARRAY' || !@{ $o->{items} } || grep({ ref $_ } @{ $o->{items} }) ? 'items'
        : !($o->{amount} > 0)                                            ? 'amount'
        : !$status{ $o->{status} }                                       ? 'status'
        : !$o->{address}                                                 ? 'address'
        : $o->{priority} !~ /^[123]$/                                    ? 'priority'
        : (grep { !/^(id|customer|items|amount|status|address|notes|priority)$/ } keys %$o) ? 'unknown field'
        : $ids{ $o->{id} }++                                             ? "duplicate id $o->{id}"
        :                                                                  '';
    if ($why) { $bad = $why; last }
}
ok(!$bad, 'every order is a valid SPEC order with a unique id') or diag($bad);
my ($fid) = map { decode_json($ev[$_][4])->{id} } $first[0];
like($fid, qr/^first-[0-9a-f]{8}-\d+$/, 'ids carry the scenario, the run id and the sequence number');

# the capture
is(slurp("$dir/report/cpu.pb.gz"), 'PROFILE-DATA', 'the profile capture is saved beside the --json report');
my $j = decode_json(slurp("$dir/report/two.json"));
my ($cap) = @{ $j->{profiles} };
ok($cap && $cap->{ok} && $cap->{status} == 200 && $cap->{bytes} == 12, 'the JSON lists the capture');
my ($capline) = grep { $_->[2] =~ m{^/profile/cpu} } @ev;
ok($capline && $capline->[0] > $ev[$fs][0] + 0.15, 'the capture is fetched at its time, after the start');

# a target that answers 404 to announcements is not an orderd: no warning, exit 0
my $log2 = "$dir/requests2.log";
my ($pid2, $port2) = start_recorder($log2, 404);
($rc, $out, $err) = orderload('-u', "http://127.0.0.1:$port2", '--progress', '0', '--profile-dir', "$dir/p2",
    "$dir/two.lua");
is($rc, 0, '404 on announcements: exit 0');
unlike($err, qr/announc/i, '... without a warning');
my @ann2 = grep { m{ /scenarios/} } split /\n/, slurp($log2);
is(scalar @ann2, 1, '... and orderload stops announcing after the first 404');
ok(-f "$dir/p2/cpu.pb.gz", '--profile-dir chooses where captures go');

# --no-announce
my $log3 = "$dir/requests3.log";
my ($pid3, $port3) = start_recorder($log3, 200);
open $sf, '>', "$dir/one.lua" or die;
print $sf "return { scenarios = { one = { rate = 20, duration = '0.2s' } } }\n";
close $sf;
($rc) = orderload('-u', "http://127.0.0.1:$port3", '--quiet', '--no-announce', "$dir/one.lua");
is(scalar(grep { m{ /scenarios/} } split /\n/, slurp($log3)), 0, '--no-announce sends no announcement');

done_testing();
