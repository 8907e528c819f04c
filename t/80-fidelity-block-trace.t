#!/usr/bin/perl
# Fidelity (SPEC: Fidelity), block and trace: eight workers whose only planted work is the
# payment wait (priority x 40 ms + 10 ms), 60 orders inside a trace window.  The block
# profile's delay and count under od_stage_pay against the planted waits (3 %); the trace's
# spans per stage against the orders (one each), and the spans (with the worker's lock waits
# before the first stage) and flows of every order against GET /orders/{id}'s processing_ms
# and queue_ms (1 % over all orders; no order's spans beyond its processing_ms; the median
# order within 0.25 ms).  Each test name reads measured / truth.  The logic:
# t/lib/Fidelity.pm (shared with scripts/bench/fidelity.sh).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Fidelity;

plan skip_all => 'go (golang-go) is not installed' unless Fidelity::have_go();
Fidelity::setup(tempdir('orderd-t80-XXXXXX', TMPDIR => 1, CLEANUP => 1));
Fidelity::check($_) for Fidelity::block_and_trace();
done_testing;
