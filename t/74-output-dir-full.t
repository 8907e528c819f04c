#!/usr/bin/perl
# Faults: a full profiling.output_dir (a 64 KiB tmpfs, filled up) fails the scheduled
# captures with a clear log line naming the entry and the error — and nothing else: no
# partial file is left, GET /profiles lists nothing that is not whole, orders and on-demand
# profiles go on, and once space is freed the schedule captures again.  Needs root (or
# CAP_SYS_ADMIN) to mount the tmpfs; skipped otherwise.  (An unwritable directory is in
# t/41-schedule.t.)
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use Orderd qw(order json_decode wait_until);

my $dir = tempdir('orderd-t74-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $mnt = "$dir/full";
mkdir $mnt or die $!;
system("mount -t tmpfs -o size=64k,mode=0755 orderd-t74 $mnt 2>/dev/null") == 0
    or plan skip_all => 'cannot mount a small tmpfs here (needs root or CAP_SYS_ADMIN)';
my $mounted = 1;
END { system('umount', $mnt) if $mounted }

# fill it to the last byte
open my $fill, '>', "$mnt/filler" or die $!;
{ local $SIG{__WARN__} = sub {}; my $block = 'x' x 1024; 1 while syswrite($fill, $block); }
close $fill;
my $free = `df -k --output=avail $mnt 2>/dev/null` =~ /(\d+)\s*$/ ? $1 : -1;
is $free, 0, 'the output directory is full';

open my $f, '>', "$dir/schedule.lua" or die;
print $f "return {\n  { every = '1s', capture = { 'goroutines', 'gc' }, label = 'tick' },\n}\n";
close $f;
my $s = Orderd->start(yaml => "profiling:\n  schedule: $dir/schedule.lua\n  output_dir: $mnt\n"
                            . "  keep: { files: 1000, bytes: 1GiB }\n");

ok wait_until(10, sub { $s->log_text =~ /schedule\.lua:2: .*No space left on device/ }),
    'a failed capture is logged with schedule.lua:LINE and the error' or diag $s->log_text;
my ($line) = $s->log_text =~ /^(.*No space left on device.*)$/m;
note "log: $line" if $line;
sleep 2.5;    # a few more failures
my @left = grep { $_ ne 'filler' } list($mnt);
is_deeply \@left, [], 'no partial file left behind' or diag explain \@left;
my $r = $s->get('/profiles');
is $r->{status}, 200, 'GET /profiles answers';
is_deeply json_decode($r->{content}), [], '  an empty list';
is $s->get('/health')->{status}, 200, 'healthy';
is $s->post_json('/orders', order())->{status}, 202, 'orders are taken';
$r = $s->get('/profile/goroutines');
is $r->{status}, 200, 'on-demand profiles still answer';
my $fails = () = $s->log_text =~ /No space left on device/g;
cmp_ok $fails, '>=', 2, "each failing capture is logged ($fails lines)";

# space again: the schedule recovers by itself
unlink "$mnt/filler" or die $!;
ok wait_until(10, sub { grep { /-goroutines-tick\.pb\.gz$/ } list($mnt) }), 'with space again the captures resume';
sleep 1.2;
my $list = json_decode($s->get('/profiles')->{content}) // [];
ok @$list >= 1, 'GET /profiles lists them';
my $bad = grep { (-s "$mnt/$_->{name}" // -1) != $_->{bytes} } @$list;
is $bad, 0, 'each listed capture is whole (size as in the manifest)';

# full again, in the middle of things: whatever is on disk is listed and whole
my $before = () = $s->log_text =~ /No space left on device/g;
open $fill, '>', "$mnt/filler" or die $!;
{ local $SIG{__WARN__} = sub {}; my $block = 'x' x 512; 1 while syswrite($fill, $block); }
close $fill;
ok wait_until(10, sub { my $n = () = $s->log_text =~ /No space left on device/g; $n > $before }),
    'filling it again fails the next capture';
sleep 1.2;
$list = json_decode($s->get('/profiles')->{content}) // [];
my %listed = map { ($_->{name} => $_->{bytes}) } @$list;
my @stray = grep { $_ ne 'filler' && $_ ne 'manifest.jsonl' && !exists $listed{$_} } list($mnt);
is_deeply \@stray, [], 'no file on disk that the manifest does not list' or diag explain \@stray;
$bad = grep { (-s "$mnt/$_" // -1) != $listed{$_} } keys %listed;
is $bad, 0, 'and every listed one is whole';
is $s->get('/health')->{status}, 200, 'still healthy';
my ($rc, $log) = $s->stop;
is $rc, 0, 'clean exit';
unlike $log, qr/fatal|abort|assert/i, 'no fatal error logged';
done_testing;

sub list { my $d = shift; opendir my $h, $d or return (); return sort grep { !/^\.\.?$/ } readdir $h }
