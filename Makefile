# orderd — build, test and benchmark.
#
#   make            build build/orderd, build/orderload and the helper programs
#   make test       install what is missing, build, run every test under prove
#   make bench      run the benchmarks (ratios measured in one run)
#   make test-asan  the suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-tsan  the suite under ThreadSanitizer
#   make fuzz       run each libFuzzer target for a bounded time (FUZZ_SECONDS, default 60)
#   make soak       10 minutes of mixed load with captures every 30 s (SOAK_SECONDS); not in test
#
# Variant builds go to their own directory: build/ (default), build/asan/, build/tsan/,
# build/fuzz/ (clang, libFuzzer).
# Sanitizers replace malloc, as tcmalloc does, so those builds link without tcmalloc
# (OD_NO_TCMALLOC): the heap profile then answers that it is unavailable.

SAN ?=
ifeq ($(SAN),)
  B := build
else
  B := build/$(SAN)
endif

CC  ?= cc
CXX ?= c++
# The user's CFLAGS, CXXFLAGS, CPPFLAGS and LDFLAGS (command line or environment) come after
# ours, so that `make CFLAGS=-O0` changes the optimization and keeps the warnings, includes
# and sanitizers; without them, -g and -O2 (-O1 in the sanitizer builds).
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
        -Wno-missing-field-initializers
OD_CPPFLAGS := -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -Isrc $(shell pkg-config --cflags lua5.4 2>/dev/null)
OD_CFLAGS   := -std=gnu11 -fno-omit-frame-pointer -pthread
OD_CXXFLAGS := -std=gnu++17 -fno-omit-frame-pointer -pthread
LUA_LIBS    := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)

ifeq ($(SAN),asan)
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
  TCMALLOC :=
  OD_CPPFLAGS += -DOD_NO_TCMALLOC
  OPT := -O1
else ifeq ($(SAN),tsan)
  SANFLAGS := -fsanitize=thread
  TCMALLOC :=
  OD_CPPFLAGS += -DOD_NO_TCMALLOC
  OPT := -O1
else ifeq ($(SAN),fuzz)
  # libFuzzer targets (t/fuzz/): clang, every object instrumented for coverage, ASan + UBSan
  CC  := clang
  CXX := clang++
  SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
  TCMALLOC :=
  OD_CPPFLAGS += -DOD_NO_TCMALLOC
  OPT := -O1
else
  SANFLAGS :=
  TCMALLOC := -ltcmalloc
  OPT := -O2
endif

CFLAGS   ?= -g $(OPT)
CXXFLAGS ?= -g $(OPT)
ALL_CFLAGS   = $(OD_CPPFLAGS) $(OD_CFLAGS) $(WARN) $(SANFLAGS) $(CPPFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
ALL_CXXFLAGS = $(OD_CPPFLAGS) $(OD_CXXFLAGS) $(SANFLAGS) $(CPPFLAGS) $(CXXFLAGS)
ALL_LDFLAGS  = $(SANFLAGS) -rdynamic $(LDFLAGS)

# Libraries, per binary: each links what its objects call (h2o's own libraries, OpenSSL and
# wslay, come in through libh2o-evloop's).  tcmalloc replaces malloc in orderd alone: its heap
# profile needs it; orderload and the helper server measure with the C library's malloc.
ORDERD_LIBS    := -lh2o-evloop -lz $(LUA_LIBS) -lyaml -ljansson -ldw -lprofiler -lstdc++ -lm -ldl \
                  -lpthread $(TCMALLOC)
ORDERLOAD_LIBS := -lh2o-evloop $(LUA_LIBS) -lyaml -ljansson -lm -lpthread # h2o: picohttpparser
HELLO_LIBS     := -lh2o-evloop -lpthread
# Unit tests and fuzz targets link orderd's objects from an archive, so each takes only the
# objects it calls, and with --as-needed only the libraries those objects call.  tcmalloc
# stays in each (it defines malloc, so --as-needed always keeps it): the tests run on orderd's
# allocator, and prof/gc.c, capture.c and heap.c, which most tests pull in, call it.
TEST_LIBS      := -Wl,--as-needed $(ORDERD_LIBS) -Wl,--no-as-needed

# --- sources ----------------------------------------------------------------------------------
# orderd: everything under src/ but orderload's own src/load/ (see README's layout).
ORDERD_DIRS   := src src/base src/lua src/http src/pool src/prof src/schedule src/scenario
ORDERD_SRC    := $(sort $(foreach d,$(ORDERD_DIRS),$(wildcard $(d)/*.c)))
ORDERD_CXX    := $(sort $(foreach d,$(ORDERD_DIRS),$(wildcard $(d)/*.cc)))
# orderload: src/load/, the scenario loader, the Lua layer and the base modules it calls
# (not base/json.c: its JSON is jansson's).
ORDERLOAD_SRC := $(sort $(wildcard src/load/*.c src/scenario/*.c src/lua/*.c) \
                   $(addprefix src/base/,util.c hashmap.c hist.c log.c))

ORDERD_OBJ    := $(ORDERD_SRC:%.c=$(B)/obj/%.o) $(ORDERD_CXX:%.cc=$(B)/obj/%.o)
ORDERLOAD_OBJ := $(ORDERLOAD_SRC:%.c=$(B)/obj/%.o)
# Unit tests link every orderd object but main, through $(LIB_A).
LIB_OBJ       := $(filter-out $(B)/obj/src/main.o,$(ORDERD_OBJ))
LIB_A         := $(B)/liborderd.a

UNIT_SRC  := $(sort $(wildcard t/unit/*.c))
UNIT_BIN  := $(UNIT_SRC:t/unit/%.c=$(B)/t/%)
TOOLS     := $(B)/hello_h2o $(B)/echo_rtt

.PHONY: all test bench clean deps test-asan test-tsan fuzz fuzz-bin unit integration soak format format-check
all: $(B)/orderd $(B)/orderload $(TOOLS) $(UNIT_BIN)

deps:
	@./scripts/install-deps.sh

$(B)/orderd: $(ORDERD_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ORDERD_LIBS)

$(B)/orderload: $(ORDERLOAD_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ORDERLOAD_LIBS)

$(B)/hello_h2o: $(B)/obj/t/servers/hello_h2o.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(HELLO_LIBS)

$(B)/echo_rtt: $(B)/obj/t/servers/echo_rtt.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lpthread

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/t/%: $(B)/obj/t/unit/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(ALL_CXXFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# --- tests ------------------------------------------------------------------------------------
# Unit tests (C, TAP) first, then the integration tests (Perl, TAP) that start the real server.
PROVE ?= prove
test: deps
	@$(MAKE) --no-print-directory all
	ORDERD_BUILD=$(B) $(PROVE) $(PROVE_FLAGS) $(UNIT_BIN) t/*.t

unit: all
	ORDERD_BUILD=$(B) $(PROVE) $(UNIT_BIN)

# --- sanitizers, fuzzing, soak -------------------------------------------------------------
# The sanitizer suites run `make test` in build/asan or build/tsan with ORDERD_SAN set (tests
# skip only what cannot work there, e.g. tcmalloc's heap profile) and every sanitizer report
# written to $(B)/reports/ instead of stderr: a server's report would otherwise vanish into
# its log.  t/san/check-reports fails the run if any report was written, printing them.
# t/san/lsan.supp names the only leaks tolerated: h2o's objects still live at exit.
SAN_DIR     = $(CURDIR)/build/$(1)/reports
ASAN_ENV    = ORDERD_SAN=asan \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:check_initialization_order=1:log_path=$(call SAN_DIR,asan)/asan \
    LSAN_OPTIONS=suppressions=$(CURDIR)/t/san/lsan.supp:print_suppressions=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(call SAN_DIR,asan)/ubsan
TSAN_ENV    = ORDERD_SAN=tsan \
    TSAN_OPTIONS=second_deadlock_stack=1:halt_on_error=0:suppressions=$(CURDIR)/t/san/tsan.supp:log_path=$(call SAN_DIR,tsan)/tsan

test-asan: deps
	@rm -rf $(call SAN_DIR,asan) && mkdir -p $(call SAN_DIR,asan)
	@$(MAKE) --no-print-directory SAN=asan all
	@rc=0; $(MAKE) --no-print-directory SAN=asan test $(ASAN_ENV) || rc=$$?; \
	    ./t/san/check-reports $(call SAN_DIR,asan) || rc=1; exit $$rc

test-tsan: deps
	@rm -rf $(call SAN_DIR,tsan) && mkdir -p $(call SAN_DIR,tsan)
	@$(MAKE) --no-print-directory SAN=tsan all
	@rc=0; $(MAKE) --no-print-directory SAN=tsan test $(TSAN_ENV) || rc=$$?; \
	    ./t/san/check-reports $(call SAN_DIR,tsan) || rc=1; exit $$rc

# libFuzzer: `make fuzz` builds build/fuzz/TARGET for each t/fuzz/fuzz_TARGET.c (orderd's
# sources but main.c, compiled with clang) and runs each for FUZZ_SECONDS (t/fuzz/run.sh).
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(sort $(wildcard t/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:t/fuzz/fuzz_%.c=$(B)/%)

fuzz: deps
	@$(MAKE) --no-print-directory SAN=fuzz fuzz-bin
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./t/fuzz/run.sh build/fuzz

fuzz-bin: $(FUZZ_BIN)

$(FUZZ_BIN): $(B)/%: $(B)/obj/t/fuzz/fuzz_%.o $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(TEST_LIBS)

# soak: SOAK_SECONDS (default 600) of mixed load with a capture every 30 s; not part of test
SOAK_SECONDS ?= 600
soak: deps all
	SOAK_SECONDS=$(SOAK_SECONDS) ./scripts/soak.sh

bench: deps all
	@./scripts/bench/run.sh $(B)

FORMAT_SRC = $(wildcard src/*.[ch] src/*/*.[ch] src/*/*.cc t/unit/*.c t/fuzz/*.c t/servers/*.c)

# format: apply .clang-format; format-check: fail, naming the places, where it would change
format:
	clang-format -i $(FORMAT_SRC)

format-check: deps
	clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build
