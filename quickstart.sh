#!/bin/sh
# sluice quick start. On a fresh Debian 12 machine:
#   ./quickstart.sh serve [sluice flags…]   install what is missing, build, run on 127.0.0.1:8080 (./data)
#   ./quickstart.sh test                    install what is missing, build, run every test, then again
#                                           under AddressSanitizer + UndefinedBehaviorSanitizer
set -eu
cd "$(dirname "$0")"
cmd=${1:-}
[ $# -gt 0 ] && shift

PKGS="build-essential cmake pkg-config libmicrohttpd-dev libuv1-dev zlib1g-dev libssl-dev libgnutls28-dev check curl python3 strace clang-format clang libclang-rt-14-dev libcurl4-openssl-dev"
PKGS_TEST="chromium ceph-mon ceph-osd radosgw ceph-common haproxy" # the browser tests; the S3 tests' own Ceph cluster and their load balancer

install_deps() { # install_deps [more packages]
    missing=""
    for p in $PKGS "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "quickstart: installing$missing" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
}

need_node() { # Node.js and npm: the upload page is bundled at build time (ui/, npm ci by CMake)
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "quickstart: installing nodejs npm" >&2
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
    fi
}

node_deps() { # the npm packages the tests drive: tus-js-client (tests/integration/tus) and
              # playwright-core (tests/browser, with Debian's chromium from PKGS_TEST)
    need_node
    npm ci --prefix tests/integration/tus --no-audit --no-fund --loglevel=error >/dev/null
    npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error >/dev/null
}

# The tests run three at a time: most of their time is spent waiting on a server, a socket or a
# child process; the Ceph tests hold one lock and the slow-upload memory tests run alone
# (tests/CMakeLists.txt). On two cores this took the test command from ~20 to 12 minutes.
JOBS=$(($(nproc) + 1))

build() { # build DIR [cmake args…]
    dir=$1; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)"
}

case "$cmd" in
serve)
    install_deps
    need_node
    build build -DSLUICE_TESTS=OFF
    mkdir -p data
    exec ./build/sluice --listen 127.0.0.1:8080 --root ./data "$@"
    ;;
test)
    install_deps $PKGS_TEST
    node_deps
    echo "== format check" >&2
    clang-format --dry-run --Werror server/*/*.[ch] streams/*.[ch] storage/*.[ch] tools/bench/*.[ch] \
        examples/*.c tests/*/*.[ch]
    echo "== build and test" >&2
    build build -DSLUICE_WERROR=ON
    (cd build && ctest -j"$JOBS" --output-on-failure --timeout 900)
    echo "== install libsluice, build the examples against it (pkg-config, find_package; shared, static)" >&2
    rm -rf build/inst build/embed-cmake build/embed-cmake-static
    cmake --install build --prefix "$PWD/build/inst" >/dev/null
    pc="$PWD/build/inst/lib/pkgconfig"
    for ex in embed embed_mhd; do
        cc -Wall -Wextra -Werror examples/$ex.c -o build/$ex-pkgconfig -Wl,-rpath,"$PWD/build/inst/lib" \
            $(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs sluice libmicrohttpd)
        cc -Wall -Wextra -Werror examples/$ex.c -o build/$ex-pkgconfig-static \
            $(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs sluice-static libmicrohttpd)
    done
    cmake -S examples -B build/embed-cmake -DCMAKE_PREFIX_PATH="$PWD/build/inst" >/dev/null
    cmake --build build/embed-cmake >/dev/null
    cmake -S examples -B build/embed-cmake-static -DCMAKE_PREFIX_PATH="$PWD/build/inst" -DSLUICE_STATIC=ON >/dev/null
    cmake --build build/embed-cmake-static >/dev/null
    for b in build/embed-pkgconfig-static build/embed-cmake-static/embed; do # no libsluice.so needed
        if readelf -d "$b" | grep -q 'NEEDED.*libsluice'; then echo "$b needs libsluice.so" >&2; exit 1; fi
    done
    bins() { # bins NAME: the example NAME built the four ways
        echo "$PWD/build/$1-pkgconfig:$PWD/build/$1-pkgconfig-static:$PWD/build/embed-cmake/$1:$PWD/build/embed-cmake-static/$1"
    }
    SLUICE_EMBED_BINS="$(bins embed)" SLUICE_EMBED_MHD_BINS="$(bins embed_mhd)" \
        SLUICE_LIB="$PWD/build/inst/lib/libsluice.so" python3 tests/integration/test_embed.py
    echo "== build and test under AddressSanitizer + UndefinedBehaviorSanitizer" >&2
    build build-asan -DSLUICE_SANITIZE=ON -DSLUICE_WERROR=ON -DCMAKE_BUILD_TYPE=Debug
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest -j"$JOBS" --output-on-failure --timeout 900)
    fuzz() { # fuzz NAME SECONDS SOURCES…: a libFuzzer target with ASan+UBSan, seeded from tests/fuzz
        name=$1 secs=$2; shift 2
        echo "== fuzz $name for $secs s (libFuzzer, ASan, UBSan)" >&2
        clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Iserver -Iserver/api -Ibuild/include \
            $(pkg-config --cflags libmicrohttpd libuv) "$@" -o "build/fuzz_$name"
        rm -rf "build/fuzz-corpus-$name" && mkdir -p "build/fuzz-corpus-$name"
        if ! "./build/fuzz_$name" -max_total_time="$secs" -print_final_stats=1 \
            "build/fuzz-corpus-$name" "tests/fuzz/corpus_$name" > "build/fuzz_$name.log" 2>&1; then
            cat "build/fuzz_$name.log" >&2
            echo "== the fuzzer found a failure (input saved as ./crash-*)" >&2
            exit 1
        fi
        tail -n 8 "build/fuzz_$name.log"
    }
    fuzz multipart 45 tests/fuzz/fuzz_multipart.c streams/multipart.c
    fuzz cond 30 tests/fuzz/fuzz_cond.c server/http/cond.c
    fuzz auth 20 tests/fuzz/fuzz_auth.c server/http/tokens.c server/http/sign.c storage/paths.c -lcrypto
    fuzz fields 20 tests/fuzz/fuzz_fields.c server/proto/tus_fields.c server/proto/digests.c \
        storage/paths.c storage/tus.c build/libsluice_server.a build/libsluice_storage.a \
        build/libsluice_streams.a $(pkg-config --libs libmicrohttpd libuv zlib libcrypto gnutls libcurl)
    fuzz config 20 tests/fuzz/fuzz_config.c server/ops/config_file.c server/ops/config.c \
        server/ops/config_options.c build/libsluice_server.a build/libsluice_storage.a \
        build/libsluice_streams.a $(pkg-config --libs libmicrohttpd libuv zlib libcrypto gnutls libcurl)
    fuzz hook 10 tests/fuzz/fuzz_hook.c build/libsluice_server.a build/libsluice_storage.a \
        build/libsluice_streams.a $(pkg-config --libs libmicrohttpd libuv zlib libcrypto gnutls libcurl)
    echo "== all tests passed" >&2
    ;;
*)
    echo "usage: $0 serve [sluice flags…] | test" >&2
    exit 2
    ;;
esac
