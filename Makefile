# libstackless -- see README.md. `make demo` and `make check` are the two
# commands a new user runs.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
CXX     ?= c++
CARGO   ?= cargo
DOXYGEN ?= doxygen

VERSION   := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
# Cargo's build directory: CARGO_TARGET_DIR when set, as cargo does.
RELEASE   := $(or $(CARGO_TARGET_DIR),target)/release
BUILD     := build
CFLAGS_TEST := -std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude -Ic_tests -pthread
LDLIBS_SO := -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lstackless -pthread
LDLIBS_A  := $(RELEASE)/libstackless.a -pthread -ldl -lm

C_TESTS   := $(sort $(wildcard c_tests/test_*.c))
EXAMPLES  := $(sort $(wildcard examples/*.c))

.PHONY: all header demo check check-valgrind check-asan check-tsan stress bench docs install uninstall clean

all: header

# Release libraries; the header cbindgen generated into OUT_DIR is copied to
# include/ (the newest one, should several build directories exist).
header:
	$(CARGO) build --release --quiet
	@ln -sf libstackless.so $(RELEASE)/libstackless.so.0
	@cp "$$(ls -t $(RELEASE)/build/stackless-*/out/stackless.h | head -1)" include/stackless.h

demo: all
	@mkdir -p $(BUILD)/examples
	@set -e; for src in $(EXAMPLES); do \
	    exe=$(BUILD)/examples/$$(basename $$src .c); \
	    $(CC) -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude $$src -o $$exe $(LDLIBS_SO); \
	    echo "== $$exe"; $$exe; \
	done

check:
	@sh c_tests/check.sh

check-valgrind:
	@MODE=valgrind sh c_tests/check.sh

check-asan:
	@MODE=asan sh c_tests/check.sh

check-tsan:
	@MODE=tsan sh c_tests/check.sh

# The thread tests over and over: STRESS_RUNS, STRESS_JOBS, STRESS_BUSY=1 ...
# (c_tests/stress.sh says more).
stress:
	@sh c_tests/stress.sh

bench: all
	@sh bench/run.sh

# The HTML API reference (from the committed include/stackless.h) and the
# manual (docs/*.md), into build/docs/html; fails on any Doxygen warning.
docs:
	@command -v $(DOXYGEN) >/dev/null 2>&1 || { \
	    echo "make docs needs Doxygen, which is not installed: apt-get install doxygen" >&2; \
	    echo "(Debian, Ubuntu), dnf install doxygen (Fedora), brew install doxygen (macOS)," >&2; \
	    echo "or set DOXYGEN=/path/to/doxygen" >&2; exit 1; }
	@rm -rf $(BUILD)/docs && mkdir -p $(BUILD)/docs
	@STACKLESS_VERSION=$(VERSION) $(DOXYGEN) docs/Doxyfile 2>$(BUILD)/docs/doxygen.err; status=$$?; \
	if [ $$status -ne 0 ] || [ -s $(BUILD)/docs/warnings.log ] || [ -s $(BUILD)/docs/doxygen.err ]; then \
	    cat $(BUILD)/docs/warnings.log $(BUILD)/docs/doxygen.err >&2 2>/dev/null; \
	    echo "make docs: Doxygen warned (above); fix the page or header comment it names" >&2; \
	    exit 1; \
	fi
	@echo "API reference and manual: $(BUILD)/docs/html/index.html"

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/stackless.h $(DESTDIR)$(PREFIX)/include/stackless.h
	install -m 644 $(RELEASE)/libstackless.a $(DESTDIR)$(PREFIX)/lib/libstackless.a
	install -m 755 $(RELEASE)/libstackless.so $(DESTDIR)$(PREFIX)/lib/libstackless.so.$(VERSION)
	ln -sf libstackless.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libstackless.so.0
	ln -sf libstackless.so.0 $(DESTDIR)$(PREFIX)/lib/libstackless.so
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: stackless\nDescription: The Stackless-Python C-API as a standalone C runtime\nVersion: %s\nCflags: -I$${includedir}\nLibs: -L$${libdir} -lstackless\nLibs.private: -pthread -ldl -lm\n' \
	    '$(PREFIX)' '$(VERSION)' > $(DESTDIR)$(PREFIX)/lib/pkgconfig/stackless.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/stackless.h $(DESTDIR)$(PREFIX)/lib/libstackless.a \
	    $(DESTDIR)$(PREFIX)/lib/libstackless.so $(DESTDIR)$(PREFIX)/lib/libstackless.so.0 \
	    $(DESTDIR)$(PREFIX)/lib/libstackless.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/pkgconfig/stackless.pc

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
