#!/usr/bin/perl
# orderload's `pipeline = N`, checked from the server's side with a server written here that
# answers every batch of requests it reads 8 ms later, in order (slower than one connection's
# arrivals at 500/s, faster than them pipelined):
#  - with pipeline = 64 on one connection, every arrival is sent at its instant: none waits in
#    the backlog, the send delay stays small while the 8 ms are in the service time, the server
#    reads several requests at once, and each answer goes to its own request (response() checks
#    the echoed path, GETs and HEADs mixed, so a HEAD's answer has no body to wait for);
#  - without it the same arrivals wait for the connection (the backlog, send delay);
#  - answers that close the connection (`Connection: close` every 10th, the rest of what the
#    server has read is dropped) send the requests pipelined behind them again, on a new
#    connection: all answered, none counted twice, no errors;
#  - bad values are usage errors (exit 2) naming the key.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use Time::HiRes ();
use Scalar::Util qw(refaddr);
use Orderload qw(build_dir orderload reaped serve slurp start_server);

my $B    = build_dir();
my $LOAD = "$B/orderload";
plan skip_all => "$LOAD not built" unless -x $LOAD;

my $dir = tempdir(CLEANUP => 1);

# The batching server.  close_every N: every Nth answer says Connection: close, and the server
# then shuts its side, reads and drops the rest (as a polite server closes).  It writes
# "connections max_batch answered" to $stats after every batch.
sub start_batcher {
    my ($stats, $close_every) = @_;
    return start_server(sub {
        my ($srv) = @_;
        my ($conns, $max_batch, $answered) = (0, 0, 0);
        my (%seen, %closing);
        my $stop = 0;
        $SIG{TERM} = sub { $stop = 1 };
        serve($srv, timeout => 0.2, stop => sub { $stop }, on_read => sub {
            my ($s, $b) = @_;
            my $id = refaddr($s); # not fileno: a closed connection's number comes back
            $conns++ unless $seen{$id};
            $seen{$id} = $s;    # held, so that the address is not reused either
            if ($closing{$id}) { $$b = ''; return }
            my @reqs;
            while ((my $i = index($$b, "\r\n\r\n")) >= 0) {    # GET and HEAD: no bodies
                my ($line) = substr($$b, 0, $i) =~ /^([^\r\n]*)/;
                push @reqs, $line;
                substr($$b, 0, $i + 4) = '';
            }
            return unless @reqs;
            $max_batch = @reqs if @reqs > $max_batch;
            Time::HiRes::sleep(0.008);
            my $out = '';
            for my $line (@reqs) {
                my ($method, $path) = split / /, $line;
                $answered++;
                my $close = $close_every && $answered % $close_every == 0;
                $out .= "HTTP/1.1 200 OK\r\nContent-Length: " . length($path) . "\r\n"
                    . ($close ? "Connection: close\r\n" : '') . "\r\n" . ($method eq 'HEAD' ? '' : $path);
                if ($close) {
                    $closing{$id} = 1;
                    $$b = '';
                    last;
                }
            }
            syswrite($s, $out);
            shutdown($s, 1) if $closing{$id};
            open my $f, '>', "$stats.tmp" or die;
            print $f "$conns $max_batch $answered\n";
            close $f;
            rename "$stats.tmp", $stats;
        });
    });
}

sub stop_server {
    my ($pid) = @_;
    kill 'TERM', $pid;
    waitpid $pid, 0;
    reaped($pid);
}

# a scenario file: 500/s for 1 s on one connection; GETs /r/SEQ, every odd seq a HEAD, and
# response() refuses an answer that is not its own request's path
sub scenario {
    my ($name, $extra) = @_;
    open my $f, '>', "$dir/$name.lua" or die;
    print $f <<"LUA";
return {
  scenarios = { p = { executor = "constant-arrival-rate", rate = 500, duration = "1s", connections = 1$extra } },
  request = function(ctx)
    return (ctx.seq % 2 == 1) and "HEAD" or "GET", "/r/" .. ctx.seq
  end,
  response = function(ctx, status, headers, body)
    local want = "/r/" .. ctx.seq
    if ctx.seq % 2 == 1 then return body == "" and headers["content-length"] == tostring(#want) end
    return body == want
  end,
}
LUA
    close $f;
    return "$dir/$name.lua";
}

sub run {
    my ($port, $file) = @_;
    unlink "$dir/out.json";
    my ($rc, $out, $err) = orderload('-u', "http://127.0.0.1:$port", '-t', '1', '--no-announce', '--progress', '0',
        '--json', "$dir/out.json", $file);
    my $j = eval { decode_json(slurp("$dir/out.json")) };
    return ($rc, $j && $j->{scenarios}{p}, $err);
}

sub errors { my $e = $_[0]{errors}; return join ' ', map {"$_=$e->{$_}"} grep { $e->{$_} } sort keys %$e }

# ---- pipelined: on time, in order ------------------------------------------------------------
{
    my ($pid, $port) = start_batcher("$dir/stats1", 0);
    my ($rc, $p, $err) = run($port, scenario('on', ', pipeline = 64'));
    stop_server($pid);
    my ($conns, $batch, $answered) = split ' ', slurp("$dir/stats1");
    is($rc, 0, 'pipeline = 64: exits 0') or diag($err);
    ok($p && $p->{counts}{completed} == 500 && $p->{counts}{sent} == 500, '... all 500 sent and answered (' . ($p ? "$p->{counts}{sent} / $p->{counts}{completed}" : '-') . ')');
    is($p && errors($p), '', '... no errors: each answer (GET body, HEAD without one) was its own request\'s');
    is($p && $p->{counts}{queued}, 0, '... no arrival waited for the connection');
    is($conns, 1, '... on the one connection');
    ok($batch >= 2, "... the server read up to $batch requests at once: they were pipelined");
    ok($p && $p->{service_time_us}{p50} >= 8000, "... the server's 8 ms are in the service time (p50 $p->{service_time_us}{p50} us)");
    ok($p && $p->{send_delay_us}{p50} < 2000 && $p->{send_delay_us}{p50} * 4 < $p->{service_time_us}{p50},
        "... and not in the send delay (p50 $p->{send_delay_us}{p50} us)");
}

# ---- not pipelined: the same arrivals wait -----------------------------------------------------
{
    my ($pid, $port) = start_batcher("$dir/stats2", 0);
    my ($rc, $p, $err) = run($port, scenario('off', ''));
    stop_server($pid);
    my ($conns, $batch) = split ' ', slurp("$dir/stats2");
    is($rc, 0, 'without pipeline: exits 0') or diag($err);
    ok($p && $p->{counts}{queued} > 100, '... arrivals waited for the connection (' . ($p ? $p->{counts}{queued} : '-') . ' queued)');
    ok($p && $p->{conn_wait_us}{p50} >= 8000, "... and that wait is their connection wait (p50 $p->{conn_wait_us}{p50} us)");
    ok($p && $p->{send_delay_us}{p50} < 2000, "... not their send delay (p50 $p->{send_delay_us}{p50} us)");
    is($batch, 1, '... one request at a time on the connection');
}

# ---- answers that close: the requests behind them are sent again ---------------------------------
{
    my ($pid, $port) = start_batcher("$dir/stats3", 10);
    my ($rc, $p, $err) = run($port, scenario('close', ', pipeline = 64'));
    stop_server($pid);
    my ($conns, $batch, $answered) = split ' ', slurp("$dir/stats3");
    is($rc, 0, 'pipelined answers that close: exits 0') or diag($err);
    ok($p && $p->{counts}{completed} == 500, '... all 500 answered (' . ($p ? $p->{counts}{completed} : '-') . ')');
    ok($p && $p->{counts}{sent} == 500 && $p->{counts}{scheduled} == 500, '... each counted sent once (' . ($p ? $p->{counts}{sent} : '-') . ')');
    is($p && errors($p), '', '... no errors');
    is($p && $p->{counts}{dropped}, 0, '... none dropped');
    is($answered, 500, '... the server answered each once');
    ok($conns >= 40, "... on a new connection after each close ($conns connections)");
}

# ---- bad values --------------------------------------------------------------------------------
for my $case (['pipeline = 0', qr/pipeline/], ['pipeline = 65', qr/pipeline/], ['pipeline = "4"', qr/pipeline/]) {
    my ($body, $re) = @$case;
    my $f = scenario('bad', ", $body");
    my ($rc, $out, $err) = orderload('-u', 'http://127.0.0.1:9', '--no-announce', $f);
    is($rc, 2, "$body: exit 2");
    like($err, $re, '... naming the key') or diag($err);
}
{
    open my $f, '>', "$dir/closed.lua" or die;
    print $f 'return { scenarios = { c = { executor = "constant-concurrency", connections = 2, duration = "1s", pipeline = 4 } } }', "\n";
    close $f;
    my ($rc, $out, $err) = orderload('-u', 'http://127.0.0.1:9', '--no-announce', "$dir/closed.lua");
    is($rc, 2, 'pipeline with constant-concurrency: exit 2');
    like($err, qr/closed\.lua:1:\d+: .*pipeline belongs to the arrival-rate executors/, '... saying why, at FILE:LINE:COL') or diag($err);
}

done_testing();
