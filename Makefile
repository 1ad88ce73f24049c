# Coffer build. `make` builds ./coffer; `make check` installs what is missing,
# builds, and runs every test; `make demo` shows Coffer on a throwaway server.
# Sources are found by wildcard: a new .c under src/ or test/unit/ needs no edit here.

CC        ?= cc
PKGS      := libpq libzstd libcrypto jansson yaml-0.1 libcurl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -Werror
CFLAGS    ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -pthread -Isrc $(PKG_CFLAGS)
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer
LDLIBS     = $(PKG_LIBS) -lpthread -lm

LIB_SRC   := $(shell find src -name '*.c' ! -path src/main.c | sort)
LIB_OBJ   := $(LIB_SRC:%.c=build/obj/%.o)
ASAN_OBJ  := $(LIB_SRC:%.c=build/asan/%.o)
UNIT_SRC  := $(sort $(wildcard test/unit/test_*.c))
UNIT_BIN  := $(UNIT_SRC:test/unit/%.c=build/asan/test/%)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=build/bench/%)
HEADERS   := $(shell find src test/unit -name '*.h')

.PHONY: all deps check unit integration check-long demo bench format lint clean

all: coffer

coffer: build/obj/src/main.o build/obj/libcoffer.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

build/obj/libcoffer.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/asan/libcoffer.a: $(ASAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/asan/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -c -o $@ $<

build/asan/test/%: test/unit/%.c build/asan/libcoffer.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -Itest/unit -o $@ $< build/asan/libcoffer.a $(LDLIBS)

build/bench/%: bench/%.c build/obj/libcoffer.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< build/obj/libcoffer.a $(LDLIBS)

deps:
	@scripts/install-deps.sh

# Every test: unit tests (built with sanitizers) and integration tests
# against a real PostgreSQL that the harness starts and stops itself.
check: deps
	@$(MAKE) --no-print-directory coffer build/bench/repo_tool build/bench/archive_tool $(UNIT_BIN)
	@prove -e bash test/run-unit.t test/integration/*.t

unit: deps
	@$(MAKE) --no-print-directory $(UNIT_BIN)
	@prove -e bash test/run-unit.t

integration: deps
	@$(MAKE) --no-print-directory coffer build/bench/repo_tool build/bench/archive_tool
	@prove -e bash test/integration/*.t

check-long: deps
	@$(MAKE) --no-print-directory coffer build/bench/repo_tool build/bench/archive_tool $(UNIT_BIN)
	@COFFER_LONG=1 prove -e bash test/run-unit.t test/integration/*.t test/long/*.t

demo: deps
	@$(MAKE) --no-print-directory coffer
	@scripts/demo.sh

bench: deps
	@BENCH=1 scripts/install-deps.sh
	@$(MAKE) --no-print-directory coffer $(BENCH_BIN)
	@bench/run.sh

format:
	clang-format -i $$(find src test/unit bench -name '*.[ch]')

lint:
	clang-tidy $(LIB_SRC) src/main.c -- -std=c11 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS)
	cppcheck --quiet --enable=warning,performance,portability --std=c11 -Isrc \
	    --suppress=missingIncludeSystem -D'json_array_foreach(a,i,v)=for(i=0;i<1;i++)' \
	    -D'json_object_foreach(o,k,v)=for(k=0;k;)' src

clean:
	rm -rf build coffer
