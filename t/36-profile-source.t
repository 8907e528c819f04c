#!/usr/bin/perl
# The source-level views of a CPU profile, with the real tools:
#   go tool pprof -http: /ui/source?f=od_stage_price shows pipeline.c's lines with their samples,
#     with the binary at the mapping's path (source and disassembly) and without it (source)
#   go tool pprof -list and -disasm (the latter needs the binary: it disassembles it)
#   google-pprof --list and --disasm BINARY FILE on the legacy CPU profile (objdump)
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Time::HiRes qw(sleep time);
use Orderd;

my $have_go = `command -v go 2>/dev/null`;
plan skip_all => 'go (golang-go) is not installed' unless $have_go;
my $have_gp = `command -v google-pprof 2>/dev/null`;

my $tmp = tempdir('orderd-t36-XXXXXX', TMPDIR => 1, CLEANUP => 1);
local $ENV{HOME} = $tmp;
local $ENV{GOCACHE} = "$tmp/gocache";
local $ENV{PPROF_TMPDIR} = "$tmp/pprof";
mkdir "$tmp/pprof";
# a private copy of the binary, which the server runs from: the mapping's path is this copy
my $bin = Orderd::private_build($tmp);

my $s = Orderd->start(Orderd::hotspots());
my $http = HTTP::Tiny->new(timeout => 60);

sub fetch {
    my ($path, $file) = @_;
    my $r = $http->get($s->base . $path);
    is($r->{status}, 200, "GET $path: 200") or diag($r->{content});
    open my $f, '>:raw', "$tmp/$file" or die $!;
    print $f $r->{content};
    close $f;
    return "$tmp/$file";
}

sub run {
    my ($limit, @cmd) = @_;
    my $q = join ' ', map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } @cmd;
    return scalar `timeout $limit $q 2>&1`;
}

my $load = $s->start_load(40, 40000);
sleep 1.5;
my $cpu = fetch('/debug/pprof/profile?seconds=2', 'cpu.pb.gz');
my $legacy = fetch('/profile/cpu?seconds=2&format=legacy', 'cpu.prof');
kill "TERM", $load;
waitpid $load, 0;

# od_stage_price's body in pipeline.c, and its hot line's text.  Which of its lines carries the
# samples depends on the build's line table (-O2 puts them on the call of the fraud score,
# the sanitizers' -O1 elsewhere in the loop), so any line of the body will do.
my $hot = qr/score \+= price_fraud_score\(o, 2000\);/;
my ($first, $last, $hot_line);
{
    open my $src, '<', 'src/pool/pipeline.c' or die "src/pool/pipeline.c: $!";
    while (<$src>) {
        $first = $. if !defined $first && /^int od_stage_price\(/;
        $hot_line = $. if defined $first && !defined $last && /$hot/;
        $last = $. if defined $first && !defined $last && /^\}/;
    }
}
die "od_stage_price not found in src/pool/pipeline.c" unless $first && $last && $hot_line;
my $body = '(?:' . join('|', $first .. $last) . ')';

# Runs `go tool pprof -http` on FILE, from the source tree (the binary's DWARF names files
# relative to it), and returns the text of /ui/source?f=od_stage_price without its markup.
sub source_page {
    my ($file) = @_;
    my $port = Orderd::free_port();
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$tmp/webui.log";
        open STDERR, '>&', \*STDOUT;
        exec 'go', 'tool', 'pprof', "-http=127.0.0.1:$port", '-no_browser', $file;
        exit 127;
    }
    my $r;
    my $deadline = time + 90;
    while (time < $deadline) {
        $r = HTTP::Tiny->new(timeout => 30)->get("http://127.0.0.1:$port/ui/source?f=od_stage_price");
        last if $r->{status} != 599;
        sleep 0.25;
    }
    kill 'TERM', $pid;
    waitpid $pid, 0;
    my $html = $r->{content} // '';
    (my $text = $html) =~ s/<[^>]*>//g;
    $text =~ s/&lt;/</g;
    $text =~ s/&gt;/>/g;
    $text =~ s/&amp;/&/g;
    return ($r->{status}, $text, $html);
}

# the cum column of the heaviest line of od_stage_price's body on the source page
# ("NNN  flat  cum  source...")
sub page_cum {
    my ($text) = @_;
    my ($best, $best_ms);
    for (split /\n/, $text) {
        next unless /^\s*$body\s+\S+\s+(\d+(?:\.\d+)?)(m?s)\s/;
        my $ms = $1 * ($2 eq 's' ? 1000 : 1);
        ($best, $best_ms) = ("$1$2", $ms) if !defined $best_ms || $ms > $best_ms;
    }
    return $best;
}

# --- the Source view, with the binary at the mapping's path -----------------------------------
my ($st, $text, $html) = source_page($cpu);
is($st, 200, 'go tool pprof -http: /ui/source?f=od_stage_price answers 200') or diag($text);
like($text, qr/od_stage_price\s*\S*pipeline\.c/, '  a section for od_stage_price in pipeline.c') or diag(substr($text, -3000));
my $cum = page_cum($text);
ok(defined $cum, "  its lines carry samples (the heaviest ${\($cum // 'none')})") or diag(substr($text, -3000));
like($text, qr/^\s*$hot_line\s.*$hot/m, '  with their source text') or diag(substr($text, -3000));
like($text, qr/\b[0-9a-f]+:\s+CALL \S+/, '  and its disassembly, from the binary') or diag(substr($text, -3000));

# --- and without the binary at that path: the profile's own lines ----------------------------
rename $bin, "$bin.away" or die "rename: $!";
($st, $text) = source_page($cpu);
is($st, 200, 'without the binary: /ui/source?f=od_stage_price answers 200') or diag($text);
$cum = page_cum($text);
ok(defined $cum, "  its lines carry samples (the heaviest ${\($cum // 'none')})") or diag(substr($text, -3000));
like($text, qr/^\s*$hot_line\s.*$hot/m, '  with their source text') or diag(substr($text, -3000));
rename "$bin.away", $bin or die "rename: $!";

# --- -list and -disasm --------------------------------------------------------------------------
my $out = run(60, 'go', 'tool', 'pprof', '-list=^od_stage_price$', $cpu);
like($out, qr/^ROUTINE =+ od_stage_price in \S*pipeline\.c$/m, 'go tool pprof -list=od_stage_price') or diag($out);
like($out, qr/^\s+\S+\s+\d+(\.\d+)?m?s\s+$body:\s/m, '  a line of its body with samples') or diag($out);
$out = run(60, 'go', 'tool', 'pprof', '-disasm=od_stage_price', $cpu);
like($out, qr/^ROUTINE =+ od_stage_price$/m, 'go tool pprof -disasm=od_stage_price (from the binary)') or diag($out);
like($out, qr/^\s+\S+\s+\d+(\.\d+)?m?s\s+[0-9a-f]+: .*;od_stage_price pipeline\.c:$body$/m,
    '  an instruction of its body with samples') or diag($out);

SKIP: {
    skip 'google-pprof is not installed', 2 unless $have_gp;
    $out = run(120, 'google-pprof', '--list=od_stage_price', $bin, $legacy);
    like($out, qr/^\s+\S+\s+\d+\s+$body:\s/m, 'google-pprof --list=od_stage_price BINARY FILE: a line with samples')
        or diag($out);
    $out = run(120, 'google-pprof', '--disasm=od_stage_price', $bin, $legacy);
    like($out, qr/^\s+\S+\s+\d+\s+[0-9a-f]+: \S+/m, 'google-pprof --disasm=od_stage_price BINARY FILE: an instruction with samples')
        or diag($out);
}

my ($rc, $log) = $s->stop;
is($rc, 0, 'the server exits cleanly') or diag($log);
done_testing;
