#!/usr/bin/perl
# Fidelity (SPEC: Fidelity), memory: two workers record a known number of bytes per order,
# at two sampling periods (profiling.heap_sample_bytes 64 KiB with 128 KiB records, 300 kept
# of 900; 512 KiB with 2 MiB records, 50 kept of 200).  inuse_space/objects under
# od_stage_record against results_kept x record.alloc_bytes, alloc_space/objects against
# orders x record.alloc_bytes: within 10 %.  Records of 2 and 4 periods make each sample's
# unsampling weight matter (1.16 and 1.02) while the expected error stays near 2 %.
# Sanitizer builds have no tcmalloc, so no heap profile.  The logic: t/lib/Fidelity.pm.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Orderd;
use Fidelity;

plan skip_all => 'go (golang-go) is not installed' unless Fidelity::have_go();
plan skip_all => 'no heap profile in sanitizer builds (no tcmalloc)' if Orderd::sanitizer_build();
Fidelity::setup(tempdir('orderd-t82-XXXXXX', TMPDIR => 1, CLEANUP => 1));
Fidelity::check($_) for Fidelity::memory_all();
done_testing;
