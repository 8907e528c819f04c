package Fidelity::Read;
# Reading what the fidelity scenarios (t/lib/Fidelity.pm) compare: the kernel's accounts of a
# process and its threads (/proc), profiles through `go tool pprof -raw`, perf.data through
# `perf script`, and Chrome trace JSON.  Functions only, no state; each dies with the tool's
# message when a tool fails.  Core Perl modules only.
use strict;
use warnings;
use Exporter 'import';
use JSON::PP ();
use POSIX ();
use Time::Local ();

our @EXPORT_OK = qw(proc_cpu sched pprof_raw type_index sum_under sum_all group_shares fn_name self_shares
                    perf_shares trace_events);

# --- the kernel's accounts ----------------------------------------------------------------

# the process's utime + stime in seconds (/proc/PID/stat)
sub proc_cpu {
    my ($pid) = @_;
    open my $f, '<', "/proc/$pid/stat" or die "/proc/$pid/stat: $!";
    my $st = <$f>;
    close $f;
    $st =~ s/^.*\) //; # comm may hold spaces
    my @a = split ' ', $st;
    return ($a[11] + $a[12]) / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}

# { runtime, rundelay } in seconds, summed over the threads whose name matches RE
# (/proc/PID/task/TID/schedstat: ns on CPU, ns runnable but waiting for one)
sub sched {
    my ($pid, $re) = @_;
    my %t = (runtime => 0, rundelay => 0);
    for my $task (glob "/proc/$pid/task/*") {
        open my $c, '<', "$task/comm" or next;
        my $comm = <$c> // '';
        chomp $comm;
        next unless $comm =~ $re;
        open my $f, '<', "$task/schedstat" or next;
        my ($run, $delay) = split ' ', <$f> // '';
        $t{runtime} += $run / 1e9;
        $t{rundelay} += $delay / 1e9;
    }
    return \%t;
}

# --- reading profiles ---------------------------------------------------------------------

# `go tool pprof -raw` of FILE: { types => ['delay/nanoseconds', ...], period, time (epoch s),
#   duration (s),
#   samples => [ { v => [values], stack => [ [functions of a location, inlined first], ... ]
#   leaf first } ] }
sub pprof_raw {
    my ($file) = @_;
    my $out = `go tool pprof -raw -symbolize=none '$file' 2>&1`;
    die "go tool pprof -raw $file: $out" if $? != 0;
    my (%loc, %locmap, %map, @samples, @types, $period, $time, $duration, $sec);
    my $cur;
    for my $l (split /\n/, $out) {
        if ($l =~ /^(Samples|Locations|Mappings):?\s*$/) { $sec = $1; next }
        if (!defined $sec) {
            $period = $1 if $l =~ /^Period: (\d+)/;
            $time = Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1) + "0$7"
                if $l =~ /^Time: (\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)(\.\d+)? \+0000/;
            $duration = $1 if $l =~ /^Duration: ([\d.]+)/;
            next;
        }
        if ($sec eq 'Samples') {
            if (!@types) { @types = map { s/\[dflt\]$//r } split ' ', $l; next }
            push @samples, { v => [split ' ', $1], ids => [split ' ', $2] } if $l =~ /^\s*(-?\d+(?:\s+-?\d+)*):((?:\s+\d+)*)\s*$/;
        } elsif ($sec eq 'Locations') {
            if ($l =~ /^\s*(\d+): 0x[0-9a-f]+(?: M=(\d+))?\s*(\S*)/) {
                $cur = $loc{$1} = $3 eq '' ? [] : [$3];
                $locmap{$1} = $2 // 0;
            }
            elsif ($l =~ /^\s{8,}(\S+)/ && $cur) { push @$cur, $1 }
        } elsif ($sec eq 'Mappings') {
            $map{$1} = $2 if $l =~ m{^(\d+): \S+ (?:\S*/)?(\S+)};
        }
    }
    # a location without a function is named by its mapping, as perf names such code: [libz.so.1]
    # and code in the [vdso] by that name alone (perf knows no symbols of it)
    for my $id (keys %loc) {
        my $m = $map{ $locmap{$id} } // 'unknown';
        @{ $loc{$id} } = ($m =~ /^\[/ ? $m : "[$m]") if !@{ $loc{$id} } || $m eq '[vdso]';
    }
    for my $s (@samples) { $s->{stack} = [map { $loc{$_} || ['?'] } @{ delete $s->{ids} }] }
    return { types => \@types, period => $period, time => $time, duration => $duration, samples => \@samples };
}

sub type_index {
    my ($p, $type) = @_;
    for my $i (0 .. $#{ $p->{types} }) { return $i if $p->{types}[$i] =~ /^\Q$type\E\// }
    die "no sample type $type in (@{ $p->{types} })\n";
}

# the sum of TYPE over the samples with a frame (any function, inlined ones too) matching RE
sub sum_under {
    my ($p, $type, $re) = @_;
    my $i = type_index($p, $type);
    my $sum = 0;
    for my $s (@{ $p->{samples} }) {
        $sum += $s->{v}[$i] if grep { grep { /$re/ } @$_ } @{ $s->{stack} };
    }
    return $sum;
}

sub sum_all {
    my ($p, $type) = @_;
    my $i = type_index($p, $type);
    my $sum = 0;
    $sum += $_->{v}[$i] for @{ $p->{samples} };
    return $sum;
}

# each sample's share (fraction) of TYPE, summed by KEY(sample)
sub shares_by {
    my ($p, $type, $key) = @_;
    my $i = type_index($p, $type);
    my (%by, $tot);
    for my $s (@{ $p->{samples} }) {
        $by{ $key->($s) } += $s->{v}[$i];
        $tot += $s->{v}[$i];
    }
    $_ /= ($tot || 1) for values %by;
    return \%by;
}

# each thread group's share of TYPE, by the stack's outermost frames: the workers' loop
# (worker_main), the HTTP threads' (loop_main), else other
sub group_shares {
    my ($p, $type) = @_;
    return shares_by($p, $type, sub {
        my @fns = map { @$_ } @{ $_[0]{stack} };
        return (grep { $_ eq 'worker_main' } @fns) ? 'worker' : (grep { $_ eq 'loop_main' } @fns) ? 'http' : 'other';
    });
}

# perf's and pprof's names for one function: no compiler suffixes (.constprop.0, .isra.0, ...)
# and no glibc-internal prefixes (__GI___clock_nanosleep is clock_nanosleep, as perf names it)
sub fn_name {
    my $n = shift;
    $n =~ s/\.(constprop|isra|part|cold|lto_priv)\b.*$//;
    $n =~ s/\@.*$//;
    $n =~ s/^__GI_//;
    $n =~ s/^_+(?=[a-z])//;
    return $n;
}

# each function's self share (fraction) of TYPE: the leaf location's own function (its last
# line: the code the pc is in, inlined callees aside, as perf names it)
sub self_shares {
    my ($p, $type) = @_;
    return shares_by($p, $type, sub { fn_name(($_[0]{stack}[0] || ['(none)'])->[-1]) });
}

# perf's self shares of FILE (perf.data), per function and per thread group (worker, http,
# other, by the thread's name): per sample, the first user-space frame is the leaf
# (kernel frames skipped: the profilers attribute kernel time to the syscall's user-space
# site).  The profiler's own work is left out, which no profile shows of itself: samples of
# its threads (named "profiler..."), and samples taken inside a profiler's signal handler (a
# frame in libprofiler or libunwind, under the signal trampoline __restore_rt, or a leaf in
# the signal-mask calls).  Returns
# (shares, the fraction left out, the samples counted, group shares, the workers' samples,
# those of them under od_stage_price).
sub perf_shares {
    my ($file) = @_;
    open my $f, '-|', "perf script -i '$file' -F comm,tid,ip,sym,dso 2>/dev/null" or die "perf script: $!";
    my (%by, %group, $n, $own, $comm, @frames, $wk, $wk_price);
    my $flush = sub {
        return unless defined $comm;
        my ($leaf) = grep { $_->[1] !~ /kernel\.kallsyms|^\[kernel|\.ko\b/ } @frames;
        my $lname = fn_name($leaf ? $leaf->[0] : '[kernel]');
        # the profiler's handler: libprofiler, libunwind, the signal trampoline, or (its chain
        # cut short) the signal-mask calls it makes, which orderd's threads never make serving
        my $handler = grep { $_->[1] =~ /libprofiler|libunwind/ || $_->[0] eq '__restore_rt' } @frames
                    or $lname =~ /^(pthread_sigmask|sigprocmask)$/;
        if ($comm =~ /^worker-/) {
            # pricing: under od_stage_price, in its loop's leaf (sampled before its frame is
            # set up), or in a profiler's handler interrupting it (a CPU-time timer counts
            # that time too, so the profile's next sample there stands for it)
            $wk++;
            $wk_price++ if $handler || $lname eq 'price_fraud_score' || grep { $_->[0] eq 'od_stage_price' } @frames;
        }
        if ($comm =~ /^prof/ || $handler) { $own++ }
        else {
            $by{$lname}++;
            $group{ $comm =~ /^worker-/ ? 'worker' : $comm =~ /^http-/ ? 'http' : 'other' }++;
            $n++;
        }
        @frames = ();
        undef $comm;
    };
    while (my $l = <$f>) {
        if ($l =~ /^\s+[0-9a-f]+ (.*?) \((.*)\)\s*$/) {
            my ($sym, $dso) = ($1, $2);
            $sym =~ s/\+0x[0-9a-f]+$//;
            $sym = "[$1]" if ($sym eq '[unknown]' || $dso eq '[vdso]') && $dso =~ m{([^/\[\]]+)\]?$};
            push @frames, [$sym, $dso];
        } elsif ($l =~ /^(\S.*?)\s+\d+\s*$/ || $l =~ /^()\s*$/) { # "comm tid", or the blank line after a sample
            my $c = $1;
            $flush->();
            $comm = $c if $c ne '';
        }
    }
    $flush->();
    close $f;
    $_ /= ($n || 1) for values %by, values %group;
    return (\%by, ($own || 0) / (($n || 0) + ($own || 0) || 1), $n || 0, \%group, $wk || 0, $wk_price || 0);
}

sub trace_events {
    my ($file) = @_;
    open my $f, '<', $file or die "$file: $!";
    local $/;
    my $j = JSON::PP->new->decode(<$f>);
    return @{ $j->{traceEvents} };
}

1;
