# Hostile input over real HTTP: each gets a clear error, nothing is accepted, and the server
# keeps serving.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Orderd qw(json_decode order);

my $s = Orderd->start();

my @cases = (
    ['truncated JSON',      '{"customer":"a","items":["s"', 400],
    ['deep nesting',        '{"notes":' . ('[' x 5000) . (']' x 5000) . '}', 400],
    ['huge number',         '{"customer":"a","items":["s"],"amount":1e400,"address":"x"}', 400],
    ['huge integer',        '{"customer":"a","items":["s"],"amount":123456789012345678901234567890,"address":"x"}', 400],
    ['NaN',                 '{"customer":"a","items":["s"],"amount":NaN,"address":"x"}', 400],
    ['Infinity',            '{"customer":"a","items":["s"],"amount":Infinity,"address":"x"}', 400],
    ['non-UTF-8',           qq({"customer":"\xc3\x28","items":["s"],"amount":1,"address":"x"}), 400],
    ['empty body',          '', 400],
    ['whitespace only',     "  \n ", 400],
    ['trailing garbage',    '{"customer":"a","items":["s"],"amount":1,"address":"x"}garbage', 400],
    ['two documents',       '{"customer":"a"}{"customer":"b"}', 400],
    ['null',                'null', 400],
    ['array',               '[]', 400],
    ['wrong type: amount',  '{"customer":"a","items":["s"],"amount":"1","address":"x"}', 422],
    ['wrong type: items',   '{"customer":"a","items":{"a":1},"amount":1,"address":"x"}', 422],
    ['wrong type: priority','{"customer":"a","items":["s"],"amount":1,"address":"x","priority":"1"}', 422],
    ['bool customer',       '{"customer":true,"items":["s"],"amount":1,"address":"x"}', 422],
    ['nested object item',  '{"customer":"a","items":[{"sku":"s"}],"amount":1,"address":"x"}', 422],
    ['control char id',     qq({"customer":"a","items":["s"],"amount":1,"address":"x","id":"a\\nb"}), 422],
);
for my $c (@cases) {
    my ($name, $body, $want) = @$c;
    my $r = $s->post_json('/orders', $body);
    is $r->{status}, $want, "$name: $want";
    my $j = json_decode($r->{content});
    ok $j && $j->{error}, "$name: a JSON error message" or diag $r->{content};
}
my $r = $s->post_json('/orders', '{"notes":"' . ('x' x 100000) . '"}');
is $r->{status}, 413, 'oversized body: 413';
ok json_decode($r->{content})->{error}, '... with a JSON error (h2o refuses it, orderd words it)';

# raw sockets: broken HTTP
sub raw {
    my ($bytes, $half_close) = @_;
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->port, Timeout => 5) or die $!;
    print $c $bytes;
    shutdown($c, 1) if $half_close;
    my $resp = '';
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 5;
    eval { while (my $n = sysread($c, my $buf, 65536)) { $resp .= $buf } };
    alarm 0;
    close $c;
    return $resp;
}
my $garbage = raw("GARBAGE\r\n\r\n");
like $garbage, qr/^HTTP\/1\.1 400/, 'a garbage request line: 400';
like $garbage, qr/\r\ncontent-type: application\/json\r\n/i, '... as JSON (h2o writes that answer itself)';
my ($gbody) = $garbage =~ /\r\n\r\n(.*)\z/s;
is eval { json_decode($gbody)->{error} }, 'the request is not valid HTTP/1.1 (its request line or headers)',
   '... with orderd\'s error body';
my ($glen) = $garbage =~ /content-length: *(\d+)/i;
is $glen, length($gbody), '... and its length';
{   # exactly H2O_MAX_REQLEN (8192 + 4096 x 100) bytes of a head that never ends: nothing is
    # left unread when h2o answers and closes, so the answer is not lost to a reset
    my $head = "GET / HTTP/1.1\r\nHost: x\r\nX-A: ";
    local $SIG{PIPE} = 'IGNORE';
    like raw($head . ('a' x (8192 + 4096 * 100 - length $head))), qr/^HTTP\/1\.1 400 .*\{"error":/s,
         'a request head at h2o\'s limit, never finished: the JSON 400';
}
like raw("GET / HTTP/1.1\r\nHost: x\r\n" . ("X-Big: " . ('a' x 8000) . "\r\n") x 20 . "\r\n"), qr/^HTTP\/1\.1 4\d\d|^$/,
     'oversized headers refused (4xx or closed)';
# a body shorter than its Content-Length, then the client leaves
my $vanished = raw("POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"customer\":", 1);
unlike $vanished, qr/^HTTP\/1\.1 2\d\d/, 'a client vanishing mid-body: no success answer';
is $s->get_json('/stats')->{accepted}, 0, '... nothing accepted from the partial body';
is $s->get('/health')->{status}, 200, '... and the server still serves';
# chunked body
my $body = Orderd::json_encode(order(id => 'chunked-1'));
my $chunked = sprintf("POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", length $body, $body);
like raw($chunked), qr/^HTTP\/1\.1 202/, 'a chunked body is accepted';
# the answers h2o writes itself, in orderd's JSON: a broken chunked body, a broken
# Content-Length, an unknown Expect
my $post = "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
for my $c (["broken chunked encoding", "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400, qr/chunked/],
           ["unknown transfer encoding", "Transfer-Encoding: gzip\r\n\r\n", 400, qr/transfer-encoding/],
           ["broken Content-Length", "Content-Length: 12x\r\n\r\n", 400, qr/content-length/],
           ["unknown Expect", "Expect: 200-ok\r\nContent-Length: 2\r\n\r\n{}", 417, qr/expectation/]) {
    my ($name, $rest, $want, $says) = @$c;
    my $resp = raw($post . $rest);
    my ($st) = $resp =~ /^HTTP\/1\.1 (\d{3})/;
    is $st, $want, "$name: $want";
    like $resp, qr/^content-type: application\/json/mi, '... as JSON';
    my ($b) = $resp =~ /\r\n\r\n(.*)\z/s;
    my $j = eval { json_decode($b) };
    like $j && $j->{error}, $says, "... saying what is wrong" or diag $resp;
}
# many bad requests on one keep-alive connection
my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->port) or die;
my $ok = 0;
for (1 .. 50) {
    print $c "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{x}";
    my $head = '';
    while ($head !~ /\r\n\r\n/) { sysread($c, my $b, 1) or last; $head .= $b }
    my ($len) = $head =~ /content-length: (\d+)/i;
    sysread($c, my $rest, $len) if $len;
    $ok++ if $head =~ /^HTTP\/1\.1 400/;
}
is $ok, 50, '50 bad requests on one keep-alive connection: 50 answers of 400';
close $c;

# nothing accepted, the server still serves
my $st = $s->get_json('/stats');
is $st->{accepted}, 1, 'only the one good (chunked) order was accepted';
is $s->get('/health')->{status}, 200, 'still healthy';
is $s->post_json('/orders', order())->{status}, 202, 'and still takes orders';
my ($rc) = $s->stop;
is $rc, 0, 'clean exit';
done_testing;
