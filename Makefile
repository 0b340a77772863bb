# keymgmt — build, run and test.
#
#   make            build build/keymgmtd and build/keymgmtctl
#   make run        install what is missing, build, run the local stack in the foreground
#   make up / down  the same in the background / stop it
#   make test       install what is missing, build, run unit and integration tests
#   make unit       C unit tests only          make integration   pytest suite only
#   make asan       whole suite under ASan/UBSan   make valgrind  unit tests under valgrind
#   make fuzz       build and briefly run the libFuzzer targets
#   make bench      load benchmarks (wrk), printed as ratios against baselines

PKGS      := libpq jansson libcurl openssl
CC        ?= cc
OPT       ?= -O2 -g
SAN       ?=
BUILD     ?= build
SQLDIR    ?= $(CURDIR)/sql
VERSION   := 0.1.0
PYTHON    := /usr/bin/python3

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(SAN) -Wall -Wextra -Werror -Wshadow \
           -Wformat=2 -Wno-format-nonliteral -fno-strict-aliasing -Iinclude $(PKG_CFLAGS) \
           -DKEYMGMT_VERSION='"$(VERSION)"' -DKEYMGMT_SQL_DIR='"$(SQLDIR)"'
LDLIBS  += -lfcgi $(PKG_LIBS) -lm
LDFLAGS += $(SAN)

MAINS    := app/main.c app/ctl.c
LIB_SRCS := $(filter-out $(MAINS),$(sort $(wildcard app/*.c)))
LIB_OBJS := $(LIB_SRCS:app/%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Test tools: small programs linked with the library that tests drive (not part of the product).
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all tools deps run up down test unit integration asan valgrind fuzz bench format clean

all: $(BUILD)/keymgmtd $(BUILD)/keymgmtctl

$(BUILD)/obj/%.o: app/%.c $(wildcard include/keymgmt/*.h) | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libkeymgmt.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/keymgmtd: $(BUILD)/obj/main.o $(BUILD)/libkeymgmt.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/keymgmtctl: $(BUILD)/obj/ctl.o $(BUILD)/libkeymgmt.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(BUILD)/libkeymgmt.a | $(BUILD)/tests
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libkeymgmt.a $(LDFLAGS) $(LDLIBS) -lcmocka

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libkeymgmt.a | $(BUILD)/tools
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libkeymgmt.a $(LDFLAGS) $(LDLIBS)

tools: $(TOOL_BINS)

$(BUILD)/obj $(BUILD)/tests $(BUILD)/tools:
	mkdir -p $@

deps:
	deploy/install-deps.sh

run: deps all
	deploy/stack.sh run

up: deps all
	deploy/stack.sh up

down:
	deploy/stack.sh down

unit: $(UNIT_BINS) $(TOOL_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; KEYMGMT_TESTDATA=$(CURDIR)/../shared/testdata $$t; done
	KEYMGMT_BUILD=$(CURDIR)/$(BUILD) KEYMGMT_TESTDATA=$(CURDIR)/../shared/testdata \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests/unit

integration: all tools
	KEYMGMT_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration $(PYTEST_ARGS)

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) integration

asan:
	$(MAKE) BUILD=build-asan OPT='-O1 -g -fno-omit-frame-pointer' \
	    SAN='-fsanitize=address,undefined -fno-sanitize-recover=undefined' all unit integration

valgrind: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; \
	    KEYMGMT_TESTDATA=$(CURDIR)/../shared/testdata valgrind -q --error-exitcode=9 \
	    --leak-check=full $$t; done

fuzz:
	tests/fuzz/run.sh

bench: all
	tests/bench/run.sh

format:
	clang-format -i app/*.c include/keymgmt/*.h tests/unit/*.c tests/unit/*.h

clean:
	rm -rf build build-asan build-fuzz
